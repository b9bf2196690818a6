import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// The simulator must stay out of the way of load tests: 100k queued messages drain through
/// real HTTP history pages quickly (linear queue operations, no per-message overhead).
@Suite(.timeLimit(.minutes(2)))
struct ThroughputTests {
    @Test func hundredThousandMessagesDrainThroughHistory() async throws {
        try await SimulatorHarness.with { h in
            let count = 100_000
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await h.simulator.sendMO(message: "load", count: count, deliver: .queue)
            #expect(result.queued == count)
            let enqueued = clock.now

            let credentials = try await h.credentials()
            var received = 0
            var pages = 0
            var next: String?
            var seen = Set<String>()
            while true {
                let answer = try await h.history(credentials, next: next)
                let page = try answer.decode(SMSHistoryPage.self)
                received += page.messages.count
                pages += 1
                if pages == 1 || !page.hasMoreData { for message in page.messages { seen.insert(message.message) } }
                guard answer.status == 202 else { break }
                next = SimulatorHarness.nextToken(answer)
            }
            let drained = clock.now
            #expect(received == count)
            #expect(pages == count / 100)
            #expect(seen.contains("load #1") && seen.contains("load #\(count)"))
            let stats = h.simulator.stats()[SimulatorHarness.account]
            #expect(stats.queued == 0)
            #expect(stats.acknowledged == count)
            print("throughput: enqueue \(count) in \(enqueued - start), drain \(pages) pages in \(drained - enqueued)")
        }
    }
}
