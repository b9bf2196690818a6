//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: the producer
//===----------------------------------------------------------------------===//

import Dispatch
import Foundation
import Logging
import Synchronization

/// A Kafka producer: sends messages and tells each caller what became of each one, from
/// librdkafka's delivery reports.
///
/// Delivery reports, errors, logs and statistics arrive as events on librdkafka's main queue,
/// which one dedicated thread drains (`rd_kafka_queue_poll`); no C callback is registered, and
/// nothing blocks Swift's cooperative pool. Each message carries an integer id as its opaque;
/// the report's id finds the waiting caller.
///
/// ```swift
/// let producer = try KafkaProducer(config: KafkaProducerConfig(bootstrapServers: ["localhost:9092"]), logger: logger)
/// let results = await producer.send([KafkaProducerMessage(topic: "events", key: Data("k".utf8), value: payload)])
/// await producer.close(flushTimeout: .seconds(10))
/// ```
public final class KafkaProducer: Sendable {
    public let config: KafkaProducerConfig
    private let core: ProducerCore

    /// Creates the librdkafka producer and starts its poll thread. Nothing connects yet.
    /// - Parameters:
    ///   - onStatistics: receives librdkafka's statistics JSON every
    ///     ``KafkaProducerConfig/statisticsInterval`` (on the poll thread: keep it short).
    /// - Throws: ``KafkaError`` when librdkafka refuses the configuration.
    public init(config: KafkaProducerConfig, logger: Logger, onStatistics: (@Sendable (String) -> Void)? = nil) throws(KafkaError) {
        self.config = config
        let client = try RDKafkaClient.makeProducer(properties: config.librdkafkaProperties)
        core = ProducerCore(client: client, logger: logger, onStatistics: onStatistics)
        core.startPollThread()
    }

    deinit {
        // Without close(): stop the poll thread (waiting callers get a retriable failure).
        core.stopPollThread()
        // rd_kafka_destroy blocks until librdkafka's threads end, so the client must not be
        // destroyed on the cooperative pool: this reference is released on the blocking queue,
        // and the poll thread releases its own as it exits; whichever is last destroys it.
        Blocking.release(core)
    }

    /// Produces the messages, in order, and waits for each one's delivery report.
    ///
    /// Every message gets exactly one result: its report (delivered), or the error that
    /// librdkafka gave at produce time or in the report (`message.timeout.ms` bounds the wait).
    /// When the calling task is cancelled, the results come back at once as retriable failures
    /// (the messages may still be delivered: at-least-once).
    public func send(_ messages: [KafkaProducerMessage]) async -> [KafkaDeliveryResult] {
        await core.send(messages)
    }

    /// Produces one message and waits for its delivery report.
    public func send(_ message: KafkaProducerMessage) async -> KafkaDeliveryResult {
        await core.send([message])[0]
    }

    /// Asks a broker for the cluster metadata (brokers, and `topic` or the known topics): a
    /// reachability check. Runs off the cooperative pool.
    /// - Throws: ``KafkaError`` (`_TIMED_OUT`, `_TRANSPORT`, …) when no broker answered in time.
    public func metadata(topic: String? = nil, timeout: Duration = .seconds(5)) async throws(KafkaError) -> KafkaMetadata {
        let client = core.client
        let milliseconds = Int32(clamping: KafkaProducerConfig.milliseconds(timeout))
        return try await Blocking.run { client.metadata(topic: topic, timeoutMilliseconds: milliseconds) }.get()
    }

    /// Messages sent and not yet reported back to their callers.
    public var inFlight: Int { core.inFlight }

    /// librdkafka's queue: messages not yet sent or acknowledged, plus reports not yet served.
    public var queueDepth: Int { core.client.outQueueLength }

    /// The fatal error, once librdkafka has raised one: the producer is then unusable and must
    /// be replaced.
    public var fatalError: KafkaError? { core.fatalError }

    /// The last client-level error librdkafka reported (e.g. all brokers down), for health pages.
    public var lastError: KafkaError? { core.lastError }

