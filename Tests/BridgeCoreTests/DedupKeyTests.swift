@testable import BridgeCore
import Foundation
import GRDB
import Testing
import TestSupport
import ThingSpace

@Suite struct DedupKeyTests {
    static let account = "0000123456-00001"

    static func polled(_ n: Int, at timestamp: String) -> BridgeEvent {
        let message = MOSMSCallback(deviceIDs: [DeviceID(kind: "mdn", id: "70228955\(n % 100)")], text: "m\(n)", timestamp: timestamp)
        return EventNormalizer.normalize(message, account: account, channel: .poll, receivedAt: Date())
    }

    @Test func timestampKeysOfOneSecondAreNeighboursAndRequestKeysAreNegative() throws {
        let a = try #require(DedupKey(event: Self.polled(1, at: "2026-11-29T02:13:05-08:00")))
        let b = try #require(DedupKey(event: Self.polled(2, at: "2026-11-29T02:13:05-08:00")))
        let later = try #require(DedupKey(event: Self.polled(3, at: "2026-11-29T02:13:06-08:00")))
        #expect(a.slot >> 32 == b.slot >> 32)
        #expect(later.slot >> 32 == a.slot >> 32 + 1)
        #expect(a.slot > 0 && a.idHash != b.idHash)
        let request = try #require(DedupKey(event: JournalTests.event(1)))
        #expect(request.slot < 0)
        // The same message always gives the same key; a random id gives none.
        #expect(DedupKey(event: Self.polled(1, at: "2026-11-29T02:13:05-08:00")) == a)
        let anonymous = EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: [DeviceID(kind: "mdn", id: "7022895500")], text: "x"), account: Self.account, channel: .callback, receivedAt: Date()
        )
        #expect(DedupKey(event: anonymous) == nil)
    }

    @Test func probingSkipsAnotherEventAtTheSameSlot() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            let event = Self.polled(7, at: "2026-11-29T02:13:05-08:00")
            let key = try #require(DedupKey(event: event))
            // Another event already holds this event's slot (a 32-bit collision within one second).
            try await journal.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO dedup (key, id_hash, event_seq, first_seen) VALUES (?, ?, 999, ?)",
                    arguments: [key.slot, key.idHash ^ 1, Date().timeIntervalSince1970]
                )
            }
            let first = try await journal.append([JournalEntry(event: event, deliveries: [])])
            guard case .stored(let sequence) = first[0] else { Issue.record("expected stored, got \(first)"); return }
            let again = try await journal.append([JournalEntry(event: event, deliveries: [])])
            #expect(again == [.duplicate(sequence: sequence)])
            let slots = try await journal.pool.read { try Int64.fetchAll($0, sql: "SELECT key FROM dedup ORDER BY key") }
            #expect(slots == [key.slot, key.slot + 1])
            try journal.close()
        }
    }

    @Test func aVersion1JournalIsUpgradedAndItsEventsAreStillRecognised() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let polled = Self.polled(1, at: "2026-11-29T02:13:05-08:00")
            let pushed = JournalTests.event(2)
            // A journal as version 1 left it: text keys `t|<time>|<id>` and `r|<id>`.
            do {
                let queue = try DatabaseQueue(path: path)
                try JournalSchema.migrator.migrate(queue, upTo: "v1-events-deliveries-dedup-quarantine")
                try await queue.write { db in
                    for (event, key) in [(polled, "t|\(polled.time)|\(polled.id)"), (pushed, "r|\(pushed.id)")] {
                        try db.execute(
                            sql: """
                                INSERT INTO events (id, account, subject, channel, received_at, deliveries, body)
                                VALUES (?, ?, ?, ?, ?, 0, ?)
                                """,
                            arguments: [event.id, Self.account, event.subject, event.data.channel.rawValue, event.data.receivedAt, try event.jsonData()]
                        )
                        try db.execute(
                            sql: "INSERT INTO dedup_keys (key, event_seq, first_seen) VALUES (?, ?, ?)",
                            arguments: [key, db.lastInsertedRowID, Date().timeIntervalSince1970]
                        )
                    }
                }
                try queue.close()
            }
            let journal = try SQLiteJournal(path: path)
            let again = try await journal.append([
                JournalEntry(event: polled, deliveries: []), JournalEntry(event: pushed, deliveries: []),
            ])
            #expect(again == [.duplicate(sequence: 1), .duplicate(sequence: 2)])
            let tables = try await journal.pool.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE name LIKE 'dedup%' ORDER BY name") }
            #expect(tables == ["dedup", "dedup_age"])
            try journal.close()
        }
    }
}

/// The outbox is read a batch at a time from backlogs of millions: the query must walk an index
/// in its own order and stop at the limit, never sort every due row.
@Suite struct OutboxQueryPlanTests {
    @Test(arguments: [false, true])
    func theDueQueryNeverSorts(perDeviceOrder: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let sql = SQLiteJournal.dueSQL(perDeviceOrder: perDeviceOrder)
            let plan = try await journal.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: ["s", 1e12, 0.0, 0, 256]).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
            #expect(plan.contains { $0.contains("deliveries_due") }, "\(plan)")
            try journal.close()
        }
    }
}
