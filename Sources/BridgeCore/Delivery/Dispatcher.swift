//===----------------------------------------------------------------------===//
// ThingBridge — the per-sink dispatcher
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// How a sink's failed deliveries are retried: exponential backoff with full jitter.
public struct RetryPolicy: Sendable, Equatable {
    /// The first retry waits up to this long. Default 1 s.
    public var base: Duration
    /// No wait is longer than this. Default 5 min.
    public var cap: Duration
    /// After this many attempts a delivery is dead-lettered; `nil` retries forever. Default 20.
    public var maxAttempts: Int?

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300), maxAttempts: Int? = 20) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// The wait before attempt `attempts + 1`: uniform in `0 ... min(cap, base × 2^(attempts-1))`.
    public func delay(afterAttempts attempts: Int) -> Duration {
        let exponent = min(max(attempts - 1, 0), 30)
        let ceiling = min(cap, base * (1 << exponent))
        let seconds = Double(ceiling.components.seconds) + Double(ceiling.components.attoseconds) / 1e18
        return .milliseconds(Int64(Double.random(in: 0...seconds) * 1000))
    }
}

/// Wakes a dispatcher when new deliveries were committed, coalescing bursts.
public struct DeliverySignal: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Something is (or may be) due.
    public func signal() { continuation.yield() }
}

/// Moves one sink's due deliveries from the journal to the sink, and records the outcomes.
///
/// One dispatcher per sink, so a slow or failing sink never holds back another. A delivery is
/// marked delivered only on the sink's confirmation; a crash in between means it is delivered
/// again after restart (at least once).
public struct Dispatcher: Service {
    public let sink: any Sink
    let journal: SQLiteJournal
    let signal: DeliverySignal
    let retry: RetryPolicy
    let batchSize: Int
    /// Per-device order (a device's next event only once the previous one is done): asked of the
    /// journal, which was opened with the ordered sinks and keeps their deliveries as rows.
    var perDeviceOrder: Bool { journal.orderedSinks.contains(sink.name) }
    /// How many batches may be at the sink at once (unordered sinks). Default 1.
    let batchesInFlight: Int
    let idleInterval: Duration
    /// How long a wake-up waits before reading the outbox, so that the deliveries of several
    /// commits go out as one batch (one sink write and fsync, one journal update) instead of one
    /// each. Default 2 ms.
    let coalesce: Duration
    let logger: Logger
    /// The clock retries are scheduled and found by (tests move it instead of sleeping).
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - sink: The sink to feed.
    ///   - journal: The journal holding its outbox.
    ///   - signal: Signalled after commits that create deliveries for this sink.
    ///   - retry: The retry policy.
    ///   - batchSize: At most this many deliveries per `deliver` call. Default 256.
    ///   - batchesInFlight: How many batches may be at the sink at once, when it keeps no
    ///     per-device order (a Kafka producer: while one batch waits for its delivery reports, the
    ///     next is already being produced). Outcomes are still recorded in batch order. Default 1.
    ///   - idleInterval: How often to look for due retries when nothing signals. Default 250 ms.
    ///   - coalesce: How long a wake-up waits for more deliveries to batch. Default 2 ms.
    public init(
        sink: any Sink, journal: SQLiteJournal, signal: DeliverySignal, retry: RetryPolicy = RetryPolicy(),
        batchSize: Int = 256, batchesInFlight: Int = 1, idleInterval: Duration = .milliseconds(250),
        coalesce: Duration = .milliseconds(2), logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.coalesce = coalesce
        self.now = now
        self.batchesInFlight = max(1, batchesInFlight)
        self.sink = sink
        self.journal = journal
        self.signal = signal
        self.retry = retry
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        var logger = logger
        logger[metadataKey: "sink"] = "\(sink.name)"
        self.logger = logger
    }

