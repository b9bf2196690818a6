//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the state machine behind the HTTP API
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// Everything the simulator remembers, changed only through the `mutating` methods below.
///
/// It lives in one `Mutex` in ``ThingSpaceSimulator``. Methods never block or await: the
/// caller takes a decision out of the lock (a ``PushPlan``, a page, an error) and performs
/// any I/O after releasing it. Time is the simulator's clock — the wall clock plus
/// ``clockOffset`` — passed in as `now`, so token lifetime and session idleness can be
/// jumped over by ``advanceClock(by:)``.
struct SimulatorState: Sendable {
    struct Settings: Sendable {
        var pageSize: Int
        var finalPageMode: SimulatorConfig.FinalPageMode
        var sessionIdleTimeout: TimeInterval
        var tokenLifetime: TimeInterval
        var pushAttempts: Int
        var lockoutThreshold: Int
        var timestampOffset: Int
        var emptyListenerList: SimulatorConfig.EmptyListenerList
    }

    struct Bearer: Sendable {
        var client: String
        var expiresAt: Date
    }

    struct UserRecord: Sendable {
        var password: String
        var consecutiveFailures = 0
        var isLocked = false
    }

    struct Session: Sendable {
        var username: String
        var lastUsed: Date
        var isExpired = false
    }

    /// The served-but-unacknowledged 202 page of an account: acknowledged when a request
    /// carries its token as `next`.
    struct OpenPage: Sendable {
        var token: String
        var entryIDs: [UInt64]
    }

    struct AccountState: Sendable {
        var devices: [[DeviceID]]
        var nextDevice = 0
        var queue = MessageQueue()
        var listeners: [String: CallbackListener] = [:]
        /// Only the latest 202 page's token acknowledges; any other token is stale.
        var openPage: OpenPage?
        /// Strict final-page mode: the last 200 page, removed by the account's next history call.
        var pendingFinal: [UInt64] = []
        /// The session that was served `pendingFinal` (nil without a session header), and the texts.
        var pendingFinalSession: String?
        var pendingFinalTexts: [String] = []
        /// Texts of final-page messages removed by a call from another session (strict mode).
        var takenByAnotherSession: [String] = []
        var stats = AccountStats()
    }

    /// Where and how to POST a callback, copied out of the lock.
    struct ListenerTarget: Sendable {
        var url: String
        var username: String
        var password: String
    }

    /// What one push attempt should do.
    enum PushPlan: Sendable {
        /// No `EnhancedConnectivityService` listener: straight to the queue.
        case noListener
        /// An injected callback failure: do not call, count as failed.
        case injectedFailure
        /// POST to the listener; with `treatAsTimeout` the answer is ignored and the attempt fails.
        case post(ListenerTarget, treatAsTimeout: Bool)
    }

    /// Why a request was refused before reaching its handler.
    enum Denial: Error, Sendable {
        /// 401 with a WSO2 fault body.
        case fault(GatewayFaultBody)
        /// 400 with an error envelope.
        case envelope(ErrorEnvelope)
    }

    let settings: Settings
    private(set) var clockOffset: TimeInterval = 0
    private let clients: [String: String]
    private var bearers: [String: Bearer] = [:]
    private var bearerByClient: [String: String] = [:]
    private var users: [String: UserRecord]
    private var sessions: [String: Session] = [:]
    private var accounts: [String: AccountState]
    private(set) var faults = FaultState()
    private var logins = 0
    private var loginFailures = 0
    private var tokensIssued = 0
    private var injectedHTTPErrors = 0
    private var mt: [MTRecord] = []
    /// History tokens are decimal numbers (one SDK types `next` as an int), unique per run.
    private var nextPageToken = UInt64.random(in: 1_000_000_000...1_999_999_999)
    private var jobsInFlight = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(config: SimulatorConfig) {
        settings = Settings(
            pageSize: max(1, config.pageSize),
            finalPageMode: config.finalPageMode,
            sessionIdleTimeout: config.sessionIdleTimeout.timeInterval,
            tokenLifetime: config.tokenLifetime.timeInterval,
            pushAttempts: max(1, config.pushAttempts),
            lockoutThreshold: max(1, config.lockoutThreshold),
            timestampOffset: Timestamp.offsetSeconds(parsing: config.timestampOffset) ?? 0,
            emptyListenerList: config.emptyListenerList
        )
        var clients: [String: String] = [:]
        for client in config.oauthClients { clients[client.key] = client.secret }
        self.clients = clients
        var users: [String: UserRecord] = [:]
        for user in config.users { users[user.username] = UserRecord(password: user.password) }
        self.users = users
        var accounts: [String: AccountState] = [:]
        for (index, account) in config.accounts.enumerated() {
            let devices = account.devices.isEmpty
                ? Self.generatedDevices(count: max(1, config.generatedDevices), accountIndex: index)
                : account.devices.map(\.ids)
            accounts[account.name] = AccountState(devices: devices)
        }
        self.accounts = accounts
    }

