import BridgeCore
import Foundation
import Testing
import TestSupport
import ThingSpace

@Suite struct DeadLetterTests {
    static func event(_ n: Int, device: String) -> BridgeEvent {
        EventNormalizer.normalize(
            MOSMSCallback(requestID: "dl-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: device)], text: "m\(n)"),
            account: "0000123456-00001", channel: .callback, receivedAt: Date()
        )
    }

    /// Five deliveries: two to `files` (dead), one to `hooks` (dead), one to `hooks` (retrying), one to `files` (pending).
    func seeded(_ directory: TemporaryDirectory) async throws -> SQLiteJournal {
        let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
        let entries = [
            JournalEntry(event: Self.event(1, device: "7022895501"), deliveries: [.init(route: "trackers", sink: "files")]),
            JournalEntry(event: Self.event(2, device: "4155550001"), deliveries: [.init(route: "meters", sink: "files")]),
            JournalEntry(event: Self.event(3, device: "7022895502"), deliveries: [.init(route: "trackers", sink: "hooks")]),
            JournalEntry(event: Self.event(4, device: "7022895503"), deliveries: [.init(route: "trackers", sink: "hooks")]),
            JournalEntry(event: Self.event(5, device: "7022895504"), deliveries: [.init(route: "trackers", sink: "files")]),
        ]
        _ = try await journal.append(entries)
        let files = try await journal.dueDeliveries(sink: "files", limit: 10)
        let hooks = try await journal.dueDeliveries(sink: "hooks", limit: 10)
        try await journal.markRetry(files[0].deliveryID, error: "disk full", retryAt: Date())
        try await journal.markDead(files[0].deliveryID, error: "retries exhausted after 2 attempts: disk full")
        try await journal.markDead(files[1].deliveryID, error: "rejected: bad path")
        try await journal.markDead(hooks[0].deliveryID, error: "HTTP 400")
        try await journal.markRetry(hooks[1].deliveryID, error: "HTTP 503", retryAt: Date().addingTimeInterval(3600))
        return journal
    }

    @Test func listsAndFiltersDeadLetters() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await seeded(directory)
            #expect(try await journal.deadLetters().count == 3)
            #expect(try await journal.deadLetters(DeadLetterFilter(sink: "files")).map(\.route) == ["trackers", "meters"])
            #expect(try await journal.deadLetters(DeadLetterFilter(route: "trackers")).count == 2)
            #expect(try await journal.deadLetters(DeadLetterFilter(device: "70228*")).map(\.subject) == ["7022895501", "7022895502"])
            #expect(try await journal.deadLetters(DeadLetterFilter(since: Date().addingTimeInterval(-60))).count == 3)
            #expect(try await journal.deadLetters(DeadLetterFilter(until: Date().addingTimeInterval(-60))).isEmpty)
            try journal.close()
        }
    }

    @Test func showsTheEventReasonAndAttemptHistory() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await seeded(directory)
            let first = try #require(try await journal.deadLetters(DeadLetterFilter(sink: "files")).first)
            let shown = try #require(try await journal.deadLetter(id: first.id))
            #expect(shown.letter.reason.contains("retries exhausted"))
            #expect(shown.letter.attempts == 2)
            #expect(shown.attempts.map(\.outcome) == ["retry", "dead"])
            #expect(try BridgeEvent.decode(shown.eventJSON).data.text == "m1")
            #expect(try await journal.deadLetter(id: 9999) == nil)
            try journal.close()
        }
    }

    @Test func replayPutsThemBackDueNowWithAFreshBudget() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await seeded(directory)
            #expect(try await journal.replayDeadLetters(DeadLetterFilter(sink: "files")) == 2)
            let due = try await journal.dueDeliveries(sink: "files", limit: 10)
            #expect(due.count == 3)
            #expect(due.allSatisfy { $0.attempts == 0 })
            #expect(try await journal.deadLetters().map(\.sink) == ["hooks"])
            try journal.close()
        }
    }

    @Test func purgeDeletesOnlyWhatMatches() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await seeded(directory)
            #expect(try await journal.purgeDeadLetters(DeadLetterFilter(device: "4155*")) == 1)
            #expect(try await journal.deadLetters().count == 2)
            let stats = try await journal.stats()
            #expect(stats.events == 5)  // events stay
            #expect(stats.deadBySink == ["files": 1, "hooks": 1])
            #expect(stats.pendingBySink == ["files": 1, "hooks": 1])
            try journal.close()
        }
    }
}