    /// Waits up to `flushTimeout` for every message sent so far to be confirmed, then purges what
    /// is left (its callers get retriable failures: unconfirmed), stops the poll thread and
    /// destroys the client. New sends fail at once. Safe to call more than once.
    public func close(flushTimeout: Duration) async {
        await core.close(flushTimeout: flushTimeout)
    }
}

/// Runs blocking librdkafka calls (flush, metadata) on a private queue, never on the cooperative pool.
enum Blocking {
    private static let queue = DispatchQueue(label: "thingbridge.kafka.blocking", attributes: .concurrent)

    /// Runs `work` on the blocking queue, without waiting for it.
    static func async(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Drops a reference on the blocking queue, so that a blocking `deinit` runs there.
    static func release(_ object: some Sendable & AnyObject) {
        queue.async { withExtendedLifetime(object) {} }
    }

    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}

/// The producer's state and its poll thread. Separate from ``KafkaProducer`` so that the poll
/// thread can hold it without keeping the public object alive: when the last user drops the
/// producer, the thread is told to stop, and it releases the client as it exits.
final class ProducerCore: Sendable {
    let client: RDKafkaClient
    private let logger: Logger
    private let onStatistics: (@Sendable (String) -> Void)?
    private let state = Mutex(State())
    private let stopRequested = Atomic<Bool>(false)
    private let stopped = Mutex(StopState())

    /// Waiters are correlated by message id; each ``send(_:)`` call is one batch, and a message's
    /// id is its batch's id and its index in the batch (``messageID(batch:index:)``), so a report
    /// finds its result's place without a table of its own.
    ///
    /// Invariant: every message of a batch gets exactly one result — its report, its produce
    /// failure, or (cancelled caller, shutdown) a retriable failure — because a result is only
    /// recorded where none is yet. A batch is finished (its continuation resumed, with every result
    /// filled) when its `remaining` reaches 0 and its continuation is installed; reports for a
    /// finished or given-up batch find no batch and are ignored.
    struct State {
        /// One caller's messages. A class: results are filled in place, one report at a time,
        /// without copying the batch out of the table and back.
        final class Batch {
            var results: [KafkaDeliveryResult?]
            var remaining: Int
            var continuation: CheckedContinuation<[KafkaDeliveryResult], Never>?

            init(count: Int) {
                results = Array(repeating: nil, count: count)
                remaining = count
            }

            /// Records the result of item `index` unless it has one. - Returns: whether it was recorded.
            func record(_ index: Int, _ result: KafkaDeliveryResult) -> Bool {
                guard index < results.count, results[index] == nil else { return false }
                results[index] = result
                remaining -= 1
                return true
            }
        }

        /// Bits of a message id that hold its index in its batch (the batch id is above them).
        static let indexBits: UInt64 = 24
        /// The most messages one batch may hold; ``ProducerCore/send(_:)`` splits larger sends.
        static let maxBatch = Int(1 << indexBits) - 1

        static func messageID(batch: UInt64, index: Int) -> UInt64 { batch << indexBits | UInt64(index) }

        var nextBatchID: UInt64 = 1
        var batches: [UInt64: Batch] = [:]
        /// Messages whose results are not filled yet, over all batches.
        var inFlight = 0
        var isClosing = false
        var fatalError: KafkaError?
        var lastError: KafkaError?

        typealias Completion = (CheckedContinuation<[KafkaDeliveryResult], Never>, [KafkaDeliveryResult])

        mutating func openBatch(count: Int) -> UInt64 {
            let id = nextBatchID
            nextBatchID += 1
            batches[id] = Batch(count: count)
            inFlight += count
            return id
        }

        enum Installed {
            /// Produce the batch's messages.
            case produce
            /// Do not: the producer is closing or failed (every result is filled), or the batch
            /// is already finished (a cancelled caller); the completion, if any, resumes the caller.
            case skip(Completion?)
        }