    /// Made-up devices for an account configured without any: an MDN, an ESN and an ICCID
    /// each, distinct across accounts.
    static func generatedDevices(count: Int, accountIndex: Int) -> [[DeviceID]] {
        func digits(_ value: Int, _ width: Int, radix: Int = 10) -> String {
            let text = String(value, radix: radix, uppercase: true)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return (0..<count).map { i in
            let serial = digits(accountIndex % 100, 2) + digits(i + 1, 7)
            return [
                DeviceID(kind: "mdn", id: "5\(serial)"),
                DeviceID(kind: "esn", id: "A" + digits((accountIndex << 20 | i) & 0xFFFFFFF, 7, radix: 16)),
                DeviceID(kind: "iccid", id: "89148000\(serial)000"),
            ]
        }
    }

    // MARK: - Clock

    func now(_ wall: Date = Date()) -> Date { wall.addingTimeInterval(clockOffset) }

    mutating func advanceClock(by seconds: TimeInterval) { clockOffset += seconds }

    func timestamp(_ date: Date) -> String { Timestamp.format(date, offsetSeconds: settings.timestampOffset) }

    // MARK: - OAuth

    /// Returns the client's current token, or issues a new one when it has none or it expired.
    /// - Returns: `nil` when the key or secret is wrong.
    mutating func token(clientKey: String, secret: String, now: Date) -> OAuthToken? {
        guard let expected = clients[clientKey], expected == secret else { return nil }
        if let current = bearerByClient[clientKey], let bearer = bearers[current], bearer.expiresAt > now {
            let remaining = Int(bearer.expiresAt.timeIntervalSince(now).rounded(.up))
            return OAuthToken(accessToken: current, expiresIn: remaining, scope: nil)
        }
        if let stale = bearerByClient[clientKey] { bearers[stale] = nil }
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        bearers[token] = Bearer(client: clientKey, expiresAt: now.addingTimeInterval(settings.tokenLifetime))
        bearerByClient[clientKey] = token
        tokensIssued += 1
        return OAuthToken(accessToken: token, expiresIn: Int(settings.tokenLifetime.rounded()), scope: nil)
    }

    /// Checks `Authorization: Bearer …`.
    func checkBearer(_ authorization: String?, now: Date) -> Denial? {
        guard let authorization, let token = Self.credential(authorization, scheme: "Bearer") else {
            return .fault(.missingCredentials)
        }
        guard let bearer = bearers[token], bearer.expiresAt > now else { return .fault(.invalidCredentials) }
        return nil
    }

    /// The credential after `scheme ` (case-insensitive scheme), trimmed.
    static func credential(_ header: String, scheme: String) -> String? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > scheme.count, trimmed.prefix(scheme.count).lowercased() == scheme.lowercased(),
              trimmed.dropFirst(scheme.count).first == " "
        else { return nil }
        let value = trimmed.dropFirst(scheme.count + 1).trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }

    // MARK: - Sessions

    /// Checks the bearer, then (unless it is a login) the session, then the account; a
    /// successful check refreshes the session's idle timer.
    mutating func authorize(bearer: String?, sessionToken: String?, requiresSession: Bool, account: String?, now: Date) -> Denial? {
        if let denial = checkBearer(bearer, now: now) { return denial }
        if requiresSession {
            guard let sessionToken, !sessionToken.isEmpty else {
                return .envelope(.simulator(ErrorCode.sessionTokenFormat, "VZ-M2M-Token header is missing"))
            }
            guard var session = sessions[sessionToken] else {
                return .envelope(.simulator(ErrorCode.sessionTokenInvalid, "the session token is not valid"))
            }
            if session.isExpired || now.timeIntervalSince(session.lastUsed) > settings.sessionIdleTimeout {
                session.isExpired = true
                sessions[sessionToken] = session
                return .envelope(.simulator(ErrorCode.sessionTokenExpired, "the session token has expired; log in again"))
            }
            session.lastUsed = now
            sessions[sessionToken] = session
        }
        if let account, accounts[account] == nil {
            return .envelope(.simulator(ErrorCode.accountNotFound, "account '\(account)' was not found"))
        }
        return nil
    }

