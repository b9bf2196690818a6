@testable import BridgeCore
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TestSupport

/// The dispatcher reads the next batch while one is at the sink, and records the previous one
/// meanwhile: no delivery may be handed over twice, skipped, or given to the sink concurrently.
@Suite struct DispatcherPipelineTests {
    /// Records every batch; fails the items whose event number (the `n` of its text) is a multiple
    /// of `failEvery` (on their first attempt only), and takes a little time per batch so that
    /// reads overlap it. Attempts are counted per event number: a failed delivery read from the
    /// stream is retried as a row, under another delivery id.
    final class RecordingSink: Sink {
        let name = "rec"
        let failEvery: Int64
        /// Each batch waits (up to 1 s) until this many batches are at the sink at once.
        let holdUntilInFlight: Int
        private let state = Mutex<(batches: [[Int64]], inFlight: Int, maxInFlight: Int, attempts: [Int64: Int])>(([], 0, 0, [:]))

        init(failEvery: Int64 = 0, holdUntilInFlight: Int = 1) {
            self.failEvery = failEvery
            self.holdUntilInFlight = holdUntilInFlight
        }

        func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
            state.withLock {
                $0.inFlight += 1
                $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
                $0.batches.append(batch.map(\.deliveryID))
            }
            try? await Task.sleep(for: .milliseconds(3))
            for _ in 0..<100 where state.withLock({ $0.inFlight < holdUntilInFlight }) {
                try? await Task.sleep(for: .milliseconds(10))
            }
            return state.withLock { state in
                state.inFlight -= 1
                return batch.map { item in
                    let number = Int64(item.event.data.text.split(separator: " ").last ?? "") ?? -1
                    state.attempts[number, default: 0] += 1
                    if failEvery > 0, number % failEvery == 0, item.attempt == 1 { return .retriable(reason: "injected") }
                    return .delivered
                }
            }
        }

        func close() async {}

