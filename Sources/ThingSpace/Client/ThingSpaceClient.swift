//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace REST client (OAuth + M2M session)
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where ThingSpace is and who we are there.
public struct ThingSpaceClientConfig: Sendable {
    /// The REST root ending in `/api`: `https://thingspace.verizon.com/api` in production,
    /// the simulator's `http://127.0.0.1:PORT/api` in tests and the demo.
    public var baseURL: String
    /// OAuth client (ThingSpace "key" and "secret").
    public var appKey: String
    public var appSecret: String
    /// The UWS user for `session/login`.
    public var username: String
    public var password: String
    /// Per HTTP request. Default 30 s.
    public var requestTimeout: Duration
    /// Attempts per call on 429, 5xx, 408 and network errors. Default 5.
    public var maxAttempts: Int
    /// Backoff between those attempts: full jitter up to `min(cap, base × 2^n)`; `Retry-After` wins when longer. Defaults 500 ms, 30 s.
    public var backoffBase: Duration
    public var backoffCap: Duration
    /// After this many consecutive rejected logins (OAuth or session) the client stops logging in
    /// until restarted. Default 3: below ThingSpace's lockout, which needs Verizon support to undo after 5.
    public var maxConsecutiveLoginFailures: Int
    /// The wait after a rejected login before the next one is allowed, doubled for each further
    /// failure. Default 60 s.
    public var loginRetryDelay: Duration

    public init(
        baseURL: String, appKey: String, appSecret: String, username: String, password: String,
        requestTimeout: Duration = .seconds(30), maxAttempts: Int = 5,
        backoffBase: Duration = .milliseconds(500), backoffCap: Duration = .seconds(30),
        maxConsecutiveLoginFailures: Int = 3, loginRetryDelay: Duration = .seconds(60)
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.appKey = appKey
        self.appSecret = appSecret
        self.username = username
        self.password = password
        self.requestTimeout = requestTimeout
        self.maxAttempts = max(1, maxAttempts)
        self.backoffBase = backoffBase
        self.backoffCap = backoffCap
        self.maxConsecutiveLoginFailures = max(1, maxConsecutiveLoginFailures)
        self.loginRetryDelay = loginRetryDelay
    }
}

/// One page of `GET /sms/{account}/history`.
public struct HistoryPageResult: Sendable {
    public var page: SMSHistoryPage
    /// 202 (more to come) or 200 (last page).
    public var status: Int
    /// The `next` token from the `Location` header; sending it back acknowledges this page.
    public var nextToken: String?
}

/// What the client has seen of its credentials, for readiness and status.
public struct ThingSpaceClientHealth: Sendable, Equatable {
    public var consecutiveLoginFailures: Int
    /// Set when the client stopped logging in; an operator must fix the credentials and restart.
    public var stoppedReason: String?
    public var logins: Int
    public var bearerRefreshes: Int
}