    /// Opens a session, counting failures towards the lockout.
    mutating func login(_ request: LoginRequest, now: Date) -> Result<String, Denial> {
        guard var user = users[request.username] else {
            loginFailures += 1
            return .failure(.envelope(.simulator(ErrorCode.loginFailed, "login failed: wrong username or password")))
        }
        if user.isLocked {
            loginFailures += 1
            return .failure(.envelope(.simulator(ErrorCode.userLocked, "user '\(request.username)' is locked after \(settings.lockoutThreshold) failed logins")))
        }
        guard user.password == request.password else {
            user.consecutiveFailures += 1
            if user.consecutiveFailures >= settings.lockoutThreshold { user.isLocked = true }
            users[request.username] = user
            loginFailures += 1
            return .failure(.envelope(.simulator(ErrorCode.loginFailed, "login failed: wrong username or password")))
        }
        user.consecutiveFailures = 0
        users[request.username] = user
        let token = UUID().uuidString.lowercased()
        sessions[token] = Session(username: request.username, lastUsed: now)
        logins += 1
        return .success(token)
    }

    /// Ends a session (already authorized by ``authorize(bearer:sessionToken:requiresSession:account:now:)``).
    mutating func logout(_ token: String) { sessions[token] = nil }

    /// Unlocks a user and resets its failure count.
    /// - Returns: `false` for an unknown user.
    mutating func unlock(_ username: String) -> Bool {
        guard var user = users[username] else { return false }
        user.isLocked = false
        user.consecutiveFailures = 0
        users[username] = user
        return true
    }

    // MARK: - Callback listeners

    mutating func register(_ request: RegisterCallbackRequest, account: String) -> CallbackActionResult {
        accounts[account]?.listeners[request.name] = CallbackListener(
            accountName: account, serviceName: request.name, url: request.url,
            username: request.username, password: request.password
        )
        return CallbackActionResult(accountName: account, serviceName: request.name)
    }

    func listeners(account: String) -> [CallbackListener] {
        (accounts[account]?.listeners.values).map { $0.sorted { $0.serviceName < $1.serviceName } } ?? []
    }

    mutating func deregister(serviceName: String, account: String) -> CallbackActionResult? {
        guard accounts[account]?.listeners.removeValue(forKey: serviceName) != nil else { return nil }
        return CallbackActionResult(accountName: account, serviceName: serviceName)
    }

    func hasMOListener(account: String) -> Bool {
        accounts[account]?.listeners[CallbackServiceName.enhancedConnectivity] != nil
    }

    // MARK: - History

    /// A history page and, when more messages remain, the token for `Location`.
    struct HistoryAnswer: Sendable {
        var page: SMSHistoryPage
        var nextToken: String?
    }

    /// Serves `GET /sms/{account}/history[?next=]` with ack-by-next semantics.
    ///
    /// In order: a strict-mode final page left from the previous call is removed; a `next`
    /// equal to the open page's token removes that page (any other `next` is stale and
    /// removes nothing); then up to `pageSize` messages are served from the head. If more
    /// remain, they stay queued under a new token (202); otherwise this is the final page
    /// (200), removed now or, in strict mode, at the next call.
    /// - Parameter session: The caller's `VZ-M2M-Token`: a strict final page removed by a call
    ///   from another session is counted in ``AccountStats/finalPageTakenByAnotherSession``.
    mutating func history(account name: String, next: String?, session: String? = nil) -> HistoryAnswer {
        let settings = self.settings
        var nextPageToken = self.nextPageToken
        defer { self.nextPageToken = nextPageToken }
        let answer = withAccount(name) { account -> HistoryAnswer in
            Self.history(&account, next: next, session: session, settings: settings, nextPageToken: &nextPageToken)
        }
        return answer ?? HistoryAnswer(page: .init(messages: [], hasMoreData: false))
    }

