import BridgeCore
import BridgeGateway
import Foundation
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(2)))
struct DeliveryTests {
    static let blockedSink = """
          archive:
            type: file
            path: "blocked/{account}.jsonl"
            retry: { base: 10ms, cap: 20ms, maxAttempts: 3 }
      """

    @Test func exhaustedRetriesAreDeadLetteredThenReplayedOnceTheSinkHeals() async throws {
        try await GatewayHarness.with(sinks: Self.blockedSink) { gateway in
            // A folder where the file should be: every write fails with EISDIR, a real I/O error.
            let target = gateway.directory.appending("data/blocked/\(GatewayHarness.account).jsonl")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)

            let answer = try await gateway.post(GatewayHarness.callbackBody(requestID: "dlq-1"))
            #expect(answer.status == 200)
            let journal = gateway.gateway.journal
            let dead = await eventually { (try? await journal.stats().deadBySink["archive"]) == 1 }
            #expect(dead)
            let letter = try #require(try await journal.deadLetters().first)
            #expect(letter.attempts == 3)
            #expect(letter.reason.contains("Is a directory"))
            #expect(try await journal.deadLetter(id: letter.id)?.attempts.count == 3)

            // The operator fixes the sink and replays.
            try FileManager.default.removeItem(at: target)
            #expect(try await journal.replayDeadLetters(DeadLetterFilter(sink: "archive")) == 1)
            let delivered = await eventually { (try? await journal.stats().deliveredBySink["archive"]) == 1 }
            #expect(delivered)
            #expect(try readJSONLines(target).count == 1)
            #expect(try await journal.deadLetters().isEmpty)
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct IsolationTests {
    static let sinks = """
          archive:
            type: file
            path: "archive.jsonl"
          stuck:
            type: file
            path: "stuck.fifo"
      """
    static let routes = ["all.yaml": "routes:\n  - name: everything\n    to: [archive, stuck]\n"]

    @Test func aHangingSinkDoesNotHoldBackAnother() async throws {
        try await GatewayHarness.with(routes: Self.routes, sinks: Self.sinks, routing: "shutdownTimeout: 2s") { gateway in
            // A FIFO with no reader: the stuck sink's open(2) blocks in the kernel.
            let fifo = gateway.directory.appending("data/stuck.fifo").path
            #expect(mkfifo(fifo, 0o644) == 0)
            for n in 0..<20 {
                #expect(try await gateway.post(GatewayHarness.callbackBody(requestID: "iso-\(n)")).status == 200)
            }
            let archive = gateway.directory.appending("data/archive.jsonl")
            #expect(await eventually(timeout: .seconds(5)) { (try? readJSONLines(archive).count) == 20 })
            // The file is written (and fsynced) before the journal marks the batch delivered.
            let marked = await eventually(timeout: .seconds(5)) {
                (try? await gateway.gateway.journal.stats().deliveredBySink["archive"]) == 20
            }
            #expect(marked)
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.pendingBySink["stuck"] == 20)
            // Shutdown (when this closure returns) must still finish, within shutdownTimeout.
        }
    }
}
