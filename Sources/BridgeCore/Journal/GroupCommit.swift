//===----------------------------------------------------------------------===//
// ThingBridge — group commit for the journal
//===----------------------------------------------------------------------===//

import Dispatch
import Metrics
import Synchronization

/// Lets concurrent appends share one transaction (one fsync) without adding latency.
///
/// Leader/follower: a caller that finds no commit in flight becomes the leader and commits at
/// once. Callers arriving while a commit is in flight queue up as followers. When the leader's
/// commit is done it hands the leadership to the first follower, which commits everything queued
/// by then in one transaction and resumes the others with their outcomes. A lone request commits
/// immediately; under load a batch is whatever arrived during one commit, capped at `maxBatch`
/// entries, so the wait is bounded by one commit.
///
/// No task is spawned: the commit always runs in a caller's own task. Continuations are resumed
/// after the lock is released.
final class GroupCommit: Sendable {
    private enum Wake: Sendable {
        /// Your entries were committed by another caller.
        case done(Result<[AppendOutcome], JournalError>)
        /// Commit your entries and everyone queued behind you.
        case lead
    }

    private struct Follower {
        var entries: [JournalEntry]
        var continuation: CheckedContinuation<Wake, Never>
    }

    private struct State {
        var committing = false
        var followers: [Follower] = []
        var transactions = 0
    }

    private let state = Mutex(State())
    /// At most this many entries per transaction (a page of 100 plus many single callbacks).
    let maxBatch: Int
    /// Made once: creating a metric looks it up in the registry under a lock, per commit.
    private let commitSeconds = Timer(label: "thingbridge_journal_commit_seconds")
    private let commitBatchSize = Recorder(label: "thingbridge_journal_commit_batch_size")

    init(maxBatch: Int = 2000) { self.maxBatch = maxBatch }

    /// Transactions committed so far (tests, status).
    var transactions: Int { state.withLock { $0.transactions } }

    func append(
        _ entries: [JournalEntry], commit: ([JournalEntry]) async throws(JournalError) -> [AppendOutcome]
    ) async throws(JournalError) -> [AppendOutcome] {
        let leadsNow = state.withLock { state -> Bool in
            if state.committing { return false }
            state.committing = true
            return true
        }
        if !leadsNow {
            let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
                let leadInstead = state.withLock { state -> Bool in
                    if !state.committing {
                        state.committing = true
                        return true
                    }
                    state.followers.append(Follower(entries: entries, continuation: continuation))
                    return false
                }
                if leadInstead { continuation.resume(returning: .lead) }
            }
            if case .done(let result) = wake { return try result.get() }
        }
        return try await lead(entries, commit: commit)
    }

    /// Commits `own` entries together with the followers queued now, then passes the lead on.
    private func lead(
        _ own: [JournalEntry], commit: ([JournalEntry]) async throws(JournalError) -> [AppendOutcome]
    ) async throws(JournalError) -> [AppendOutcome] {
        let followers = state.withLock { state -> [Follower] in
            var taken: [Follower] = []
            var size = own.count
            while let next = state.followers.first, size + next.entries.count <= maxBatch {
                taken.append(state.followers.removeFirst())
                size += next.entries.count
            }
            return taken
        }
        var batch = own
        for follower in followers { batch += follower.entries }
        let started = DispatchTime.now().uptimeNanoseconds
        let result: Result<[AppendOutcome], JournalError>
        do {
            result = .success(try await commit(batch))
        } catch {
            result = .failure(error)
        }
        commitSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        commitBatchSize.record(batch.count)

        let next = state.withLock { state -> Follower? in
            state.transactions += 1
            guard !state.followers.isEmpty else {
                state.committing = false
                return nil
            }
            return state.followers.removeFirst()
        }
        next?.continuation.resume(returning: .lead)

        var offset = own.count
        for follower in followers {
            let slice = result.map { Array($0[offset..<(offset + follower.entries.count)]) }
            follower.continuation.resume(returning: .done(slice))
            offset += follower.entries.count
        }
        return try result.map { Array($0[0..<own.count]) }.get()
    }
}