    private static func history(_ account: inout AccountState, next: String?, session: String?, settings: Settings, nextPageToken: inout UInt64) -> HistoryAnswer {
        if !account.pendingFinal.isEmpty {
            let removed = account.queue.remove(account.pendingFinal)
            account.stats.acknowledged += removed
            if session != account.pendingFinalSession, removed > 0 {
                account.stats.finalPageTakenByAnotherSession += removed
                account.takenByAnotherSession += account.pendingFinalTexts
            }
            account.pendingFinal = []
            account.pendingFinalTexts = []
        }
        if let next, let open = account.openPage, open.token == next {
            account.stats.acknowledged += account.queue.remove(open.entryIDs)
        }
        account.openPage = nil
        let entries = account.queue.peek(settings.pageSize)
        account.stats.servedByHistory += entries.count
        let page = SMSHistoryPage(messages: entries.map(\.message.wire), hasMoreData: account.queue.count > entries.count)
        guard !page.hasMoreData else {
            let token = String(nextPageToken)
            nextPageToken += 1
            account.openPage = OpenPage(token: token, entryIDs: entries.map(\.id))
            return HistoryAnswer(page: page, nextToken: token)
        }
        switch settings.finalPageMode {
        case .removeOnDelivery:
            account.stats.acknowledged += account.queue.remove(entries.map(\.id))
        case .strict:
            account.pendingFinal = entries.map(\.id)
            account.pendingFinalSession = session
            account.pendingFinalTexts = entries.map(\.message.text)
        }
        return HistoryAnswer(page: page, nextToken: nil)
    }

    // MARK: - MO messages

    /// Creates the messages of a send request (counted as `sent`), in delivery order — the
    /// out-of-order fault has already been applied.
    mutating func makeMessages(_ request: MOSendRequest, now: Date) -> Result<[MOMessage], SimulatorError> {
        guard accounts[request.account] != nil else { return .failure(.unknownAccount(request.account)) }
        guard request.count >= 0, request.count <= 10_000_000 else {
            return .failure(.invalid("count must be between 0 and 10000000, found \(request.count)"))
        }
        if let ids = request.deviceIds, ids.isEmpty || ids.contains(where: { $0.id.isEmpty || $0.kind.isEmpty }) {
            return .failure(.invalid("deviceIds must be a non-empty list of {id, kind}"))
        }
        let timestamp = self.timestamp(now)
        var messages = withAccount(request.account) { account in
            Self.makeMessages(request, account: &account, timestamp: timestamp)
        } ?? []
        reorder(&messages)
        return .success(messages)
    }

    private static func makeMessages(_ request: MOSendRequest, account: inout AccountState, timestamp: String) -> [MOMessage] {
        let fixedSender: [DeviceID]? = request.deviceIds.map { given in
            account.devices.first { known in known.contains { given.contains($0) } } ?? given
        }
        var messages: [MOMessage] = []
        messages.reserveCapacity(request.count)
        for i in 0..<request.count {
            let sender: [DeviceID]
            if let fixedSender {
                sender = fixedSender
            } else {
                sender = account.devices[account.nextDevice % account.devices.count]
                account.nextDevice = (account.nextDevice + 1) % account.devices.count
            }
            messages.append(MOMessage(
                requestID: nil, deviceIDs: sender,
                text: request.count == 1 ? request.message : "\(request.message) #\(i + 1)", timestamp: timestamp
            ))
        }
        account.stats.sent += messages.count
        return messages
    }

    /// Runs `body` on an account in place.
    ///
    /// In place matters: copying an `AccountState` out of the dictionary and mutating its
    /// queue would copy the whole queue storage (copy-on-write), making every history page
    /// O(queue length).
    private mutating func withAccount<R>(_ name: String, _ body: (inout AccountState) -> R) -> R? {
        guard accounts[name] != nil else { return nil }
        return body(&accounts[name]!)
    }

    /// Applies the out-of-order fault to a batch: its first `k` messages are reversed.
    mutating func reorder(_ messages: inout [MOMessage]) {
        let k = faults.takeReorder(messages.count)
        if k > 1 { messages[0..<k].reverse() }
    }

    mutating func enqueue(_ messages: [MOMessage], account: String) {
        guard accounts[account] != nil else { return }
        for message in messages { accounts[account]!.queue.append(message) }
    }

    /// Decides one push attempt: the listener to call, or an injected fault.
    mutating func planPush(account: String, now: Date) -> PushPlan {
        guard let listener = accounts[account]?.listeners[CallbackServiceName.enhancedConnectivity] else { return .noListener }
        if FaultState.take(&faults.callbackFailure, now: now) { return .injectedFailure }
        let timeout = FaultState.take(&faults.callbackTimeout, now: now)
        return .post(
            ListenerTarget(url: listener.url, username: listener.username ?? "", password: listener.password ?? ""),
            treatAsTimeout: timeout
        )
    }

    /// A push attempt got a 2xx.
    /// - Returns: whether to push the same body once more (duplicate fault).
    mutating func pushSucceeded(account: String) -> Bool {
        accounts[account]?.stats.pushedOk += 1
        return faults.takeDuplicate()
    }