    public func run() async throws {
        let ticker = startTicker(every: idleInterval) { [signal] in signal.signal() }
        defer { ticker.cancel() }
        signal.signal()
        var failedBatches = 0
        for await _ in signal.stream.cancelOnGracefulShutdown() {
            if coalesce > .zero { try? await Task.sleep(for: coalesce) }
            let (round, retryAfter) = await drainRound()
            guard round == .sinkFailing else {
                failedBatches = 0
                continue
            }
            // A whole batch failed: the sink is down, not one event. Wait (the retry policy's
            // backoff, per failed batch) before trying again, instead of trying every pending
            // delivery on its own schedule: an outage then costs one batch per wait, not work
            // in proportion to the backlog. Shutdown cuts the wait short. When the destination
            // said when to come back (`Retry-After`), the wait is at least that.
            failedBatches += 1
            let pause = max(retry.delay(afterAttempts: failedBatches), retryAfter ?? .zero)
            Gauge(label: "thingbridge_sink_paused", dimensions: [("sink", sink.name)]).record(1)
            await cancelWhenGracefulShutdown { try? await Task.sleep(for: pause) }
            Gauge(label: "thingbridge_sink_paused", dimensions: [("sink", sink.name)]).record(0)
        }
        // After a shutdown timeout (cancelled) the sink may be stuck; do not wait on it again.
        if !Task.isCancelled { await sink.close() }
        logger.info("dispatcher stopped")
    }

    /// How a round of deliveries ended.
    enum Round: Equatable {
        /// Nothing more is due now.
        case done
        /// A whole batch failed with retriable errors: the sink looks down; stop for now.
        case sinkFailing
    }

    /// Delivers batches until nothing is due, or until a whole batch fails.
    @discardableResult
    func drainDue() async -> Round { await drainRound().0 }

    /// ``drainDue()``, plus the longest `Retry-After` of a batch that failed as a whole.
    func drainRound() async -> (Round, Duration?) {
        let limit = await allowance()
        if limit == 0 { return (.done, nil) }
        // Per-device order: a device's next delivery may be read only once the previous one is
        // done, so a batch is read only after the one before it was recorded. A probe (a sink
        // that takes only a few now) goes alone too.
        return perDeviceOrder || limit < batchSize ? await drainOneByOne(limit: limit) : await drainPipelined()
    }

    /// How many deliveries the sink takes now: a sink closed on purpose (an open breaker, a
    /// disabled endpoint) gets nothing, or only a probe; its pending deliveries wait without
    /// spending attempts.
    private func allowance() async -> Int {
        guard let gated = sink as? any SinkAvailabilityReporting else { return batchSize }
        switch await gated.availability() {
        case .available: return batchSize
        case .limited(let count): return max(0, min(batchSize, count))
        case .unavailable: return 0
        }
    }

    private func drainOneByOne(limit: Int) async -> (Round, Duration?) {
        var limit = limit
        while !Task.isCancelled {
            guard let batch = await readDue(after: nil, limit: limit), !batch.items.isEmpty else { return (.done, nil) }
            let result = await send(batch)
            guard await record(result) else { return (.done, nil) }
            if result.allRetriable { return (.sinkFailing, result.retryAfter) }
            if batch.items.count < limit || limit < batchSize { return (.done, nil) }
            limit = await allowance()
            if limit == 0 { return (.done, nil) }
        }
        return (.done, nil)
    }

