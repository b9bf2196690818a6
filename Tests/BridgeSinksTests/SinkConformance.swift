@testable import BridgeCore
import BridgeSinks
import Synchronization
import Foundation
import Logging
import Testing
import TestSupport
import ThingSpace

/// What every sink must do, checked the same way for each (modelled on Vector's
/// `assert_sink_compliance`): deliver a batch and report each item delivered; report a
/// transient failure as retriable (never delivered, never thrown); deliver the same items after
/// it heals; accept an empty batch; close.
///
/// A sink's test supplies how to read what arrived and how to break and heal it for real.
struct SinkConformance {
    var makeSink: @Sendable () -> any Sink
    /// The event ids the destination holds now (as many times as they arrived).
    var received: @Sendable () throws -> [String]
    /// Makes the destination fail transiently (a real fault, not a flag in the sink).
    var breakDestination: @Sendable () throws -> Void
    var healDestination: @Sendable () throws -> Void

    static func items(_ range: ClosedRange<Int>, tag: String) throws -> [SinkItem] {
        try range.map { n in
            let event = EventNormalizer.normalize(
                MOSMSCallback(requestID: "\(tag)-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "70228955\(n % 10)0")], text: "\(tag) \(n)"),
                account: "0000123456-00001", channel: .callback, receivedAt: Date()
            )
            return SinkItem(deliveryID: Int64(n), route: "conformance", attempt: 1, event: event, eventJSON: try event.jsonData())
        }
    }

    func run() async throws {
        let sink = makeSink()

        // Delivers, and reports one outcome per item, in order.
        let batch = try Self.items(1...25, tag: "ok")
        let outcomes = await sink.deliver(batch)
        #expect(outcomes == Array(repeating: .delivered, count: batch.count), "sink \(sink.name): every item delivered")
        #expect(Set(try received()).isSuperset(of: batch.map(\.event.id)), "sink \(sink.name): the destination has them")

        // An empty batch is fine.
        #expect(await sink.deliver([]).isEmpty)

        // A transient failure is reported, item by item, as retriable.
        try breakDestination()
        let failing = try Self.items(26...30, tag: "retry")
        let failed = await sink.deliver(failing)
        #expect(failed.count == failing.count)
        #expect(failed.allSatisfy { if case .retriable = $0 { true } else { false } }, "sink \(sink.name): transient failure → retriable, got \(failed)")
        #expect(Set(try received()).isDisjoint(with: failing.map(\.event.id)), "sink \(sink.name): nothing half-delivered")

        // Once healed, the same items go through.
        try healDestination()
        let retried = await sink.deliver(failing)
        #expect(retried == Array(repeating: .delivered, count: failing.count), "sink \(sink.name): delivered after healing")
        let ids = try received()
        #expect(Set(ids).isSuperset(of: (batch + failing).map(\.event.id)))
        #expect(ids.count == Set(ids).count, "sink \(sink.name): no duplicates from the failed attempt")

        await sink.close()
    }
}

@Suite struct SinkConformanceTests {
    @Test func fileSinkConforms() async throws {
        try await withTemporaryDirectory { directory in
            let file = directory.appending("conformance.jsonl")
            let logger = Logger(label: "conformance")
            try await SinkConformance(
                makeSink: { FileSink(name: "file", config: FileSinkConfig(path: "conformance.jsonl"), dataDirectory: directory.url, logger: logger) },
                received: { try readJSONLines(file).compactMap { $0["id"] as? String } },
                breakDestination: {
                    // The file becomes immutable: writes fail with EPERM, even for root, even on an open descriptor.
                    try Self.chattr("+i", file.path)
                },
                healDestination: { try Self.chattr("-i", file.path) }
            ).run()
        }
    }