    mutating func pushFailed(account: String) { accounts[account]?.stats.pushFailed += 1 }

    func finalPageTakenByAnotherSession(account: String) -> [String] { accounts[account]?.takenByAnotherSession ?? [] }

    mutating func duplicatePushed(account: String) { accounts[account]?.stats.duplicatesPushed += 1 }

    /// Takes every queued message of an account for a `startCallbacks` flush (reordered by
    /// the out-of-order fault); their history tokens no longer acknowledge anything.
    mutating func takeQueueForFlush(account: String) -> Result<[MOMessage], SimulatorError> {
        guard accounts[account] != nil else { return .failure(.unknownAccount(account)) }
        guard hasMOListener(account: account) else { return .failure(.noListener(account)) }
        var messages = accounts[account]!.queue.removeAll()
        accounts[account]!.openPage = nil
        accounts[account]!.pendingFinal = []
        reorder(&messages)
        return .success(messages)
    }

    // MARK: - MT

    /// Accepts `POST /sms` after authorization.
    mutating func sendMT(_ request: SendSMSRequest, now: Date) -> Result<String, Denial> {
        guard accounts[request.accountName] != nil else {
            return .failure(.envelope(.simulator(ErrorCode.accountNotFound, "account '\(request.accountName)' was not found")))
        }
        if request.smsMessage.isEmpty { return .failure(.envelope(.simulator(ErrorCode.smsNull, "smsMessage is empty"))) }
        if request.smsMessage.count > 160 {
            return .failure(.envelope(.simulator(ErrorCode.smsTooLong, "smsMessage has \(request.smsMessage.count) characters; at most 160 are allowed")))
        }
        if (request.deviceIds ?? []).isEmpty, request.groupName == nil, request.servicePlan == nil {
            return .failure(.envelope(.simulator(ErrorCode.devicesMissing, "deviceIds, groupName or servicePlan is required")))
        }
        let id = UUID().uuidString.lowercased()
        mt.append(MTRecord(requestId: id, request: request, receivedAt: timestamp(now)))
        return .success(id)
    }

    var mtMessages: [MTRecord] { mt }

    // MARK: - Faults

    mutating func inject(_ fault: SimulatorFault, now: Date) {
        func budget(_ span: FaultSpan) -> FaultState.Budget {
            switch span {
            case .next(let n): return .count(n)
            case .duration(let d): return .until(now.addingTimeInterval(d.timeInterval))
            }
        }
        switch fault {
        case .callbackFailure(let span): faults.callbackFailure = budget(span)
        case .callbackTimeout(let span): faults.callbackTimeout = budget(span)
        case .duplicatePushes(let n): faults.duplicatePushes = max(0, n)
        case .outOfOrder(let n): faults.outOfOrder = max(0, n)
        case .httpError(let status, let prefix, let n):
            if n > 0 { faults.httpErrors.append(.init(status: status, pathPrefix: prefix, remaining: n)) }
        case .expireBearerTokens:
            bearers = [:]
            bearerByClient = [:]
        case .expireSessions:
            for key in sessions.keys { sessions[key]!.isExpired = true }
        }
    }

    mutating func clearFaults() { faults = FaultState() }

    mutating func takeHTTPError(path: String) -> Int? {
        guard let status = faults.takeHTTPError(path: path) else { return nil }
        injectedHTTPErrors += 1
        return status
    }

    // MARK: - Stats

    var stats: SimulatorStats {
        SimulatorStats(
            accounts: accounts.mapValues { account in
                var stats = account.stats
                stats.queued = account.queue.count
                return stats
            },
            logins: logins, loginFailures: loginFailures, tokensIssued: tokensIssued, mtSent: mt.count,
            injectedHTTPErrors: injectedHTTPErrors
        )
    }

    func devices(account: String) -> [[DeviceID]]? { accounts[account]?.devices }

    // MARK: - Background jobs

    mutating func jobStarted() { jobsInFlight += 1 }

    /// - Returns: the waiters to resume (outside the lock) when this was the last job.
    mutating func jobFinished() -> [CheckedContinuation<Void, Never>] {
        jobsInFlight -= 1
        guard jobsInFlight == 0 else { return [] }
        defer { idleWaiters = [] }
        return idleWaiters
    }

    /// - Returns: `false` when already idle (the caller resumes the continuation itself).
    mutating func waitForIdle(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard jobsInFlight > 0 else { return false }
        idleWaiters.append(continuation)
        return true
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }
}