/// A ThingSpace Connectivity Management client.
///
/// Keeps two independent credentials (thingspace-api.md §1.2–1.3) and refreshes each only on
/// its own error: the OAuth bearer (1 h) on a WSO2 `900901` 401, the M2M session (20 min idle)
/// on `SessionToken.Expired`/`Invalid`. Each refresh is followed by one retry of the call.
/// Rejected logins are never retried in a loop: each one blocks further logins for a growing
/// delay, and after ``ThingSpaceClientConfig/maxConsecutiveLoginFailures`` the client stops for
/// good. 429, 5xx and network errors are retried with backoff and jitter.
///
/// An actor because token refresh is ordered work with one owner: concurrent calls that find
/// the token missing share a single refresh.
public actor ThingSpaceClient {
    public nonisolated let config: ThingSpaceClientConfig
    private let http: HTTPClient
    private let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void
    private let clock = ContinuousClock()

    private var bearer: (token: String, expires: ContinuousClock.Instant)?
    private var session: String?
    private var bearerRefresh: Task<String, any Error>?
    private var sessionRefresh: Task<String, any Error>?
    private var consecutiveLoginFailures = 0
    private var loginBlockedUntil: ContinuousClock.Instant?
    private var stoppedReason: String?
    private var logins = 0
    private var bearerRefreshes = 0

    /// - Parameters:
    ///   - config: Where and who.
    ///   - httpClient: Shared connection pool. Default `HTTPClient.shared`.
    ///   - sleep: How to wait between retries (tests pass one that records instead of waiting).
    public init(
        config: ThingSpaceClientConfig, httpClient: HTTPClient = .shared, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.config = config
        self.http = httpClient
        self.logger = logger
        self.sleep = sleep
    }

    public var health: ThingSpaceClientHealth {
        ThingSpaceClientHealth(
            consecutiveLoginFailures: consecutiveLoginFailures, stoppedReason: stoppedReason,
            logins: logins, bearerRefreshes: bearerRefreshes
        )
    }

    // MARK: - API

    /// `GET /m2m/v1/sms/{account}/history[?next=token]`: one page of queued MO SMS.
    ///
    /// - Important: passing `next` acknowledges the page that token came with: ThingSpace
    ///   deletes it. Commit that page durably before calling with its token.
    public func historyPage(account: String, next: String? = nil) async throws(ThingSpaceError) -> HistoryPageResult {
        var path = "/m2m/v1/sms/\(Self.segment(account))/history"
        if let next, let encoded = next.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) {
            path += "?next=\(encoded)"
        }
        let response = try await call(.GET, path: path, body: nil)
        guard response.status == 200 || response.status == 202 else {
            throw Self.failure(response)
        }
        let page: SMSHistoryPage
        do {
            page = try SMSHistoryPage(json: response.body)
        } catch {
            throw .unexpectedResponse(status: response.status, message: "cannot read SMSHistoryPage: \(error)")
        }
        var token: String?
        if let location = response.headers.first(name: "Location") {
            token = Self.nextToken(fromLocation: location)
            if token == nil {
                throw .unexpectedResponse(status: response.status, message: "Location header without a next token: \(location)")
            }
        }
        if response.status == 202, token == nil {
            throw .unexpectedResponse(status: 202, message: "202 without a Location header: the next page cannot be requested")
        }
        return HistoryPageResult(page: page, status: response.status, nextToken: token)
    }

    /// `PUT /m2m/v1/sms/{account}/startCallbacks`: ThingSpace pushes the account's queue to the registered listener.
    public func startCallbacks(account: String) async throws(ThingSpaceError) {
        let response = try await call(.PUT, path: "/m2m/v1/sms/\(Self.segment(account))/startCallbacks", body: nil)
        guard response.status == 200 else { throw Self.failure(response) }
        let body: SuccessBody = try Self.decode(response)
        guard body.success else { throw .unexpectedResponse(status: 200, message: "startCallbacks answered success: false") }
    }

    /// `POST /m2m/v1/callbacks/{account}`: registers (or replaces) a callback listener.
    public func registerCallback(account: String, _ request: RegisterCallbackRequest) async throws(ThingSpaceError) -> CallbackActionResult {
        let response = try await call(.POST, path: "/m2m/v1/callbacks/\(Self.segment(account))", body: try Self.encode(request))
        guard response.status == 200 else { throw Self.failure(response) }
        return try Self.decode(response)
    }

    /// `GET /m2m/v1/callbacks/{account}`: the REST-registered listeners (an empty body means none).
    public func listCallbacks(account: String) async throws(ThingSpaceError) -> [CallbackListener] {
        let response = try await call(.GET, path: "/m2m/v1/callbacks/\(Self.segment(account))", body: nil)
        guard response.status == 200 else { throw Self.failure(response) }
        if response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [] }
        return try Self.decode(response)
    }

    /// `DELETE /m2m/v1/callbacks/{account}/name/{serviceName}`.
    public func deregisterCallback(account: String, serviceName: String) async throws(ThingSpaceError) -> CallbackActionResult {
        let response = try await call(.DELETE, path: "/m2m/v1/callbacks/\(Self.segment(account))/name/\(Self.segment(serviceName))", body: nil)
        guard response.status == 200 else { throw Self.failure(response) }
        return try Self.decode(response)
    }

    /// `POST /m2m/v1/sms`: sends an MT SMS; returns ThingSpace's request id.
    public func sendSMS(_ request: SendSMSRequest) async throws(ThingSpaceError) -> String {
        let response = try await call(.POST, path: "/m2m/v1/sms", body: try Self.encode(request))
        guard response.status == 200 else { throw Self.failure(response) }
        let body: RequestIDBody = try Self.decode(response)
        return body.requestId
    }

    /// `POST /m2m/v1/session/logout`, if a session is open. Errors are ignored: the session expires anyway.
    public func logout() async {
        guard let token = session, let bearer = bearer?.token else { return }
        session = nil
        var request = HTTPClientRequest(url: config.baseURL + "/m2m/v1/session/logout")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        request.headers.add(name: "VZ-M2M-Token", value: token)
        _ = try? await execute(request)
    }

    // MARK: - The call loop

    struct RawResponse: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Performs an M2M call with both credentials, refreshing each once on its own error and
    /// retrying 429/5xx/network failures with backoff.
    private func call(_ method: HTTPMethod, path: String, body: [UInt8]?) async throws(ThingSpaceError) -> RawResponse {
        var refreshedBearer = false
        var refreshedSession = false
        var attempt = 0
        while true {
            attempt += 1
            let response: RawResponse
            do {
                let bearer = try await bearerToken()
                let session = try await sessionToken()
                var request = HTTPClientRequest(url: config.baseURL + path)
                request.method = method
                request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
                request.headers.add(name: "VZ-M2M-Token", value: session)
                request.headers.add(name: "Accept", value: "application/json")
                if let body {
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                }
                response = try await execute(request)
            } catch let error where error.isRetriable && error.code != "login_suspended" && attempt < config.maxAttempts {
                try await backoff(attempt: attempt, retryAfter: nil, reason: error.description)
                continue
            }

            if response.status == 401, Self.faultCode(response) != nil, !refreshedBearer {
                // WSO2 900901/900902: the bearer expired or was revoked. Get a new one, retry once.
                logger.info("ThingSpace bearer rejected; requesting a new token", metadata: ["path": "\(path)"])
                bearer = nil
                refreshedBearer = true
                continue
            }
            if response.status == 400, let detail = Self.envelope(response)?.detail,
               detail.hasSuffix("SessionToken.Expired") || detail.hasSuffix("SessionToken.Invalid"), !refreshedSession {
                // The M2M session idled out (20 min). Log in again, retry once.
                logger.info("ThingSpace session expired; logging in again", metadata: ["path": "\(path)"])
                session = nil
                refreshedSession = true
                continue
            }
            if Self.isTransient(response.status) {
                if attempt < config.maxAttempts {
                    try await backoff(attempt: attempt, retryAfter: Self.retryAfter(response), reason: "HTTP \(response.status)")
                    continue
                }
                throw .upstreamUnavailable(status: response.status, message: "\(method) \(path) failed \(attempt) times; last HTTP \(response.status)")
            }
            return response
        }
    }

    private func backoff(attempt: Int, retryAfter: Duration?, reason: String) async throws(ThingSpaceError) {
        let ceiling = min(config.backoffCap, config.backoffBase * (1 << min(attempt - 1, 20)))
        let jittered = Duration.milliseconds(Int64(Double.random(in: 0...1) * Self.milliseconds(ceiling)))
        let wait = max(jittered, retryAfter ?? .zero)
        logger.warning("ThingSpace call failed; backing off", metadata: ["attempt": "\(attempt)", "wait": "\(wait)", "reason": "\(reason)"])
        do { try await sleep(wait) } catch { throw .transport("cancelled while backing off") }
    }

    private func execute(_ request: HTTPClientRequest) async throws(ThingSpaceError) -> RawResponse {
        do {
            let timeout = TimeAmount.milliseconds(Int64(Self.milliseconds(config.requestTimeout)))
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 16 << 20)
            return RawResponse(status: Int(response.status.code), headers: response.headers, body: Array(body.readableBytesView))
        } catch {
            throw .transport("\(request.method) \(request.url): \(error)")
        }
    }

    // MARK: - Credentials

    private func bearerToken() async throws(ThingSpaceError) -> String {
        if let bearer, clock.now < bearer.expires { return bearer.token }
        if let bearerRefresh { return try await Self.value(of: bearerRefresh) }
        try checkLoginAllowed()
        let task = Task { try await self.fetchBearer() }
        bearerRefresh = task
        defer { bearerRefresh = nil }
        return try await Self.value(of: task)
    }

    private func sessionToken() async throws(ThingSpaceError) -> String {
        if let session { return session }
        if let sessionRefresh { return try await Self.value(of: sessionRefresh) }
        try checkLoginAllowed()
        let task = Task { try await self.login() }
        sessionRefresh = task
        defer { sessionRefresh = nil }
        return try await Self.value(of: task)
    }

    private func checkLoginAllowed() throws(ThingSpaceError) {
        if let stoppedReason { throw .credentialsRejected(status: nil, upstreamCode: nil, message: stoppedReason) }
        if let until = loginBlockedUntil, clock.now < until {
            throw .loginSuspended("a login was rejected; the next attempt is allowed in \(until - clock.now)")
        }
    }

    private func fetchBearer() async throws(ThingSpaceError) -> String {
        var request = HTTPClientRequest(url: config.baseURL + "/ts/v1/oauth2/token")
        request.method = .POST
        let basic = Data("\(config.appKey):\(config.appSecret)".utf8).base64EncodedString()
        request.headers.add(name: "Authorization", value: "Basic \(basic)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "grant_type=client_credentials"))
        let response = try await execute(request)
        if Self.isTransient(response.status) {
            throw .upstreamUnavailable(status: response.status, message: "OAuth token endpoint answered \(response.status)")
        }
        guard response.status == 200 else {
            let code = (try? JSONDecoder().decode(OAuthErrorBody.self, from: Data(response.body)))?.error ?? Self.faultCode(response)
            throw loginRejected(status: response.status, upstreamCode: code, what: "OAuth client (appKey/appSecret)")
        }
        let token: OAuthToken = try Self.decode(response)
        // Refresh a minute early so a call never starts with a token about to expire.
        let lifetime = max(token.expiresIn - 60, 1)
        bearer = (token.accessToken, clock.now + .seconds(lifetime))
        bearerRefreshes += 1
        return token.accessToken
    }

    private func login() async throws(ThingSpaceError) -> String {
        var refreshedBearer = false
        while true {
            let bearer = try await bearerToken()
            var request = HTTPClientRequest(url: config.baseURL + "/m2m/v1/session/login")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Accept", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try Self.encode(LoginRequest(username: config.username, password: config.password))))
            let response = try await execute(request)
            if response.status == 401, Self.faultCode(response) != nil, !refreshedBearer {
                self.bearer = nil
                refreshedBearer = true
                continue
            }
            if Self.isTransient(response.status) {
                throw .upstreamUnavailable(status: response.status, message: "session login answered \(response.status)")
            }
            guard response.status == 200 else {
                throw loginRejected(status: response.status, upstreamCode: Self.envelope(response)?.errorCode ?? Self.faultCode(response), what: "user (username/password)")
            }
            let body: SessionTokenBody = try Self.decode(response)
            session = body.sessionToken
            consecutiveLoginFailures = 0
            loginBlockedUntil = nil
            logins += 1
            logger.info("ThingSpace session opened")
            return body.sessionToken
        }
    }

    /// Records a rejected login and decides how long until the next one, or that there is none.
    private func loginRejected(status: Int, upstreamCode: String?, what: String) -> ThingSpaceError {
        consecutiveLoginFailures += 1
        let failures = consecutiveLoginFailures
        if failures >= config.maxConsecutiveLoginFailures {
            let reason = "ThingSpace rejected the \(what) \(failures) times in a row (last HTTP \(status)\(upstreamCode.map { " \($0)" } ?? "")); "
                + "no further logins until the credentials are fixed and ThingBridge restarted (ThingSpace locks a user after 5 failures)"
            stoppedReason = reason
            logger.critical("\(reason)")
            return .credentialsRejected(status: status, upstreamCode: upstreamCode, message: reason)
        }
        let delay = config.loginRetryDelay * (1 << min(failures - 1, 10))
        loginBlockedUntil = clock.now + delay
        logger.error("ThingSpace rejected the \(what); next login attempt in \(delay)", metadata: [
            "status": "\(status)", "code": "\(upstreamCode ?? "-")", "failures": "\(failures)",
        ])
        return .credentialsRejected(status: status, upstreamCode: upstreamCode, message: "ThingSpace rejected the \(what) (\(failures) of \(config.maxConsecutiveLoginFailures) allowed failures)")
    }

    // MARK: - Helpers

    private static func value(of task: Task<String, any Error>) async throws(ThingSpaceError) -> String {
        do {
            return try await task.value
        } catch let error as ThingSpaceError {
            throw error
        } catch {
            throw .transport("\(error)")
        }
    }

    static func isTransient(_ status: Int) -> Bool { status == 408 || status == 429 || (500...599).contains(status) }

    static func retryAfter(_ response: RawResponse) -> Duration? {
        guard let value = response.headers.first(name: "Retry-After"), let seconds = Int(value.trimmingCharacters(in: .whitespaces)) else { return nil }
        return .seconds(min(max(seconds, 0), 300))
    }

    static func faultCode(_ response: RawResponse) -> String? {
        (try? JSONDecoder().decode(GatewayFaultBody.self, from: Data(response.body)))?.fault.code
    }

    static func envelope(_ response: RawResponse) -> ErrorEnvelope? {
        try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(response.body))
    }

    static func failure(_ response: RawResponse) -> ThingSpaceError {
        if let envelope = envelope(response) {
            return .requestFailed(status: response.status, upstreamCode: envelope.errorCode, message: envelope.errorMessage)
        }
        if let code = faultCode(response) {
            return .requestFailed(status: response.status, upstreamCode: code, message: "gateway fault")
        }
        let snippet = String(decoding: response.body.prefix(200), as: UTF8.self)
        return .requestFailed(status: response.status, upstreamCode: nil, message: snippet)
    }

    static func decode<T: Decodable>(_ response: RawResponse) throws(ThingSpaceError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw .unexpectedResponse(status: response.status, message: "cannot read \(T.self): \(error)")
        }
    }

    static func encode<T: Encodable>(_ value: T) throws(ThingSpaceError) -> [UInt8] {
        do { return Array(try JSONEncoder().encode(value)) } catch { throw .unexpectedResponse(status: nil, message: "cannot encode \(T.self)") }
    }

    /// The `next` query value of `Location: /sms/{account}/history?next={token}`.
    public static func nextToken(fromLocation location: String) -> String? {
        URLComponents(string: location)?.queryItems?.first(where: { $0.name == "next" })?.value.flatMap { $0.isEmpty ? nil : $0 }
    }

    static func segment(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .urlPathSegmentAllowed) ?? value
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

extension CharacterSet {
    static let urlPathSegmentAllowed: CharacterSet = {
        var set = CharacterSet.urlPathAllowed
        set.remove("/")
        return set
    }()

    static let urlQueryValueAllowed: CharacterSet = {
        var set = CharacterSet.urlQueryAllowed
        set.remove(charactersIn: "&=+?#")
        return set
    }()
}