@Suite struct RetentionTests {
    @Test func prunesOnlyEventsDeliveredEverywhereAndOldEnough() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            let entries = (1...4).map { n in
                JournalEntry(event: DeadLetterTests.event(n, device: "70228955\(n)0"), deliveries: [.init(route: "r", sink: "a"), .init(route: "r", sink: "b")])
            } + [JournalEntry(event: DeadLetterTests.event(5, device: "1"), deliveries: [])]
            _ = try await journal.append(entries)
            let a = try await journal.dueDeliveries(sink: "a", limit: 10)
            let b = try await journal.dueDeliveries(sink: "b", limit: 10)
            // Event 1: delivered to both. Event 2: delivered to a, pending on b. Event 3: delivered to a, dead on b.
            // Event 4: delivered to both. Event 5: matched nothing.
            try await journal.markDelivered([a[0].deliveryID, b[0].deliveryID, a[1].deliveryID, a[2].deliveryID, a[3].deliveryID, b[3].deliveryID])
            try await journal.markDead(b[2].deliveryID, error: "rejected")

            // Nothing is old enough yet.
            #expect(try await journal.pruneDeliveredEvents(receivedBefore: Date().addingTimeInterval(-3600)) == 0)
            // An hour from now, events 1, 4 and 5 are past a one-hour retention; 2 (pending) and 3 (dead letter) stay.
            #expect(try await journal.pruneDeliveredEvents(receivedBefore: Date().addingTimeInterval(3600), chunk: 2) == 3)
            let stats = try await journal.stats()
            #expect(stats.events == 2)
            #expect(stats.pendingBySink == ["b": 1])
            #expect(stats.deadBySink == ["b": 1])
            #expect(try await journal.deadLetters().count == 1)
            try journal.close()
        }
    }
}

@Suite struct OrderingTests {
    /// `s` keeps per-device order (the journal was opened with it among its ordered sinks); `u`
    /// gets the same events without.
    @Test func perDeviceOrderHoldsBackADevicesLaterEventsOnly() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path, orderedSinks: ["s"])
            let entries = [(1, "A"), (2, "A"), (3, "B"), (4, "A")].map { n, device in
                JournalEntry(event: DeadLetterTests.event(n, device: device), deliveries: [.init(route: "r", sink: "s"), .init(route: "r", sink: "u")])
            }
            _ = try await journal.append(entries)
            // Unordered: everything due at once. Ordered: each device's oldest only.
            #expect(try await journal.dueDeliveries(sink: "u", limit: 10).map(\.subject) == ["A", "A", "B", "A"])
            let ordered = try await journal.dueDeliveries(sink: "s", limit: 10)
            #expect(ordered.map(\.subject) == ["A", "B"])

            // A's first event fails and waits for its retry: A's others wait too, B does not.
            try await journal.markRetry(ordered[0].deliveryID, error: "down", retryAt: Date().addingTimeInterval(3600))
            try await journal.markDelivered([ordered[1].deliveryID])
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).isEmpty)
            #expect(try await journal.dueDeliveries(sink: "u", limit: 10).count == 4)

            // Once it is dead-lettered, A's next event goes.
            try await journal.markDead(ordered[0].deliveryID, error: "gave up")
            let next = try await journal.dueDeliveries(sink: "s", limit: 10)
            #expect(next.count == 1)
            #expect(try BridgeEvent.decode(next[0].eventJSON).data.text == "m2")
            try journal.close()
        }
    }

    @Test func aSinkSwitchedToPerDeviceOrderKeepsOrderForRowsWrittenBefore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let before = try SQLiteJournal(path: path)
            _ = try await before.append([(1, "A"), (2, "A"), (3, "B")].map { n, device in
                JournalEntry(event: DeadLetterTests.event(n, device: device), deliveries: [.init(route: "r", sink: "s")])
            })
            try before.close()
            // Reopened with the sink now ordered: its pending rows are flagged and indexed.
            let after = try SQLiteJournal(path: path, orderedSinks: ["s"])
            #expect(try await after.dueDeliveries(sink: "s", limit: 10).map(\.subject) == ["A", "B"])
            try after.close()
        }
    }
}
