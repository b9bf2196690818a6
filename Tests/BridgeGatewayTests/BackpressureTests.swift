import BridgeCore
import BridgeGateway
import Foundation
import Testing
import TestSupport
import ThingSpace
import ThingSpaceSimulator

@Suite(.timeLimit(.minutes(2)))
struct BackpressureTests {
    /// A sink that cannot write while its path is a folder, retrying forever, so the backlog only grows.
    static let stuckSink = """
          archive:
            type: file
            path: "stuck"
            retry: { base: 50ms, cap: 100ms, maxAttempts: 0 }
      """
    static let journalSettings = """
        journal:
          backpressure: { highWater: 5, lowWater: 2 }
        """

    @Test func aFullBacklogAnswers503PausesThePollerAndRecoversBelowLowWater() async throws {
        try await ThingSpaceSimulator.withRunning { simulator in
            let address = await simulator.listenAddress()
            try await GatewayHarness.with(sinks: Self.stuckSink, routing: Self.journalSettings, upstream: GatewayHarness.Upstream(baseURL: address.apiRoot)) { gateway in
                let stuck = gateway.directory.appending("data/stuck")
                try FileManager.default.createDirectory(at: stuck, withIntermediateDirectories: true)
                for n in 0..<5 {
                    #expect(try await gateway.post(GatewayHarness.callbackBody(requestID: "bp-\(n)")).status == 200)
                }
                let monitor = gateway.gateway.backpressure
                await monitor.check()
                #expect(monitor.isOn)

                // Callbacks: 503 with Retry-After, nothing stored; ThingSpace would queue them.
                let refused = try await gateway.post(GatewayHarness.callbackBody(requestID: "bp-refused"))
                #expect(refused.status == 503)
                #expect(refused.headers["retry-after"] == "30")
                #expect(try await gateway.admin("/readyz").status == 503)

                // The poller does not read the queue meanwhile.
                try await simulator.sendMO(message: "queued", count: 3, deliver: .queue)
                let paused = await (try #require(gateway.gateway.pollers[GatewayHarness.account])).drain()
                #expect(paused.error?.contains("back-pressure") == true)
                #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 3)

                // The sink heals; the backlog drains below low water; everything resumes.
                try FileManager.default.removeItem(at: stuck)
                let journal = gateway.gateway.journal
                #expect(await eventually { (try? await journal.pendingBySink().values.reduce(0, +)) == 0 })
                await monitor.check()
                #expect(!monitor.isOn)
                #expect(try await gateway.admin("/readyz").status == 200)
                #expect(try await gateway.post(GatewayHarness.callbackBody(requestID: "bp-after")).status == 200)
                #expect(await eventually { simulator.stats().accounts[GatewayHarness.account]?.queued == 0 })
            }
        }
    }
}