        mutating func install(_ continuation: CheckedContinuation<[KafkaDeliveryResult], Never>, batch id: UInt64) -> Installed {
            guard let batch = batches[id] else { return .skip(nil) }
            batch.continuation = continuation
            if batch.remaining > 0, isClosing || fatalError != nil {
                fill(id, fatalError ?? .shutDown("the producer is closing"))
            }
            if batch.remaining < batch.results.count { return .skip(finishIfDone(id)) }
            return .produce
        }

        /// Records the result of a message id (once; later results for it are ignored).
        mutating func complete(id: UInt64, _ result: KafkaDeliveryResult) -> Completion? {
            let batch = id >> Self.indexBits
            guard let open = batches[batch], open.record(Int(id & UInt64(Self.maxBatch)), result) else { return nil }
            inFlight -= 1
            return finishIfDone(batch)
        }

        /// Fills every open result of a batch with `error` (cancelled caller).
        mutating func abandon(batch: UInt64, _ error: KafkaError) -> Completion? {
            fill(batch, error)
            return finishIfDone(batch)
        }

        /// Fails everything still waiting (shutdown).
        mutating func failAll(_ error: KafkaError) -> [Completion] {
            batches.keys.compactMap { abandon(batch: $0, error) }
        }

        private mutating func fill(_ id: UInt64, _ error: KafkaError) {
            guard let batch = batches[id] else { return }
            for index in batch.results.indices where batch.record(index, .failure(error)) {
                inFlight -= 1
            }
        }

        private mutating func finishIfDone(_ id: UInt64) -> Completion? {
            guard let batch = batches[id], batch.remaining == 0, let continuation = batch.continuation else { return nil }
            batches.removeValue(forKey: id)
            return (continuation, batch.results.map { $0! })
        }
    }

    struct StopState {
        var isStopped = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    init(client: RDKafkaClient, logger: Logger, onStatistics: (@Sendable (String) -> Void)?) {
        self.client = client
        self.logger = logger
        self.onStatistics = onStatistics
    }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var fatalError: KafkaError? { state.withLock { $0.fatalError } }
    var lastError: KafkaError? { state.withLock { $0.lastError } }

    // MARK: - Sending

    func send(_ messages: [KafkaProducerMessage]) async -> [KafkaDeliveryResult] {
        if messages.isEmpty { return [] }
        if messages.count > State.maxBatch {
            var results: [KafkaDeliveryResult] = []
            for start in stride(from: 0, to: messages.count, by: State.maxBatch) {
                results += await send(Array(messages[start..<min(start + State.maxBatch, messages.count)]))
            }
            return results
        }
        let batch = state.withLock { $0.openBatch(count: messages.count) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                switch state.withLock({ $0.install(continuation, batch: batch) }) {
                case .skip(let completion):
                    resume(completion)
                case .produce:
                    // Outside the lock: reports for the first messages may come back while the
                    // last ones are still being queued.
                    for (index, message) in messages.enumerated() {
                        let id = State.messageID(batch: batch, index: index)
                        // Non-blocking: queues the message (librdkafka copies it).
                        let code = client.produce(message, id: id)
                        if code != .noError {
                            let error = makeError(code)
                            logger.debug("produce refused", metadata: ["topic": "\(message.topic)", "error": "\(error)"])
                            resume(state.withLock { $0.complete(id: id, .failure(error)) })
                        }
                    }
                }
            }
        } onCancel: {
            resume(state.withLock { $0.abandon(batch: batch, .shutDown("the caller was cancelled before the delivery report")) })
        }
    }

    private func resume(_ completion: State.Completion?) {
        guard let (continuation, results) = completion else { return }
        continuation.resume(returning: results)
    }

    /// A typed error for a code, logging codes this librdkafka does not know (classified retriable).
    private func makeError(_ code: KafkaError.Code, message: String? = nil) -> KafkaError {
        if !code.isKnown {
            logger.warning("unknown librdkafka error code; treated as retriable", metadata: ["code": "\(code.rawValue)"])
        }
        return KafkaError(code: code, message: message)
    }