    static func chattr(_ flag: String, _ path: String) throws {
        try #require(setImmutable(path, flag == "+i"), "chattr \(flag) failed (the file system must support it)")
    }
}

/// Retry timing with an injected clock: no test sleeps for a backoff.
@Suite struct RetryTimingTests {
    final class Clock: Sendable {
        private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { current.withLock { $0 } }
        func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    /// A journal and a file sink writing `out.jsonl`, both in `directory`.
    static func journalAndFileSink(in directory: TemporaryDirectory) throws -> (SQLiteJournal, URL, FileSink) {
        let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
        let file = try directory.write("", to: "out.jsonl")
        let sink = FileSink(name: "file", config: FileSinkConfig(path: "out.jsonl"), dataDirectory: directory.url, logger: Logger(label: "t"))
        return (journal, file, sink)
    }

    @Test func failuresWaitTheirBackoffOnTheInjectedClockThenDeadLetter() async throws {
        try await withTemporaryDirectory { directory in
            let clock = Clock()
            let (journal, file, sink) = try Self.journalAndFileSink(in: directory)
            let policy = RetryPolicy(base: .seconds(10), cap: .seconds(40), maxAttempts: 4)
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), retry: policy, logger: Logger(label: "t"), now: { clock.now }
            )
            let event = try SinkConformance.items(1...1, tag: "timing")[0].event
            // Enqueued "now" on the injected clock.
            _ = try await journal.append([JournalEntry(event: event, deliveries: [.init(route: "r", sink: "file")])])
            try SinkConformanceTests.chattr("+i", file.path)
            defer { try? SinkConformanceTests.chattr("-i", file.path) }

            // Attempt n fails; the next is due within min(cap, base × 2^(n-1)) on the clock, not before.
            var ceilings: [Double] = []
            for attempt in 1...3 {
                await dispatcher.drainDue()
                let ceiling = min(40, 10 * pow(2, Double(attempt - 1)))
                ceilings.append(ceiling)
                // Failed, and scheduled no later than the ceiling on the injected clock.
                let scheduled = try await journal.dueDeliveries(sink: "file", limit: 10, now: clock.now.addingTimeInterval(ceiling))
                #expect(scheduled.count == 1)
                #expect(scheduled.first?.attempts == attempt)
                clock.advance(ceiling + 0.001)
            }
            #expect(ceilings == [10, 20, 40])
            // The fourth failure exhausts the policy: dead letter with its reason and history.
            await dispatcher.drainDue()
            let letters = try await journal.deadLetters()
            #expect(letters.count == 1)
            #expect(letters.first?.reason.contains("retries exhausted after 4 attempts") == true)
            #expect(try await journal.deadLetter(id: letters[0].id)?.attempts.map(\.outcome) == ["retry", "retry", "retry", "dead"])
            try journal.close()
        }
    }

    @Test func aSinkThatFailsAWholeBatchIsTriedOnceNotOncePerPendingDelivery() async throws {
        try await withTemporaryDirectory { directory in
            let clock = Clock()
            let (journal, file, sink) = try Self.journalAndFileSink(in: directory)
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), retry: RetryPolicy(maxAttempts: nil), batchSize: 50,
                logger: Logger(label: "t"), now: { clock.now }
            )
            let items = try SinkConformance.items(1...180, tag: "outage")
            _ = try await journal.append(items.map { JournalEntry(event: $0.event, deliveries: [.init(route: "r", sink: "file")]) })
            try SinkConformanceTests.chattr("+i", file.path)
            defer { try? SinkConformanceTests.chattr("-i", file.path) }

            // The sink is down: one batch is tried, and the round stops there.
            #expect(await dispatcher.drainDue() == .sinkFailing)
            // (Due within the hour: all 180; the tried batch's retries are jittered into it.)
            let pending = try await journal.dueDeliveries(sink: "file", limit: 1000, now: clock.now.addingTimeInterval(3600))
            #expect(pending.count == 180)
            #expect(pending.filter { $0.attempts == 0 }.count == 130)
            #expect(pending.filter { $0.attempts == 1 }.count == 50)

            // Back up: everything goes, the failed batch included once its retry is due.
            try SinkConformanceTests.chattr("-i", file.path)
            clock.advance(3600)
            #expect(await dispatcher.drainDue() == .done)
            let stats = try await journal.stats()
            #expect(try readJSONLines(file).count == 180, "\(stats)")
            #expect(try await journal.stats().deliveredBySink["file"] == 180)
            await sink.close()
            try journal.close()
        }
    }
}
