import BridgeCore
import Foundation
import GRDB
import Testing
import TestSupport
import ThingSpace

@Suite struct JournalTests {
    static func event(_ n: Int, requestID: String? = nil) -> BridgeEvent {
        let message = MOSMSCallback(
            requestID: requestID ?? "req-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "70228955\(n % 10)\(n % 10)")], text: "m\(n)"
        )
        return EventNormalizer.normalize(message, account: "0000123456-00001", channel: .callback, receivedAt: Date())
    }

    @Test func storesEventsWithTheirDeliveriesAndRecognisesDuplicates() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let first = try await journal.append([
                JournalEntry(event: Self.event(1), deliveries: [.init(route: "r", sink: "a"), .init(route: "r", sink: "b")]),
                JournalEntry(event: Self.event(2), deliveries: []),
            ])
            guard case .stored = first[0], case .stored = first[1] else { Issue.record("expected stored, got \(first)"); return }
            let again = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [.init(route: "r", sink: "a")])])
            guard case .duplicate = again[0] else { Issue.record("expected duplicate, got \(again)"); return }

            let stats = try await journal.stats()
            #expect(stats.events == 2)
            #expect(stats.unmatchedEvents == 1)
            #expect(stats.duplicatesSeen == 1)
            #expect(stats.pendingBySink == ["a": 1, "b": 1])
            try journal.close()
        }
    }

    /// `count` distinct messages of 600 characters each (a page of the history, in WAL frames).
    static func longMessages(_ count: Int, prefix: String) -> [JournalEntry] {
        let text = String(repeating: "x", count: 600)
        return (0..<count).map { n in
            let message = MOSMSCallback(requestID: "\(prefix)-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "7022895500")], text: text)
            let event = EventNormalizer.normalize(message, account: "0000123456-00001", channel: .poll, receivedAt: Date())
            return JournalEntry(event: event, deliveries: [.init(route: "r", sink: "s")])
        }
    }

    @Test func checkpointsRunOffTheCommitPath() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            // ~25 pages per commit: past the 250-frame soft limit after ~10 commits.
            for page in 0..<120 {
                _ = try await journal.append(Self.longMessages(100, prefix: "ckpt-\(page)"))
            }
            // The thread runs asynchronously; give it a moment.
            for _ in 0..<200 where journal.checkpointCounts.background == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(journal.checkpointCounts.background >= 1)
            #expect(journal.checkpointCounts.inline == 0)  // no commit waited for a checkpoint
            // Copied back while the WAL kept growing: the file now holds most of the pages.
            let databaseSize = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            #expect(databaseSize > 4 * 1024 * 1024)
            try journal.close()
            let reopened = try SQLiteJournal(path: path)
            #expect(try await reopened.stats().events == 12_000)
            try reopened.close()
            let check = try await DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
            #expect(check == "ok")
        }
    }

    /// The WAL stays near the soft limit under back-to-back commits, with no commit checkpointing
    /// inline. Whether a cycle ends with the thread catching up or with the writer finishing it
    /// depends on timing; `CheckpointScheduleTests` covers the decisions themselves.
    @Test func theWALStaysSmallUnderBackToBackCommits() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            var largestWAL = 0
            // About 60 frames per commit, 200 commits: some 12,000 frames (48 MiB) written.
            for page in 0..<200 {
                _ = try await journal.append(Self.longMessages(50, prefix: "wal-\(page)"))
                let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
                largestWAL = max(largestWAL, wal)
            }
            let counts = journal.checkpointCounts
            #expect(counts.background >= 1)
            #expect(counts.inline == 0)
            // Never near the 64 MiB hard limit: a few cycles of 250 frames (1 MiB) at most.
            #expect(largestWAL < 8 * 1024 * 1024, "largest WAL: \(largestWAL) bytes")
            try journal.close()
            let check = try await DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
            #expect(check == "ok")
        }
    }

    @Test func isInWALModeWithFullSync() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            _ = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [])])
            // The connection that commits must fsync every commit (GRDB's pool sets NORMAL when it
            // enables WAL; the journal sets FULL after it).
            #expect(try journal.synchronousMode() == 2)
            // A delivered mark is written without its own fsync; the connection is FULL again after.
            let stored = try await journal.append([JournalEntry(event: Self.event(2), deliveries: [.init(route: "r", sink: "s")])])
            let due = try await journal.dueDeliveries(sink: "s", limit: 10)
            try await journal.markDelivered(due.map(\.deliveryID))
            #expect(try journal.synchronousMode() == 2)
            #expect(stored.count == 1)
            #expect(try await journal.stats().deliveredBySink["s"] == 1)
            try journal.close()
            // Inspect the file with an independent connection, as an operator's sqlite3 would.
            let queue = try DatabaseQueue(path: path)
            let mode = try await queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
            let autoVacuum = try await queue.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") }
            #expect(autoVacuum == 2)  // incremental
            let migrations = try await queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
            #expect(migrations == [
                "v1-events-deliveries-dedup-quarantine", "v2-integer-dedup-keys-ordered-deliveries",
                "v3-routes-version-destination-options", "v4-webhook-endpoint-state", "v5-delivery-streams",
            ])
        }
    }

    @Test func survivesCloseAndReopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            do {
                let journal = try SQLiteJournal(path: path)
                _ = try await journal.append((1...3).map { JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "file")]) })
                let due = try await journal.dueDeliveries(sink: "file", limit: 10)
                #expect(due.count == 3)
                try await journal.markDelivered([due[0].deliveryID])
                try journal.close()
            }
            let reopened = try SQLiteJournal(path: path, backgroundCheckpoints: false)
            let due = try await reopened.dueDeliveries(sink: "file", limit: 10)
            #expect(due.map { try? BridgeEvent.decode($0.eventJSON).data.text } == ["m2", "m3"])
            let stats = try await reopened.stats()
            #expect(stats.deliveredBySink == ["file": 1])
            #expect(stats.pendingBySink == ["file": 2])
            // The same event arriving after the restart is still a duplicate.
            let outcome = try await reopened.append([JournalEntry(event: Self.event(1), deliveries: [.init(route: "r", sink: "file")])])
            guard case .duplicate = outcome[0] else { Issue.record("expected duplicate after reopen, got \(outcome)"); return }
            try reopened.close()
        }
    }

    @Test func retriesWaitAndDeadLettersStop() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            _ = try await journal.append([1, 2].map { JournalEntry(event: Self.event($0), deliveries: [.init(route: "r", sink: "s")]) })
            let due = try await journal.dueDeliveries(sink: "s", limit: 10)
            try await journal.markRetry(due[0].deliveryID, error: "boom", retryAt: Date().addingTimeInterval(3600))
            try await journal.markDead(due[1].deliveryID, error: "bad")
            #expect(try await journal.dueDeliveries(sink: "s", limit: 10).isEmpty)
            let later = try await journal.dueDeliveries(sink: "s", limit: 10, now: Date().addingTimeInterval(7200))
            // The retried delivery (read from the stream) is a row of its own now.
            #expect(later.map(\.eventID) == [due[0].eventID])
            #expect(later.first?.isStreamed == false)
            #expect(later.first?.attempts == 1)
            #expect(try await journal.stats().deadBySink == ["s": 1])
            try journal.close()
        }
    }

    @Test func dedupForgetsKeysOlderThanTheWindow() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path, dedupWindow: .seconds(3600))
            _ = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [])])
            // Within the window: a duplicate.
            let again = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [])])
            guard case .duplicate = again[0] else { Issue.record("expected duplicate, got \(again)"); return }
            // Two hours later the key is pruned, and the same id is a new arrival.
            #expect(try await journal.pruneDedupKeys(now: Date().addingTimeInterval(7200)) == 1)
            let later = try await journal.append([JournalEntry(event: Self.event(1), deliveries: [])])
            guard case .stored = later[0] else { Issue.record("expected stored after the window, got \(later)"); return }
            #expect(try await journal.stats().events == 2)
            try journal.close()
        }
    }

    @Test func quarantineKeepsTheRawBody() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            let body = Data(#"{"username":"u","password":"p","weird":true}"#.utf8)
            let id = try await journal.quarantine(account: "acct", reason: "missing_text: …", body: body, receivedAt: Date())
            #expect(try await journal.stats().quarantined == 1)
            try journal.close()
            let queue = try DatabaseQueue(path: path)
            let stored = try await queue.read { try Data.fetchOne($0, sql: "SELECT body FROM quarantine WHERE id = ?", arguments: [id]) }
            #expect(stored == body)
        }
    }

    @Test func aFailedCommitStoresNothing() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending("journal.sqlite").path
            let journal = try SQLiteJournal(path: path)
            // A real SQLite failure, injected from outside, at the last statement of the
            // transaction (after the event was inserted): a sink's stream counter cannot be updated.
            let queue = try DatabaseQueue(path: path)
            try await queue.write { try $0.execute(sql: "CREATE TRIGGER fail BEFORE UPDATE ON delivery_streams BEGIN SELECT RAISE(ABORT, 'injected'); END") }
            await #expect(throws: JournalError.self) {
                try await journal.append([JournalEntry(event: Self.event(1), deliveries: [.init(route: "r", sink: "s")])])
            }
            #expect(try await journal.stats().events == 0)
            try journal.close()
        }
    }
}