    // MARK: - The poll thread

    func startPollThread() {
        let thread = Thread { [self] in
            // Holds `self` (and so the client) until the loop ends; the client may be destroyed
            // here, on this thread, when this is the last reference.
            while !stopRequested.load(ordering: .acquiring) {
                if let event = client.pollEvent(timeoutMilliseconds: 100) {
                    handle(event)
                }
            }
            finishPollThread()
        }
        thread.name = "thingbridge.kafka.poll"
        thread.start()
    }

    func stopPollThread() {
        stopRequested.store(true, ordering: .releasing)
        client.wakePoller()
    }

    private func finishPollThread() {
        // Whatever is still waiting will never get a report now.
        for completion in state.withLock({ $0.failAll(.shutDown("the producer stopped before the delivery report")) }) {
            resume(completion)
        }
        let waiters = stopped.withLock { stopped in
            stopped.isStopped = true
            defer { stopped.waiters.removeAll() }
            return stopped.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isStopped = stopped.withLock { stopped in
                if !stopped.isStopped { stopped.waiters.append(continuation) }
                return stopped.isStopped
            }
            if isStopped { continuation.resume() }
        }
    }

    private func handle(_ event: RDKafkaEvent) {
        switch event {
        case .deliveryReports(let reports):
            var failures: [KafkaError] = []
            let results = reports.map { report -> KafkaDeliveryResult in
                if report.code == .noError {
                    return .success(KafkaDeliveryReport(topic: report.topic, partition: report.partition, offset: report.offset))
                }
                let error = makeError(report.code)
                failures.append(error)
                return .failure(error)
            }
            // One lock for the event's reports (librdkafka hands them over per produce response).
            let completions = state.withLock { state in
                zip(reports, results).compactMap { report, result in state.complete(id: report.id, result) }
            }
            if let first = failures.first {
                logger.debug("delivery failed", metadata: ["count": "\(failures.count)", "error": "\(first)"])
            }
            for completion in completions { resume(completion) }
        case .error(let code, let message, let isFatal):
            let error = KafkaError(code: code, message: message, classification: isFatal ? .fatal : nil)
            state.withLock { state in
                state.lastError = error
                if isFatal { state.fatalError = error }
            }
            if isFatal {
                logger.critical("Kafka producer hit a fatal error; it must be recreated", metadata: ["error": "\(error)"])
            } else {
                logger.warning("Kafka client error", metadata: ["error": "\(error)"])
            }
        case .log(let level, let facility, let message):
            logger.log(level: Self.logLevel(syslog: level), "\(message)", metadata: ["librdkafka": "\(facility)"])
        case .statistics(let json):
            onStatistics?(json)
        case .unhandled(let type):
            logger.debug("unhandled librdkafka event skipped", metadata: ["type": "\(type)"])
        }
    }

    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }

    // MARK: - Closing

    func close(flushTimeout: Duration) async {
        let isFirst = state.withLock { state in
            defer { state.isClosing = true }
            return !state.isClosing
        }
        guard isFirst else {
            await waitUntilStopped()
            return
        }
        let client = client
        let milliseconds = Int32(clamping: KafkaProducerConfig.milliseconds(flushTimeout))
        // The poll thread keeps serving reports while flush waits for them.
        let flushed = await Blocking.run { client.flush(timeoutMilliseconds: milliseconds) }
        if flushed != .noError {
            let waiting = client.outQueueLength
            logger.warning("Kafka flush timed out; unconfirmed messages are purged and stay pending", metadata: ["unconfirmed": "\(waiting)"])
            // Their reports (_PURGE_QUEUE / _PURGE_INFLIGHT, retriable) come through the poll thread.
            client.purge()
            _ = await Blocking.run { client.flush(timeoutMilliseconds: 1000) }
        }
        stopPollThread()
        await waitUntilStopped()
    }
}
