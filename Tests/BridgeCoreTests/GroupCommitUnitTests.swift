@testable import BridgeCore
import Foundation
import Synchronization
import Testing
import TestSupport

/// The committer on its own, with a commit that records its batches and can be held: which
/// entries share a transaction, and who gets which outcome.
@Suite struct GroupCommitUnitTests {
    /// A commit function that records each batch, waits while held, and fails batches containing `failOn`.
    final class Recorder: Sendable {
        private let batches = Mutex<[[Int]]>([])
        private let gate = DispatchSemaphore(value: 0)
        private let held = Mutex(false)
        let failOn: Int?

        init(holdFirst: Bool = false, failOn: Int? = nil) {
            self.failOn = failOn
            held.withLock { $0 = holdFirst }
        }

        var recorded: [[Int]] { batches.withLock { $0 } }

        func release() { gate.signal() }

        func commit(_ batch: [Int]) throws(JournalError) -> [AppendOutcome] {
            let first = batches.withLock { batches in
                batches.append(batch)
                return batches.count == 1
            }
            if first, held.withLock({ $0 }) { gate.wait() }
            if let failOn, batch.contains(failOn) { throw .writeFailed("refused batch with \(failOn)") }
            return batch.map { .stored(sequence: Int64($0)) }
        }
    }

    /// Waits (briefly, polling) until `condition` holds.
    static func until(_ condition: () -> Bool) async throws {
        try #require(await eventually(timeout: .seconds(2), poll: .milliseconds(2)) { condition() })
    }

    @Test func whatArrivesDuringACommitSharesTheNextTransactionAndEachCallerGetsItsOwnOutcomes() async throws {
        let recorder = Recorder(holdFirst: true)
        let commit = GroupCommit<Int>(commit: { batch throws(JournalError) in try recorder.commit(batch) })
        let first = Task { try await commit.append([0]) }
        try await Self.until { recorder.recorded.count == 1 }
        // The first transaction is in progress: these queue up behind it.
        let others = (1...10).map { n in Task { try await commit.append([n * 10, n * 10 + 1]) } }
        try await Self.until { commit.waiting == 10 }
        #expect(recorder.recorded.count == 1)
        recorder.release()
        #expect(try await first.value == [.stored(sequence: 0)])
        for (index, task) in others.enumerated() {
            let n = Int64(index + 1)
            #expect(try await task.value == [.stored(sequence: n * 10), .stored(sequence: n * 10 + 1)])
        }
        #expect(recorder.recorded.count == 2)
        #expect(recorder.recorded[1].count == 20)
        #expect(commit.transactions == 2)
    }

    @Test func aTransactionHoldsAtMostMaxBatchEntriesButALargerAppendGoesAlone() async throws {
        let recorder = Recorder(holdFirst: true)
        let commit = GroupCommit<Int>(maxBatch: 5, commit: { batch throws(JournalError) in try recorder.commit(batch) })
        let first = Task { try await commit.append([0]) }
        try await Self.until { recorder.recorded.count == 1 }
        let small = (1...7).map { n in Task { try await commit.append([n]) } }
        try await Self.until { commit.waiting == 7 }
        let large = Task { try await commit.append(Array(100..<108)) }
        try await Self.until { commit.waiting == 8 }
        recorder.release()
        _ = try await first.value
        for task in small { _ = try await task.value }
        #expect(try await large.value.count == 8)
        // Queued in order: 5 small ones, the other 2, then the large one on its own.
        #expect(recorder.recorded.map(\.count) == [1, 5, 2, 8])
    }

    @Test func aFailedTransactionFailsItsCallersOnlyAndTheNextOneCommits() async throws {
        let recorder = Recorder(holdFirst: true, failOn: 13)
        let commit = GroupCommit<Int>(commit: { batch throws(JournalError) in try recorder.commit(batch) })
        let first = Task { try await commit.append([0]) }
        try await Self.until { recorder.recorded.count == 1 }
        let failing = Task { try await commit.append([13]) }
        try await Self.until { commit.waiting == 1 }
        let alongside = Task { try await commit.append([14]) }
        try await Self.until { commit.waiting == 2 }
        recorder.release()
        _ = try await first.value
        // 13 and 14 shared the refused transaction: both fail, nothing of it counts as stored.
        await #expect(throws: JournalError.self) { try await failing.value }
        await #expect(throws: JournalError.self) { try await alongside.value }
        #expect(try await commit.append([15]) == [.stored(sequence: 15)])
        #expect(recorder.recorded == [[0], [13, 14], [15]])
    }
}