@Suite struct GroupCommitTests {
    @Test func concurrentAppendsShareTransactionsAndEachGetsItsOwnOutcome() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let count = 300
            let outcomes = try await withThrowingTaskGroup(of: (Int, [AppendOutcome]).self) { group in
                for n in 0..<count {
                    group.addTask {
                        // Every fifth request repeats an earlier message: a duplicate, even inside one transaction.
                        let event = JournalTests.event(n % 5 == 4 ? n - 1 : n, requestID: "gc-\(n % 5 == 4 ? n - 1 : n)")
                        return (n, try await journal.append([JournalEntry(event: event, deliveries: [.init(route: "r", sink: "s")])]))
                    }
                }
                var all: [Int: [AppendOutcome]] = [:]
                for try await (n, outcome) in group { all[n] = outcome }
                return all
            }
            #expect(outcomes.count == count)
            let stored = outcomes.values.filter { if case .stored = $0[0] { true } else { false } }.count
            #expect(stored == count - count / 5)
            let stats = try await journal.stats()
            #expect(stats.events == count - count / 5)
            #expect(stats.pendingBySink["s"] == count - count / 5)
            // Shared: far fewer transactions than requests.
            #expect(journal.transactionsCommitted < count)
            try journal.close()
        }
    }

    @Test func aLoneAppendCommitsAtOnce() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            _ = try await journal.append([JournalEntry(event: JournalTests.event(1), deliveries: [])])
            _ = try await journal.append([JournalEntry(event: JournalTests.event(2), deliveries: [])])
            #expect(journal.transactionsCommitted == 2)
            try journal.close()
        }
    }
}
