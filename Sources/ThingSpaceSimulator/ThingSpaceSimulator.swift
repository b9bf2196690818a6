//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the service
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import BridgeCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import ThingSpace

/// A faithful fake of the ThingSpace endpoints the gateway talks to (thingspace-api.md §7),
/// with a control API for tests: inject MO SMS, read counters, inject faults, move the clock.
///
/// One HTTP listener serves both the fake upstream (`/api/ts/v1/…`, `/api/m2m/v1/…`) and
/// the control API (`/simulator/…`). Everything the simulator remembers is one
/// ``SimulatorState`` value inside a `Mutex`; handlers take their decision under the lock
/// and do any I/O (callback POSTs) after releasing it.
///
/// Run it as a `Service` (it binds on ``run()``), or use ``withRunning(config:host:port:alsoRunning:logger:_:)``
/// in tests. The Swift methods (``sendMO(_:)``, ``stats()``, ``inject(_:)``, …) mirror the
/// control API and work whether or not the listener runs.
public final class ThingSpaceSimulator: Service {
    public let config: SimulatorConfig
    public let host: String
    public let port: Int
    let logger: Logger
    let state: Mutex<SimulatorState>
    let pusher: CallbackPusher
    private let address = AsyncValue<SimulatorAddress>()
    private let onListening: (@Sendable (SimulatorAddress) -> Void)?
    /// Background work started by HTTP requests that answer first (startCallbacks).
    private let jobs = AsyncStream<@Sendable () async -> Void>.makeStream()

    /// Builds a simulator; nothing listens until ``run()``.
    /// - Parameters:
    ///   - config: Accounts, credentials and behaviour knobs; default ``SimulatorConfig/init()``.
    ///   - host: Bind address. Default `127.0.0.1`.
    ///   - port: Bind port; 0 picks a free one (see ``listenAddress()``).
    ///   - httpClient: Used for callback pushes. Default: a client of its own while running
    ///     (one that does not retry refused connections), `HTTPClient.shared` otherwise.
    ///   - logger: Default label `thingspace-simulator`, level `info`.
    ///   - onListening: Called once the listener is bound, with the real address.
    public init(
        config: SimulatorConfig = SimulatorConfig(), host: String = "127.0.0.1", port: Int = 0,
        httpClient: HTTPClient? = nil, logger: Logger = Logger(label: "thingspace-simulator"),
        onListening: (@Sendable (SimulatorAddress) -> Void)? = nil
    ) {
        self.config = config
        self.host = host
        self.port = port
        self.logger = logger
        self.onListening = onListening
        state = Mutex(SimulatorState(config: config))
        pusher = CallbackPusher(client: httpClient, timeout: config.callbackTimeout, logger: logger)
    }

    /// The address actually bound (the real port when configured with port 0); waits for ``run()`` to bind.
    public func listenAddress() async -> SimulatorAddress { await address.get() }

