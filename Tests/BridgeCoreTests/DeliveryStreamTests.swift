import BridgeCore
import Foundation
import GRDB
import Testing
import TestSupport
import ThingSpace

/// The outbox of sinks without per-device order: no row per delivery, a cursor per sink
/// (`SQLiteJournal+Streams.swift`). Rows appear only for what fails or is marked one by one.
@Suite struct DeliveryStreamTests {
    static func event(_ n: Int, device: String? = nil) -> BridgeEvent {
        let message = MOSMSCallback(
            requestID: "stream-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: device ?? "70228955\(n % 10)\(n % 10)")], text: "m\(n)"
        )
        return EventNormalizer.normalize(message, account: "0000123456-00001", channel: .callback, receivedAt: Date())
    }

    /// Runs `body` with a journal (and its file's path) in a temporary folder, closed after it.
    static func withJournal(_ body: (SQLiteJournal, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            try await body(journal, path)
            try journal.close()
        }
    }

    /// Events `numbers`, each routed once to sink `s` (route `r`).
    static func appendToS(_ journal: SQLiteJournal, _ numbers: ClosedRange<Int>) async throws {
        _ = try await journal.append(numbers.map { JournalEntry(event: event($0), deliveries: [.init(route: "r", sink: "s")]) })
    }

    static func rows(_ path: String, sink: String? = nil) async throws -> Int {
        try await DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries WHERE ? IS NULL OR sink = ?", arguments: [sink, sink]) ?? -1
        }
    }

    @Test func deliveriesToUnorderedSinksWriteNoRows() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path, orderedSinks: ["ordered"])
            _ = try await journal.append((1...10).map {
                JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "streamed"), .init(route: "r", sink: "ordered")])
            })
            #expect(try await Self.rows(path, sink: "streamed") == 0)
            #expect(try await Self.rows(path, sink: "ordered") == 10)
            #expect(try await journal.pendingBySink() == ["streamed": 10, "ordered": 10])
            let due = try await journal.dueDeliveries(sink: "streamed", limit: 100)
            #expect(due.map(\.eventID) == (1...10).map { Self.event($0).id })
            #expect(due.allSatisfy { $0.isStreamed })
            try journal.close()
        }
    }

    @Test func aSettledBatchMovesTheCursorAndWhatWasNotSettledComesAgainAfterARestart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            try await Self.appendToS(journal, 1...10)
            let first = try await journal.readBatch(sink: "s", limit: 4)
            #expect(first.items.count == 4)
            try await journal.settleAllDelivered(first)
            let stats = try await journal.stats()
            #expect(stats.pendingBySink["s"] == 6)
            #expect(stats.deliveredBySink["s"] == 4)
            // Read but never settled (a crash at the sink): read again after a restart.
            let second = try await journal.readBatch(sink: "s", limit: 4)
            #expect(second.items.map(\.eventID) == (5...8).map { Self.event($0).id })
            try journal.close()
            let reopened = try SQLiteJournal(path: path)
            let again = try await reopened.readBatch(sink: "s", limit: 100)
            #expect(again.items.map(\.eventID) == (5...10).map { Self.event($0).id })
            try await reopened.settleAllDelivered(again)
            #expect(try await reopened.dueDeliveries(sink: "s", limit: 100).isEmpty)
            #expect(try await reopened.stats().deliveredBySink["s"] == 10)
            #expect(try await reopened.pendingBySink()["s"] == nil)
            #expect(try await Self.rows(path) == 0)
            try reopened.close()
        }
    }

    @Test func failedStreamItemsBecomeRowsThatKeepTheirScheduleAndHistory() async throws {
        try await Self.withJournal { journal, path in
            try await Self.appendToS(journal, 1...3)
            let batch = try await journal.readBatch(sink: "s", limit: 10)
            let ids = batch.items.map(\.deliveryID)
            try await journal.settle(batch, delivered: [ids[1]], failures: [
                DeliveryFailure(deliveryID: ids[0], reason: "HTTP 503", retryAt: Date().addingTimeInterval(3600)),
                DeliveryFailure(deliveryID: ids[2], reason: "HTTP 400", retryAt: nil),
            ])
            #expect(try await Self.rows(path) == 2)
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).isEmpty)
            let later = try await journal.dueDeliveries(sink: "s", limit: 10, now: Date().addingTimeInterval(7200))
            #expect(later.map(\.eventID) == [Self.event(1).id])
            #expect(later.first?.attempts == 1)
            #expect(later.first?.isStreamed == false)
            let dead = try await journal.deadLetters()
            #expect(dead.map(\.eventID) == [Self.event(3).id])
            let stats = try await journal.stats()
            #expect(stats.pendingBySink["s"] == 1)
            #expect(stats.deliveredBySink["s"] == 1)
            #expect(stats.deadBySink["s"] == 1)
            // Replayed, the dead letter is a row due again.
            #expect(try await journal.replayDeadLetters(DeadLetterFilter()) == 1)
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).map(\.eventID) == [Self.event(3).id])
        }
    }

    @Test func aBatchReadAfterAnUnsettledOneCannotMoveTheCursorPastIt() async throws {
        try await Self.withJournal { journal, _ in
            try await Self.appendToS(journal, 1...6)
            let first = try await journal.readBatch(sink: "s", limit: 3)
            let second = try await journal.readBatch(sink: "s", limit: 3, after: first.cursor)
            #expect(second.items.map(\.eventID) == (4...6).map { Self.event($0).id })
            await #expect(throws: JournalError.self) {
                try await journal.settleAllDelivered(second)
            }
            #expect(try await journal.pendingBySink()["s"] == 6)
            try await journal.settleAllDelivered(first)
            try await journal.settleAllDelivered(second)
            #expect(try await journal.pendingBySink()["s"] == nil)
        }
    }

    /// The dispatcher reads the next batch before the current one is settled; when that read
    /// finds nothing and the current batch is then never settled (its recording failed), its
    /// items must still come again: the empty stretch lies after them.
    @Test func anEmptyReadAheadOfAnUnsettledBatchDoesNotSkipIt() async throws {
        try await Self.withJournal { journal, _ in
            try await Self.appendToS(journal, 1...3)
            let first = try await journal.readBatch(sink: "s", limit: 3)
            let ahead = try await journal.readBatch(sink: "s", limit: 3, after: first.cursor)
            #expect(ahead.items.isEmpty)
            try await journal.saveStreamPositions()  // must not move the cursor over `first` either
            let again = try await journal.readBatch(sink: "s", limit: 10)
            #expect(again.items.map(\.eventID) == (1...3).map { Self.event($0).id })
            try await journal.settleAllDelivered(again)
            #expect(try await journal.pendingBySink()["s"] == nil)
        }
    }

    @Test func eachSinkReadsOnlyItsOwnEventsAndAnIdleSinkSkipsAhead() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            _ = try await journal.append([JournalEntry(event: Self.event(0), deliveries: [.init(route: "r", sink: "rare")])])
            let rare = try await journal.readBatch(sink: "rare", limit: 10)
            try await journal.settleAllDelivered(rare)
            _ = try await journal.append((1...50).map { JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "busy")]) })
            // Nothing for `rare` among the 50: read once, then skipped.
            let empty = try await journal.readBatch(sink: "rare", limit: 10)
            #expect(empty.items.isEmpty)
            #expect(empty.stream == nil)
            _ = try await journal.append([
                JournalEntry(event: Self.event(51), deliveries: [.init(route: "r", sink: "busy"), .init(route: "r", sink: "rare")]),
            ])
            let next = try await journal.readBatch(sink: "rare", limit: 10)
            #expect(next.items.map(\.eventID) == [Self.event(51).id])
            try await journal.settleAllDelivered(next)
            #expect(try await journal.dueDeliveries(sink: "busy", limit: 100).count == 51)
            // Read to the end and found empty: saved as the cursor, so a restart does not read it again.
            _ = try await journal.append((52...59).map { JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "busy")]) })
            #expect(try await journal.readBatch(sink: "rare", limit: 10).items.isEmpty)
            try await journal.saveStreamPositions()
            try journal.close()
            let cursor = try await DatabaseQueue(path: directory.appending("journal.sqlite").path).read { db in
                try Int64.fetchOne(db, sql: "SELECT cursor FROM delivery_streams WHERE sink = 'rare'")
            }
            #expect(cursor == 60)
        }
    }

    @Test func twoRoutesToOneSinkAreTwoDeliveriesWithTheirOwnOptions() async throws {
        try await Self.withJournal { journal, path in
            var alarms = DeliveryOptions.default
            alarms.topic = "alarms"
            _ = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [
                .init(route: "all", sink: "kafka"), .init(route: "alarms", sink: "kafka", options: alarms),
            ])])
            let batch = try await journal.readBatch(sink: "kafka", limit: 10)
            #expect(batch.items.map(\.route) == ["all", "alarms"])
            #expect(batch.items.map(\.options.topic) == [nil, "alarms"])
            // One fails: only it becomes a row, with its route and options.
            try await journal.settle(batch, delivered: [batch.items[0].deliveryID], failures: [
                DeliveryFailure(deliveryID: batch.items[1].deliveryID, reason: "broker down", retryAt: Date()),
            ])
            let retry = try await journal.dueDeliveries(sink: "kafka", limit: 10, now: Date().addingTimeInterval(1))
            #expect(retry.map(\.route) == ["alarms"])
            #expect(retry.first?.options.topic == "alarms")
            #expect(try await Self.rows(path) == 1)
        }
    }

    @Test func itemsMarkedOneByOneGetRowsAndAreNotReadAgain() async throws {
        try await Self.withJournal { journal, path in
            try await Self.appendToS(journal, 1...3)
            let due = try await journal.dueDeliveries(sink: "s", limit: 10)
            try await journal.markDelivered([due[1].deliveryID])
            try await journal.markDelivered([due[1].deliveryID])  // twice: still one row
            #expect(try await Self.rows(path) == 1)
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).map(\.eventID) == [Self.event(1).id, Self.event(3).id])
            let stats = try await journal.stats()
            #expect(stats.pendingBySink["s"] == 2)
            #expect(stats.deliveredBySink["s"] == 1)
            // Delivered through its own row, ahead of the cursor: retention may take it (only it).
            #expect(try await journal.pruneDeliveredEvents(receivedBefore: Date().addingTimeInterval(60)) == 1)
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).map(\.eventID) == [Self.event(1).id, Self.event(3).id])
        }
    }

    @Test func aSinkThatNowKeepsPerDeviceOrderGetsRowsForWhatItsStreamHeld() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            _ = try await journal.append((1...4).map {
                JournalEntry(event: Self.event($0, device: $0 <= 2 ? "7022895500" : "7022895511"), deliveries: [.init(route: "r", sink: "s")])
            })
            try journal.close()
            let ordered = try SQLiteJournal(path: path, orderedSinks: ["s"])
            #expect(try await Self.rows(path, sink: "s") == 4)
            #expect(try await ordered.pendingBySink() == ["s": 4])
            let due = try await ordered.dueDeliveries(sink: "s", limit: 10)
            #expect(due.map(\.eventID) == [Self.event(1).id, Self.event(3).id])
            #expect(due.allSatisfy { !$0.isStreamed })
            try ordered.close()
        }
    }

    @Test func retentionKeepsEventsAheadOfAnyCursor() async throws {
        try await Self.withJournal { journal, _ in
            _ = try await journal.append((1...3).map {
                JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "a"), .init(route: "r", sink: "b")])
            })
            let a = try await journal.readBatch(sink: "a", limit: 10)
            try await journal.settleAllDelivered(a)
            #expect(try await journal.pruneDeliveredEvents(receivedBefore: Date().addingTimeInterval(60)) == 0)
            let b = try await journal.readBatch(sink: "b", limit: 2)
            try await journal.settleAllDelivered(b)
            #expect(try await journal.pruneDeliveredEvents(receivedBefore: Date().addingTimeInterval(60)) == 2)
            #expect(try await journal.dueDeliveries(sink: "b", limit: 10).map(\.eventID) == [Self.event(3).id])
        }
    }

    @Test func beyond63SinksDeliveriesFallBackToRows() async throws {
        try await Self.withJournal { journal, path in
            let sinks = (0..<65).map { "sink-\($0)" }
            _ = try await journal.append([JournalEntry(event: Self.event(1), deliveries: sinks.map { .init(route: "r", sink: $0) })])
            #expect(try await Self.rows(path) == 2)
            let pending = try await journal.pendingBySink()
            #expect(pending.count == 65)
            #expect(pending.values.allSatisfy { $0 == 1 })
            for sink in sinks {
                #expect(try await journal.dueDeliveries(sink: sink, limit: 10).map(\.eventID) == [Self.event(1).id])
            }
        }
    }
}

extension SQLiteJournal {
    /// Settles a batch as the sink delivered every item of it.
    fileprivate func settleAllDelivered(_ batch: OutboxBatch) async throws {
        try await settle(batch, delivered: batch.items.map(\.deliveryID), failures: [])
    }
}
