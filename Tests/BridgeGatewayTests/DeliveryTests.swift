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
