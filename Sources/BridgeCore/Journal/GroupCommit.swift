//===----------------------------------------------------------------------===//
// ThingBridge — group commit for the journal
//===----------------------------------------------------------------------===//

import Dispatch
import Metrics
import Synchronization

/// Lets concurrent appends share one transaction (one fsync) without adding latency.
///
/// One committer, on a serial queue of its own: an append queues its entries and waits. A caller
/// that finds the committer idle starts it; the committer then commits everything queued (up to
/// `maxBatch` entries) in one transaction, resumes those callers with their outcomes, and at
/// once commits whatever was queued meanwhile, until the queue is empty. A lone request commits
/// immediately; under load a batch is whatever arrived during one commit, so the wait is bounded
/// by one commit.
///
/// Why a committer of its own and not the callers' tasks taking turns (an earlier version: the
/// first caller led, and handed the lead to the next one when its commit was done): between two
/// commits the lead travelled from the SQLite writer thread to the next leader's event loop (where
/// it queued behind that loop's socket reads) and back to the writer. Here consecutive commits
/// follow each other on one thread with nothing in between, and the callers' tasks resume on
/// their own executors, in parallel, while the next commit is already running.
///
/// The commit runs on the committer's queue, never on Swift's cooperative pool (it blocks on
/// SQLite's writer and on the fsync).
final class GroupCommit<Entry: Sendable>: Sendable {
    typealias Commit = @Sendable ([Entry]) throws(JournalError) -> [AppendOutcome]

    private struct Waiter {
        var entries: [Entry]
        var continuation: CheckedContinuation<Result<[AppendOutcome], JournalError>, Never>
    }

    private struct State {
        var queued: [Waiter] = []
        var committing = false
        var transactions = 0
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "thingbridge.journal.commit", qos: .userInitiated)
    private let commit: Commit
    /// At most this many entries per transaction (a page of 100 plus many single callbacks); a
    /// single larger append still goes alone.
    let maxBatch: Int
    /// Made once: creating a metric looks it up in the registry under a lock, per commit.
    private let commitSeconds = Timer(label: "thingbridge_journal_commit_seconds")
    private let commitBatchSize = Recorder(label: "thingbridge_journal_commit_batch_size")

    /// - Parameter commit: Stores a batch in one transaction, returning one outcome per entry;
    ///   called on the committer's queue, one batch at a time.
    init(maxBatch: Int = 2000, commit: @escaping Commit) {
        self.maxBatch = maxBatch
        self.commit = commit
    }

    /// Transactions committed so far (tests, status).
    var transactions: Int { state.withLock { $0.transactions } }
    /// Appends waiting for a transaction to take them (tests).
    var waiting: Int { state.withLock { $0.queued.count } }

    /// Commits `entries` together with whatever else is queued; returns their outcomes once the
    /// transaction is durable.
    func append(_ entries: [Entry]) async throws(JournalError) -> [AppendOutcome] {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[AppendOutcome], JournalError>, Never>) in
            let start = state.withLock { state -> Bool in
                state.queued.append(Waiter(entries: entries, continuation: continuation))
                if state.committing { return false }
                state.committing = true
                return true
            }
            if start { queue.async { self.commitUntilEmpty() } }
        }
        return try result.get()
    }

    /// Commits batches until nothing is queued.
    private func commitUntilEmpty() {
        while true {
            let waiters = state.withLock { state -> [Waiter] in
                guard !state.queued.isEmpty else {
                    state.committing = false
                    return []
                }
                var size = state.queued[0].entries.count
                var taken = 1
                while taken < state.queued.count, size + state.queued[taken].entries.count <= maxBatch {
                    size += state.queued[taken].entries.count
                    taken += 1
                }
                let batch = Array(state.queued[0..<taken])
                state.queued.removeFirst(taken)
                return batch
            }
            guard !waiters.isEmpty else { return }

            var batch: [Entry] = []
            batch.reserveCapacity(waiters.reduce(0) { $0 + $1.entries.count })
            for waiter in waiters { batch += waiter.entries }
            let started = DispatchTime.now().uptimeNanoseconds
            let result: Result<[AppendOutcome], JournalError>
            do {
                let outcomes = try commit(batch)
                // One outcome per entry, or every caller of the batch gets the error.
                result = outcomes.count == batch.count
                    ? .success(outcomes) : .failure(.writeFailed("commit returned \(outcomes.count) outcomes for \(batch.count) entries"))
            } catch {
                result = .failure(error)
            }
            commitSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            commitBatchSize.record(batch.count)
            state.withLock { $0.transactions += 1 }

            var offset = 0
            for waiter in waiters {
                let count = waiter.entries.count
                waiter.continuation.resume(returning: result.map { Array($0[offset..<(offset + count)]) })
                offset += count
            }
        }
    }
}