    /// While batches are at the sink (up to ``batchesInFlight``), the next one is read from the
    /// journal and the ones the sink finished are recorded, so the sink waits neither for the
    /// outbox read nor for the bookkeeping. Batches follow each other by their place in the outbox
    /// (``OutboxCursor``): the next batch is read before this one is marked, and must not contain
    /// it. Outcomes are recorded one batch after the other, in the order read; every recording is
    /// finished before this returns, so the next round reads the outbox as it is. When a
    /// recording fails, the batches after it are not recorded either (the journal would refuse to
    /// move a stream's cursor over the unrecorded one): all of them are delivered again later.
    private func drainPipelined() async -> (Round, Duration?) {
        guard var batch = await readDue(after: nil, limit: batchSize), !batch.items.isEmpty else { return (.done, nil) }
        var atSink: [Task<BatchResult, Never>] = []
        var recording: Task<Bool, Never>?
        var round: (Round, Duration?) = (.done, nil)
        var stop = false
        var recordingFailed = false
        /// Waits for the oldest batch at the sink and records it after the one before.
        func finishOldest() async {
            let result = await atSink.removeFirst().value
            if let previous = recording, await !previous.value { recordingFailed = true }
            guard !recordingFailed else {
                stop = true
                return
            }
            recording = Task { await record(result) }
            if result.allRetriable {
                round = (.sinkFailing, result.retryAfter)
                stop = true
            }
        }
        while true {
            let sending = batch
            atSink.append(Task { await send(sending) })
            guard batch.items.count >= batchSize, !Task.isCancelled else { break }
            let next = await readDue(after: batch.cursor, limit: batchSize)
            while atSink.count >= batchesInFlight, !stop { await finishOldest() }
            guard !stop, let next, !next.items.isEmpty, !Task.isCancelled else { break }
            // The sink may have closed itself meanwhile (a breaker that opened): the round ends,
            // and the next one asks it again.
            if await allowance() < batchSize { break }
            batch = next
        }
        while !atSink.isEmpty { await finishOldest() }
        _ = await recording?.value
        return round
    }