    public func run() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: SimulatorMiddleware(simulator: self))
        registerThingSpaceRoutes(on: router)
        registerControlRoutes(on: router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "thingspace-simulator"),
            onServerRunning: { [address, logger, host, port, onListening] channel in
                let bound = SimulatorAddress(host: host, port: channel.localAddress?.port ?? port)
                logger.info("ThingSpace simulator listening", metadata: ["address": "\(bound)"])
                address.set(bound)
                onListening?(bound)
            },
            logger: logger
        )
        let jobs = self.jobs
        defer { jobs.continuation.finish() }
        if pusher.needsOwnClient { pusher.useRunningClient(CallbackPusher.makeClient(timeout: pusher.timeout)) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Ends when the stream finishes or the group is cancelled; in-flight
                    // flushes are cancelled with it and their unsent messages stay queued.
                    await withDiscardingTaskGroup { flushes in
                        for await job in jobs.stream { flushes.addTask { await job() } }
                    }
                }
                try await app.run()
                jobs.continuation.finish()
                group.cancelAll()
            }
        } catch {
            await shutDownOwnClient()
            throw error
        }
        await shutDownOwnClient()
        logger.info("ThingSpace simulator stopped")
    }

    /// Shuts down the client made for this run; later pushes fall back to `HTTPClient.shared`.
    private func shutDownOwnClient() async {
        guard let client = pusher.useRunningClient(nil) else { return }
        do {
            try await client.shutdown()
        } catch {
            logger.debug("shutting down the callback HTTP client failed", metadata: ["error": "\(error)"])
        }
    }

    /// Runs `body` while a simulator (and `alsoRunning`, e.g. a ``CallbackRecorder``) serves
    /// on `host:port`, then shuts everything down gracefully, whether `body` throws or not.
    ///
    /// `body` runs in the caller's isolation (it need not be `@Sendable`), once the
    /// simulator is bound; ``listenAddress()`` answers at once inside it.
    public static func withRunning<T>(
        config: SimulatorConfig = SimulatorConfig(), host: String = "127.0.0.1", port: Int = 0,
        alsoRunning: [any Service] = [], logger: Logger = Logger(label: "thingspace-simulator"),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ThingSpaceSimulator) async throws -> T
    ) async throws -> T {
        let simulator = ThingSpaceSimulator(config: config, host: host, port: port, logger: logger)
        return try await withServices(alsoRunning + [simulator], logger: logger, ready: { _ = await simulator.listenAddress() }) {
            try await body(simulator)
        }
    }

    // MARK: - Control (Swift API)

    /// Makes devices send MO SMS and delivers them (push, or straight to the queue).
    ///
    /// Returns once every push attempt has finished. Pushes go one after another, in order
    /// (the ``SimulatorFault/outOfOrder(count:)`` fault aside).
    /// - Throws: ``SimulatorError`` for an unknown account or a bad count/device list.
    @discardableResult
    public func sendMO(_ request: MOSendRequest) async throws(SimulatorError) -> SendResult {
        let made = state.withLock { state -> Result<(messages: [MOMessage], hasListener: Bool), SimulatorError> in
            let now = state.now()
            return state.makeMessages(request, now: now).map { ($0, state.hasMOListener(account: request.account)) }
        }
        let (messages, hasListener) = try made.get()
        if request.deliver == .queue || !hasListener {
            state.withLock { $0.enqueue(messages, account: request.account) }
            return SendResult(sent: messages.count, pushed: 0, queued: messages.count)
        }
        var pushed = 0
        for message in messages where await deliver(message, account: request.account) { pushed += 1 }
        return SendResult(sent: messages.count, pushed: pushed, queued: messages.count - pushed)
    }

    /// Convenience for ``sendMO(_:)``.
    @discardableResult
    public func sendMO(
        account: String = SimulatorConfig.defaultAccount, deviceIds: [DeviceID]? = nil, message: String,
        count: Int = 1, deliver: MODelivery = .push
    ) async throws(SimulatorError) -> SendResult {
        try await sendMO(MOSendRequest(account: account, deviceIds: deviceIds, message: message, count: count, deliver: deliver))
    }

    /// What `PUT /sms/{account}/startCallbacks` does, awaited: pushes every queued message of
    /// the account to its `EnhancedConnectivityService` listener; failures go back to the queue.
    /// - Throws: ``SimulatorError`` for an unknown account or when no listener is registered.
    @discardableResult
    public func startCallbacks(account: String) async throws(SimulatorError) -> FlushResult {
        let messages = try state.withLock { $0.takeQueueForFlush(account: account) }.get()
        var pushed = 0
        for message in messages where await deliver(message, account: account) { pushed += 1 }
        return FlushResult(attempted: messages.count, pushed: pushed, requeued: messages.count - pushed)
    }

    /// Counters since start.
    public func stats() -> SimulatorStats { state.withLock { $0.stats } }

    /// Strict final-page mode: the texts of final-page messages removed by a call from another
    /// session than the one they were served to (see ``AccountStats/finalPageTakenByAnotherSession``).
    public func finalPageTakenByAnotherSession(account: String) -> [String] {
        state.withLock { $0.finalPageTakenByAnotherSession(account: account) }
    }

    /// Switches a fault on (see ``SimulatorFault`` for how each behaves).
    public func inject(_ fault: SimulatorFault) {
        state.withLock { state in state.inject(fault, now: state.now()) }
    }

    /// Switches every fault off.
    public func clearFaults() { state.withLock { $0.clearFaults() } }

    /// The faults active now.
    public func faults() -> FaultSnapshot { state.withLock { $0.faults.snapshot(now: $0.now()) } }

    /// Moves the simulator's clock forward (token lifetime, session idleness, fault windows,
    /// message timestamps), so that tests never sleep.
    public func advanceClock(by duration: Duration) {
        state.withLock { $0.advanceClock(by: max(0, duration.timeInterval)) }
    }

    /// The simulator's current time (wall clock plus every ``advanceClock(by:)``).
    public func now() -> Date { state.withLock { $0.now() } }

    /// Unlocks a user locked by failed logins.
    /// - Returns: `false` when there is no such user.
    @discardableResult
    public func unlockUser(_ username: String) -> Bool { state.withLock { $0.unlock(username) } }

    /// The MT messages accepted so far, oldest first.
    public func mtMessages() -> [MTRecord] { state.withLock { $0.mtMessages } }

    /// The callback listeners registered for an account, by service name.
    public func listeners(account: String) -> [CallbackListener] { state.withLock { $0.listeners(account: account) } }

    /// The devices of an account (configured or generated), each as its identifier list.
    public func devices(account: String) -> [[DeviceID]] { state.withLock { $0.devices(account: account) } ?? [] }

    /// Waits until background work started over HTTP (startCallbacks flushes) has finished.
    public func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = state.withLock { $0.waitForIdle(continuation) }
            if !waiting { continuation.resume() }
        }
    }

    // MARK: - Delivery

    /// One delivery round for a message: up to `pushAttempts` pushes, then the queue.
    /// - Returns: whether a listener accepted it.
    func deliver(_ message: MOMessage, account: String) async -> Bool {
        var message = message
        let requestID = message.requestID ?? UUID().uuidString.lowercased()
        message.requestID = requestID
        for _ in 0..<state.withLock({ $0.settings.pushAttempts }) {
            let plan = state.withLock { state in state.planPush(account: account, now: state.now()) }
            switch plan {
            case .noListener:
                state.withLock { $0.enqueue([message], account: account) }
                return false
            case .injectedFailure:
                message.attempts += 1
                state.withLock { $0.pushFailed(account: account) }
            case .post(let target, let treatAsTimeout):
                message.attempts += 1
                let body = CallbackPusher.body(MOSMSCallbackBody(
                    username: target.username, password: target.password, requestId: requestID,
                    deviceIds: message.deviceIDs, smsMessage: message.text, timestamp: message.timestamp,
                    callbackCount: message.attempts, maxCallbackThreshold: 4
                ))
                let accepted = await pusher.post(body, to: target.url)
                if accepted, !treatAsTimeout {
                    let duplicate = state.withLock { $0.pushSucceeded(account: account) }
                    if duplicate {
                        _ = await pusher.post(body, to: target.url)
                        state.withLock { $0.duplicatePushed(account: account) }
                    }
                    return true
                }
                state.withLock { $0.pushFailed(account: account) }
            }
        }
        state.withLock { $0.enqueue([message], account: account) }
        return false
    }

    /// Runs a flush after the HTTP answer went out; ``waitUntilIdle()`` waits for it.
    func startCallbacksInBackground(account: String) {
        state.withLock { $0.jobStarted() }
        let job: @Sendable () async -> Void = { [self] in
            do {
                let result = try await startCallbacks(account: account)
                logger.debug("startCallbacks flush finished", metadata: [
                    "account": "\(account)", "attempted": "\(result.attempted)", "pushed": "\(result.pushed)",
                ])
            } catch {
                logger.debug("startCallbacks flush skipped", metadata: ["account": "\(account)", "error": "\(error)"])
            }
            finishJob()
        }
        if case .terminated = jobs.continuation.yield(job) { finishJob() }
    }

    private func finishJob() {
        let waiters = state.withLock { $0.jobFinished() }
        for waiter in waiters { waiter.resume() }
    }
}