        var batches: [[Int64]] { state.withLock { $0.batches } }
        var maxInFlight: Int { state.withLock { $0.maxInFlight } }
        var attempts: [Int64: Int] { state.withLock { $0.attempts } }
    }

    /// The journal says `delivered` deliveries of `rec` were delivered and none is pending.
    static func expectAllRecorded(_ journal: SQLiteJournal, delivered: Int, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        let stats = try await journal.stats()
        #expect(stats.deliveredBySink["rec"] == delivered, sourceLocation: sourceLocation)
        #expect(stats.pendingBySink["rec", default: 0] == 0, sourceLocation: sourceLocation)
    }

    static func fill(_ journal: SQLiteJournal, count: Int) async throws {
        let items = try SinkConformance.items(1...count, tag: "pipeline")
        for start in stride(from: 0, to: count, by: 500) {
            _ = try await journal.append(items[start..<min(start + 500, count)].map {
                JournalEntry(event: $0.event, deliveries: [.init(route: "r", sink: "rec")])
            })
        }
    }

    @Test func everyDeliveryReachesTheSinkOnceInOrderOneBatchAtATime() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            try await Self.fill(journal, count: 1005)
            let sink = RecordingSink()
            let dispatcher = Dispatcher(sink: sink, journal: journal, signal: DeliverySignal(), batchSize: 100, logger: Logger(label: "t"))
            #expect(await dispatcher.drainDue() == .done)

            let handed = sink.batches.flatMap { $0 }
            #expect(handed.count == 1005)
            #expect(Set(handed).count == 1005)
            #expect(handed == handed.sorted())  // the outbox's order, across batches
            #expect(sink.batches.count == 11)
            #expect(sink.maxInFlight == 1)
            // Every mark was written before the round ended.
            try await Self.expectAllRecorded(journal, delivered: 1005)
            try journal.close()
        }
    }

    /// A sink that takes several batches at once (Kafka): never more than `batchesInFlight`,
    /// every delivery handed over once, and every outcome recorded (in order: the stream's
    /// cursor would refuse anything else).
    @Test func severalBatchesAtTheSinkAtOnceAreAllRecorded() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            try await Self.fill(journal, count: 1005)
            let sink = RecordingSink(holdUntilInFlight: 2)
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), batchSize: 100, batchesInFlight: 3, logger: Logger(label: "t")
            )
            #expect(await dispatcher.drainDue() == .done)
            let handed = sink.batches.flatMap { $0 }
            #expect(handed.count == 1005)
            #expect(Set(handed).count == 1005)
            #expect(sink.maxInFlight > 1)
            #expect(sink.maxInFlight <= 3)
            try await Self.expectAllRecorded(journal, delivered: 1005)
            try journal.close()
        }
    }

    /// The journal refuses to record a batch's outcomes (a real SQLite error, injected with a
    /// trigger) while later batches are already at the sink: those are not recorded either, the
    /// stream's cursor stays before the first unrecorded batch, and once the journal writes again
    /// every event is delivered and nothing is lost.
    @Test func aRecordingThatFailsMidPipelineLosesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            try await Self.fill(journal, count: 1005)
            let outside = try DatabaseQueue(path: path)
            try await outside.write { db in
                try db.execute(sql: """
                    CREATE TRIGGER refuse BEFORE UPDATE OF cursor ON delivery_streams WHEN NEW.cursor > 300
                    BEGIN SELECT RAISE(ABORT, 'injected'); END
                    """)
            }
            let sink = RecordingSink()
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), batchSize: 100, batchesInFlight: 3, logger: Logger(label: "t")
            )
            _ = await dispatcher.drainDue()
            let stats = try await journal.stats()
            #expect(stats.deliveredBySink["rec"] == 300)
            #expect(stats.pendingBySink["rec"] == 705)
            try await outside.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
            try outside.close()
            #expect(await dispatcher.drainDue() == .done)
            try await Self.expectAllRecorded(journal, delivered: 1005)
            // Every event reached the sink; those of the unrecorded batches twice (at least once).
            #expect(Set(sink.attempts.keys) == Set((1...1005).map(Int64.init)))
            try journal.close()
        }
    }

    @Test func failuresInsideThePipelineAreRetriedNotLostNorRepeated() async throws {
        try await withTemporaryDirectory { directory in
            let clock = RetryTimingTests.Clock()
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let sink = RecordingSink(failEvery: 7)
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), retry: RetryPolicy(base: .seconds(1), cap: .seconds(1)),
                batchSize: 64, logger: Logger(label: "t"), now: { clock.now }
            )
            // Appended at the real time, before the injected clock's start: due at once.
            try await Self.fill(journal, count: 700)
            #expect(await dispatcher.drainDue() == .done)
            // 100 failed once (ids 7, 14, … 700) and wait for their retry; the rest are delivered.
            // (A retry's full jitter can draw a zero wait: that one is due at once, and tried again
            // in the same round. Only failed ones may have been tried twice.)
            let stats = try await journal.stats()
            let retriedAtOnce = sink.attempts.filter { $0.value == 2 }.keys
            #expect(retriedAtOnce.allSatisfy { $0 % 7 == 0 })
            #expect(sink.attempts.values.allSatisfy { $0 <= 2 })
            #expect(stats.deliveredBySink["rec"] == 600 + retriedAtOnce.count)
            #expect(stats.pendingBySink["rec", default: 0] == 100 - retriedAtOnce.count)

            clock.advance(2)
            #expect(await dispatcher.drainDue() == .done)
            try await Self.expectAllRecorded(journal, delivered: 700)
            // Failed ones twice, all others once: nothing handed over again after its success.
            let attempts = sink.attempts
            #expect(attempts.count == 700)
            #expect(attempts.filter { $0.value == 2 }.keys.allSatisfy { $0 % 7 == 0 })
            #expect(attempts.values.filter { $0 == 2 }.count == 100)
            #expect(sink.maxInFlight == 1)
            try journal.close()
        }
    }
}