    /// The next due deliveries after `cursor` (from the start when nil); nil when the journal
    /// cannot be read (logged).
    private func readDue(after cursor: OutboxCursor?, limit: Int) async -> OutboxBatch? {
        do {
            return try await journal.readBatch(sink: sink.name, limit: limit, now: now(), after: cursor)
        } catch {
            // Cancelled at shutdown (after the shutdown timeout): nothing went wrong with the
            // journal, and what is pending stays pending for the next start.
            if Task.isCancelled {
                logger.debug("outbox read cancelled by shutdown")
            } else {
                logger.error("cannot read the outbox", metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    /// What the sink made of one batch.
    private struct BatchResult: Sendable {
        var batch: OutboxBatch
        var delivered: [Int64] = []
        var failures: [Failure] = []
        /// Every item (two or more) failed with a retriable error: the sink looks down.
        var allRetriable = false
        /// The longest `Retry-After` among the retriable failures.
        var retryAfter: Duration?
    }

    /// Hands a batch to the sink and sorts the outcomes.
    private func send(_ batch: OutboxBatch) async -> BatchResult {
        let due = batch.items
        var items: [SinkItem] = []
        items.reserveCapacity(due.count)
        // The place in `due` of each item (an event that cannot be decoded has none).
        var dueIndex: [Int] = []
        dueIndex.reserveCapacity(due.count)
        var result = BatchResult(batch: batch)
        for index in due.indices {
            do {
                let event = try BridgeEvent.decode(due[index].eventJSON)
                items.append(SinkItem(
                    deliveryID: due[index].deliveryID, route: due[index].route, attempt: due[index].attempts + 1,
                    event: event, eventJSON: due[index].eventJSON, options: due[index].options
                ))
                dueIndex.append(index)
            } catch {
                result.failures.append(Failure(pending: due[index], outcome: .rejected(reason: "stored event cannot be decoded: \(error)")))
            }
        }
        let outcomes = await sink.deliver(items)
        result.delivered.reserveCapacity(items.count)
        for index in items.indices {
            let outcome = index < outcomes.count ? outcomes[index] : .retriable(reason: "sink returned no outcome")
            if outcome == .delivered {
                result.delivered.append(items[index].deliveryID)
            } else {
                result.failures.append(Failure(pending: due[dueIndex[index]], outcome: outcome))
            }
        }
        // One failing delivery says little about the sink; a whole batch of several does.
        result.allRetriable = items.count >= 2 && result.delivered.isEmpty && result.failures.count == due.count
            && result.failures.allSatisfy { if case .retriable = $0.outcome { true } else { false } }
        result.retryAfter = result.failures.compactMap { failure -> Duration? in
            if case .retriable(_, let after) = failure.outcome { after } else { nil }
        }.max()
        return result
    }

    private struct Failure: Sendable {
        var pending: PendingDelivery
        var outcome: DeliveryOutcome
    }

    /// Writes a batch's outcomes to the journal in one transaction (``SQLiteJournal/settle(_:delivered:failures:at:)``),
    /// and logs the failures as one line per kind (a sink outage fails every delivery; a line
    /// each would flood the log).
    /// - Returns: Whether the journal recorded them; if not, the batch is delivered again.
    private func record(_ result: BatchResult) async -> Bool {
        let failures = result.failures
        var updates: [DeliveryFailure] = []
        var retried: [Failure] = [], dead: [(Failure, String)] = []
        for failure in failures {
            let attempts = failure.pending.attempts + 1
            switch failure.outcome {
            case .delivered:
                continue
            case .retriable(let reason, let retryAfter):
                if let max = retry.maxAttempts, attempts >= max {
                    let why = "retries exhausted after \(attempts) attempts: \(reason)"
                    updates.append(DeliveryFailure(deliveryID: failure.pending.deliveryID, reason: why, retryAt: nil))
                    dead.append((failure, why))
                } else {
                    // The destination's `Retry-After` wins over a shorter backoff.
                    let wait = max(retry.delay(afterAttempts: attempts), retryAfter ?? .zero)
                    let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
                    updates.append(DeliveryFailure(deliveryID: failure.pending.deliveryID, reason: reason, retryAt: now().addingTimeInterval(seconds)))
                    retried.append(failure)
                }
            case .rejected(let reason):
                updates.append(DeliveryFailure(deliveryID: failure.pending.deliveryID, reason: reason, retryAt: nil))
                dead.append((failure, reason))
            }
        }
        let delivered = result.delivered
        do {
            try await journal.settle(result.batch, delivered: delivered, failures: updates)
        } catch {
            // The sink has them; the journal does not know. They will be delivered again (at least once).
            let metadata: Logger.Metadata = ["delivered": "\(delivered.count)", "failed": "\(updates.count)", "error": "\(error)"]
            if Task.isCancelled {
                logger.warning("shutdown cancelled the recording of a batch's outcomes; it will be delivered again after the restart", metadata: metadata)
            } else {
                logger.error("cannot record a batch's outcomes; it will be delivered again", metadata: metadata)
            }
            return false
        }
        if !delivered.isEmpty {
            Counter(label: "thingbridge_deliveries_total", dimensions: [("sink", sink.name), ("outcome", "delivered")])
                .increment(by: delivered.count)
            logger.debug("delivered", metadata: ["count": "\(delivered.count)"])
        }
        if let first = retried.first {
            Counter(label: "thingbridge_deliveries_total", dimensions: [("sink", sink.name), ("outcome", "retried")]).increment(by: retried.count)
            let reason: String
            if case .retriable(let text, _) = first.outcome { reason = text } else { reason = "" }
            logger.warning("deliveries failed, will retry", metadata: [
                "count": "\(retried.count)", "first_event": "\(first.pending.eventID)", "attempt": "\(first.pending.attempts + 1)",
                "retry_in": "\(retry.delay(afterAttempts: first.pending.attempts + 1))", "reason": "\(reason)",
            ])
        }
        if let (first, reason) = dead.first {
            Counter(label: "thingbridge_deliveries_total", dimensions: [("sink", sink.name), ("outcome", "dead_lettered")]).increment(by: dead.count)
            logger.error("deliveries dead-lettered", metadata: [
                "count": "\(dead.count)", "first_event": "\(first.pending.eventID)", "reason": "\(reason)",
            ])
        }
        return true
    }
}
