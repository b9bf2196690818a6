import BridgeCore
import BridgeGateway
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TestSupport
import ThingSpace
import ThingSpaceSimulator

/// The history poller and the ThingSpace client against the simulator, both on port 0.
@Suite(.timeLimit(.minutes(3)))
struct PollerTests {
    /// A gateway whose `thingspace:` section points at a running simulator.
    static func withBridge<T: Sendable>(
        simulatorConfig: SimulatorConfig = SimulatorConfig(),
        upstream: @escaping @Sendable (String) -> GatewayHarness.Upstream = { GatewayHarness.Upstream(baseURL: $0) },
        _ body: @Sendable (ThingSpaceSimulator, GatewayHarness) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "simulator")
        logger.logLevel = .warning
        return try await ThingSpaceSimulator.withRunning(config: simulatorConfig, logger: logger) { simulator in
            let address = await simulator.listenAddress()
            return try await GatewayHarness.with(upstream: upstream(address.apiRoot)) { gateway in
                try await body(simulator, gateway)
            }
        }
    }

    static func poller(_ gateway: GatewayHarness) throws -> HistoryPoller {
        try #require(gateway.gateway.pollers[GatewayHarness.account])
    }

    @Test func drains250QueuedMessagesInThreePagesAckingEachAfterCommit() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 250, deliver: .queue)
            let report = await (try Self.poller(gateway)).drain()
            #expect(report == DrainReport(pages: 3, messages: 250, stored: 250, duplicates: 0, error: nil))
            let stats = simulator.stats().accounts[GatewayHarness.account]
            #expect(stats?.queued == 0)
            #expect(stats?.servedByHistory == 250)
            #expect(try await gateway.gateway.journal.stats().eventsByChannel == ["poll": 250])
            #expect(await eventually { (try? readJSONLines(gateway.archiveFile()).count) == 250 })
            let channels = Set(try readJSONLines(gateway.archiveFile()).compactMap { ($0["data"] as? [String: Any])?["channel"] as? String })
            #expect(channels == ["poll"])
        }
    }

    @Test func aCrashBetweenCommitAndAckReservesThePageWithoutDuplicateEvents() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 250, deliver: .queue)
            // What a poller that dies right after committing page 1 leaves behind: the page is
            // in the journal, its token was never sent.
            let client = try #require(gateway.gateway.thingSpaceClient)
            let first = try await client.historyPage(account: GatewayHarness.account)
            #expect(first.status == 202)
            #expect(first.page.messages.count == 100)
            let messages = first.page.messages.map { MOSMSCallback(deviceIDs: $0.deviceIds, text: $0.message, timestamp: $0.timestamp) }
            _ = try await gateway.gateway.ingest.ingest(messages, account: GatewayHarness.account, channel: .poll)

            // The restarted poller starts without a token: ThingSpace serves page 1 again.
            let report = await (try Self.poller(gateway)).drain()
            #expect(report.messages == 250)
            #expect(report.duplicates == 100)
            #expect(report.stored == 150)
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.events == 250)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 0)
        }
    }

    @Test func aFailedCommitLeavesThePageQueuedUpstream() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 150, deliver: .queue)
            let queue = try DatabaseQueue(path: gateway.journalPath)
            try await queue.write { try $0.execute(sql: "CREATE TRIGGER fail BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk trouble'); END") }
            let failed = await (try Self.poller(gateway)).drain()
            #expect(failed.error?.contains("journal") == true)
            #expect(failed.stored == 0)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 150)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.acknowledged == 0)

            try await queue.write { try $0.execute(sql: "DROP TRIGGER fail") }
            let report = await (try Self.poller(gateway)).drain()
            #expect(report.stored == 150)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 0)
        }
    }

    @Test func callbackFailuresReachTheJournalThroughThePoller() async throws {
        try await Self.withBridge { simulator, gateway in
            let client = try #require(gateway.gateway.thingSpaceClient)
            _ = try await client.registerCallback(account: GatewayHarness.account, RegisterCallbackRequest(
                name: CallbackServiceName.enhancedConnectivity, url: gateway.callbackURL,
                username: GatewayHarness.username, password: GatewayHarness.password
            ))
            simulator.inject(.callbackFailure(.next(30)))
            let sent = try await simulator.sendMO(message: "reading", count: 100)
            #expect(sent.pushed == 70)
            #expect(sent.queued == 30)
            #expect(try await gateway.gateway.journal.stats().eventsByChannel == ["callback": 70])

            let report = await (try Self.poller(gateway)).drain()
            #expect(report.stored == 30)
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.eventsByChannel == ["callback": 70, "poll": 30])
            #expect(await eventually { (try? readJSONLines(gateway.archiveFile()).count) == 100 })
        }
    }

    @Test func duplicateAndOutOfOrderPushesYieldOneEventEach() async throws {
        try await Self.withBridge { simulator, gateway in
            let client = try #require(gateway.gateway.thingSpaceClient)
            _ = try await client.registerCallback(account: GatewayHarness.account, RegisterCallbackRequest(
                name: CallbackServiceName.enhancedConnectivity, url: gateway.callbackURL,
                username: GatewayHarness.username, password: GatewayHarness.password
            ))
            simulator.inject(.duplicatePushes(count: 10))
            simulator.inject(.outOfOrder(count: 20))
            let sent = try await simulator.sendMO(message: "tick", count: 20)
            #expect(sent.pushed == 20)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.duplicatesPushed == 10)
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.events == 20)
            #expect(stats.duplicatesSeen == 10)
        }
    }

    @Test func sessionExpiryInTheMiddleOfADrainLogsInAgainAndCompletes() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 250, deliver: .queue)
            let client = try #require(gateway.gateway.thingSpaceClient)
            let poller = HistoryPoller(
                account: GatewayHarness.account, settings: PollerSettings(mode: .pollOnly), client: client,
                ingest: gateway.gateway.ingest, logger: Logger(label: "poller"),
                onPageCommitted: { page in
                    // After page 1 the session idles out (21 minutes on ThingSpace's clock).
                    if page.number == 1 { simulator.advanceClock(by: .seconds(21 * 60)) }
                    // After page 2 the bearer is revoked.
                    if page.number == 2 { simulator.inject(.expireBearerTokens) }
                }
            )
            let report = await poller.drain()
            #expect(report.error == nil)
            #expect(report.stored == 250)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 0)
            let health = await client.health
            #expect(health.logins == 2)
            #expect(health.bearerRefreshes >= 2)
        }
    }

    @Test func wrongCredentialsStopBeforeTheLockoutWithAClearError() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 5, deliver: .queue)
            var config = try #require(gateway.gateway.thingSpaceClient).config
            config.password = "wrong"
            config.loginRetryDelay = .zero  // so that every drain may try; the cap must still hold
            let client = ThingSpaceClient(config: config, logger: Logger(label: "client"))
            let poller = HistoryPoller(
                account: GatewayHarness.account, settings: PollerSettings(mode: .pollOnly), client: client,
                ingest: gateway.gateway.ingest, logger: Logger(label: "poller")
            )
            var last = DrainReport()
            for _ in 1...10 { last = await poller.drain() }
            // Three rejected logins (ThingSpace locks the user after five), then no more attempts.
            #expect(simulator.stats().loginFailures == 3)
            #expect(last.error?.contains("no further logins until the credentials are fixed") == true)
            let health = await client.health
            #expect(health.stoppedReason != nil)
            #expect(health.logins == 0)
            #expect(simulator.stats().accounts[GatewayHarness.account]?.queued == 5)
            // The user is not locked upstream: the right password still works.
            let good = try #require(gateway.gateway.thingSpaceClient)
            #expect(try await good.historyPage(account: GatewayHarness.account).page.messages.count == 5)
        }
    }

    @Test func throttlingAndServerErrorsAreRetriedWithBackoff() async throws {
        try await Self.withBridge { simulator, gateway in
            try await simulator.sendMO(message: "queued", count: 120, deliver: .queue)
            simulator.inject(.httpError(status: 429, pathPrefix: "/api/m2m/v1/sms", count: 2))
            simulator.inject(.httpError(status: 503, pathPrefix: "/api/m2m/v1/sms", count: 1))
            let waits = Mutex<[Duration]>([])
            let base = try #require(gateway.gateway.thingSpaceClient).config
            let client = ThingSpaceClient(config: base, logger: Logger(label: "client"), sleep: { wait in waits.withLock { $0.append(wait) } })
            let poller = HistoryPoller(
                account: GatewayHarness.account, settings: PollerSettings(mode: .pollOnly), client: client,
                ingest: gateway.gateway.ingest, logger: Logger(label: "poller")
            )
            let report = await poller.drain()
            #expect(report.error == nil)
            #expect(report.stored == 120)
            let recorded = waits.withLock { $0 }
            #expect(recorded.count == 3)
            // 429 carries Retry-After: 1, which the backoff honours.
            #expect(recorded.prefix(2).allSatisfy { $0 >= .seconds(1) })
        }
    }
}
