//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge demo`: the embedded default, live
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import BridgeGateway
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import RdKafka
import ServiceLifecycle
import Synchronization
import ThingSpace
import ThingSpaceSimulator
import UnixSignals

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway against a built-in ThingSpace simulator with devices sending SMS, and show the flow live.",
        discussion: """
        Starts the ThingSpace simulator and the gateway in one process, with the main config (default
        deploy/thingbridge.yaml), the route files it names and its sinks writing under --data. Simulated devices
        send MO SMS at --rate; a share of the pushes fails (--failure-rate), so those messages queue upstream and
        arrive through the history poller. Kafka is embedded: a 3-broker librdkafka mock cluster in this process,
        whose address the config's kafka sink gets through KAFKA_BROKERS. A one-line summary is printed every second. After --duration seconds
        (or on Ctrl-C) the devices stop, the poller drains the upstream queue and the sinks finish; then the final
        counters are printed (and written as JSON with --summary).
        """
    )

    @Option(help: "The main config.")
    var config = "deploy/thingbridge.yaml"

    @Option(help: "Data folder (journal, file sinks).")
    var data = ".demo-data"

    @Option(help: "Seconds of device traffic; 0 runs until Ctrl-C.")
    var duration: Double = 20

    @Option(help: "MO SMS per second, across all devices.")
    var rate: Double = 20

    @Option(name: .customLong("failure-rate"), help: "Share of callback pushes that fail (0…1); those messages go to the upstream queue.")
    var failureRate: Double = 0.1

    @Option(help: "Write the final counters as JSON to this file.")
    var summary: String?

    @Option(help: "Callback listener HOST:PORT (default: the config's ingress.listen).")
    var listen: String?

    @Option(name: .customLong("admin-listen"), help: "Admin listener HOST:PORT (default: the config's admin.listen).")
    var adminListen: String?

    @Option(name: .customLong("log-level"), help: "Log level of the gateway (default: warning, so the summary stays readable).")
    var logLevel = "warning"

    func validate() throws {
        guard duration >= 0 else { throw ValidationError("--duration must be 0 or more") }
        guard rate > 0, rate <= 5000 else { throw ValidationError("--rate must be between 0 and 5000") }
        guard (0...1).contains(failureRate) else { throw ValidationError("--failure-rate must be between 0 and 1") }
    }

    func run() async throws {
        // The embedded Kafka: librdkafka's mock brokers (the real protocol over TCP on loopback),
        // alive until the demo ends. The config's kafka sink reads its brokers from KAFKA_BROKERS
        // (deploy/thingbridge.yaml: "${KAFKA_BROKERS:-…}"), so the demo sets it before the config
        // is read; a KAFKA_BROKERS already set is replaced (the demo always uses its own cluster).
        let kafka: KafkaMockCluster
        do {
            kafka = try KafkaMockCluster(brokers: 3)
        } catch {
            printError("error: cannot start the embedded Kafka cluster: \(error)")
            throw ExitCode(1)
        }
        setenv("KAFKA_BROKERS", kafka.bootstrapServers, 1)
        let gatewayConfig = try loadGatewayConfig(path: config, data: data, routes: nil, listen: listen, adminListen: adminListen)
        let logger = makeLogger(level: logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(GatewayMetrics.factory(registry: registry))

        // The simulator serves every account of the config with the demo devices.
        let accounts = gatewayConfig.accounts.map { SimulatorConfig.Account(name: $0.name, devices: DemoTraffic.devices) }
        var simulatorLogger = logger
        simulatorLogger.logLevel = .warning
        let simulator = ThingSpaceSimulator(config: SimulatorConfig(accounts: accounts), port: 0, logger: simulatorLogger)
        // The simulator runs first, in a group of its own, so that the gateway can be pointed at it;
        // it stops after the gateway.
        let simulatorGroup = ServiceGroup(configuration: .init(services: [simulator], logger: simulatorLogger))
        let complete = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await simulatorGroup.run() }
            defer { tasks.cancelAll() }
            let upstream = await simulator.listenAddress()
            let complete = try await runGateway(
                config: gatewayConfig, simulator: simulator, upstream: upstream, kafka: kafka, logger: logger, registry: registry
            )
            await simulatorGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return complete
        }
        if !complete { throw ExitCode(1) }
    }

    private func runGateway(
        config baseConfig: GatewayConfig, simulator: ThingSpaceSimulator, upstream: SimulatorAddress, kafka: KafkaMockCluster,
        logger: Logger, registry: PrometheusCollectorRegistry
    ) async throws -> Bool {
        var gatewayConfig = baseConfig
        gatewayConfig.thingspace = ThingSpaceConfig(
            baseURL: upstream.apiRoot, appKey: SimulatorConfig.defaultClientKey, appSecret: SimulatorConfig.defaultClientSecret,
            username: SimulatorConfig.defaultUsername, password: SimulatorConfig.defaultPassword
        )
        for index in gatewayConfig.accounts.indices {
            gatewayConfig.accounts[index].poller = PollerSettings(mode: .callbackWithPollFallback, interval: .seconds(5))
        }
        let gateway: Gateway
        do {
            gateway = try Gateway(config: gatewayConfig, logger: logger, metricsRegistry: registry)
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("error: \(error)") }
            throw ExitCode(78)
        }
        let driver = DemoDriver(
            simulator: simulator, gateway: gateway, kafka: kafka, duration: duration, rate: rate, failureRate: failureRate,
            summaryPath: summary, logger: logger
        )
        print("ThingBridge demo: simulator at \(upstream), config \(config), data in \(gatewayConfig.dataDirectory.path)")
        print("  embedded Kafka: \(kafka.brokerCount) mock brokers at \(kafka.bootstrapServers) (KAFKA_BROKERS)")
        print("  devices send \(rate)/s for \(duration == 0 ? "ever (Ctrl-C stops)" : "\(Int(duration))s"); \(Int(failureRate * 100))% of pushes fail and queue upstream")
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: gateway),
                .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        return driver.outcome.withLock { $0 } ?? false
    }

}

/// What the demo's devices are and what they say.
enum DemoTraffic {
    /// Six asset trackers (MDN 70228…, matched by `Routes/trackers.yaml`) and six meters.
    static let devices: [SimulatorConfig.Device] =
        (0..<6).map { SimulatorConfig.Device(ids: [DeviceID(kind: "mdn", id: "70228955\(10 + $0)"), DeviceID(kind: "esn", id: "60E5F9\(String(format: "%02X", 0xB0 + $0))")]) }
        + (0..<6).map { SimulatorConfig.Device(ids: [DeviceID(kind: "mdn", id: "41555500\(10 + $0)"), DeviceID(kind: "iccid", id: "891480000000123456\(10 + $0)")]) }

    static func text(for device: Int, sequence: Int) -> String {
        if device < 6 {
            let lat = 33.4484 + Double((sequence * 7 + device) % 100) / 10_000
            return String(format: "pos=%.4f,-112.0740;spd=%d;bat=%d", lat, (sequence * 3 + device) % 90, 100 - sequence % 60)
        }
        if sequence % 25 == 7 { return "ALARM tamper switch open" }
        return String(format: #"{"kwh":%.2f,"v":%d}"#, 1000 + Double(sequence) * 0.37, 228 + sequence % 7)
    }
}

/// Sends the device traffic, prints the live summary, and drains before the demo ends.
final class DemoDriver: Service {
    let simulator: ThingSpaceSimulator
    let gateway: Gateway
    /// The embedded cluster; the demo reads back what reached it.
    let kafka: KafkaMockCluster
    let duration: Double
    let rate: Double
    let failureRate: Double
    let summaryPath: String?
    let logger: Logger
    /// Whether everything sent was journaled and delivered (nil until the end).
    let outcome = Mutex<Bool?>(nil)
    /// The journal's counts before this run's traffic: a `--data` folder reused from an earlier run
    /// keeps that run's events, which this run's counters leave out.
    let baseline = Mutex<JournalStats?>(nil)

    init(
        simulator: ThingSpaceSimulator, gateway: Gateway, kafka: KafkaMockCluster, duration: Double, rate: Double, failureRate: Double,
        summaryPath: String?, logger: Logger
    ) {
        self.simulator = simulator
        self.gateway = gateway
        self.kafka = kafka
        self.duration = duration
        self.rate = rate
        self.failureRate = failureRate
        self.summaryPath = summaryPath
        self.logger = logger
    }

    func run() async throws {
        let ingress = await gateway.ingressListenAddress()
        let admin = await gateway.adminListenAddress()
        guard let client = gateway.thingSpaceClient else { return }
        for account in gateway.config.accounts {
            // What an operator does once with `thingbridge register`.
            _ = try await client.registerCallback(account: account.name, RegisterCallbackRequest(
                name: CallbackServiceName.enhancedConnectivity,
                url: "http://127.0.0.1:\(ingress.port)/callbacks/thingspace/\(account.name)",
                username: account.callback.username, password: account.callback.password
            ))
        }
        print("  callbacks: http://127.0.0.1:\(ingress.port)/callbacks/thingspace/{account}   admin: http://\(admin)/status")
        let before = try await gateway.journal.stats()
        baseline.withLock { $0 = before }
        if before.events > 0 {
            print("  the data folder holds \(before.events) events from earlier runs; the counts below are this run's")
        }
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.sendTraffic(started: started) }
            group.addTask { await self.printLive(started: started) }
            await group.next()
            group.cancelAll()
        }
        print("")
        print("devices stopped; draining the upstream queue and the sinks …")
        await drain()
        var counters = await counters()
        print(Self.line(counters, elapsed: ContinuousClock.now - started))
        counters.kafkaRecords = await readBackKafka()
        if let records = counters.kafkaRecords {
            let topics = records.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("read back from the embedded Kafka: \(records.isEmpty ? "no topics" : topics) records")
        }
        let complete = counters.journaled == counters.sent && counters.pending == 0 && counters.queuedUpstream == 0
        outcome.withLock { $0 = complete }
        print(complete
            ? "ok: all \(counters.sent) messages the devices sent were journaled and delivered"
            : "INCOMPLETE: sent \(counters.sent), journaled \(counters.journaled), pending deliveries \(counters.pending), still queued upstream \(counters.queuedUpstream)")
        if let summaryPath { try writeSummary(counters, to: summaryPath) }
    }

    /// Device traffic at `rate`, with a share of failing pushes, until the duration ends or shutdown.
    private func sendTraffic(started: ContinuousClock.Instant) async {
        let accounts = gateway.config.accounts.map(\.name)
        let tick = Duration.milliseconds(100)
        await cancelWhenGracefulShutdown {
            var sequence = 0
            while !Task.isCancelled {
                let elapsed = ContinuousClock.now - started
                if self.duration > 0, elapsed >= .milliseconds(Int64(self.duration * 1000)) { return }
                // Owed messages follow the clock, so time spent pushing does not lower the rate.
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let count = max(0, Int(self.rate * seconds) - sequence)
                if count > 0, self.failureRate > 0 {
                    // This tick's share of failing pushes, rounded by chance so the average holds.
                    let failures = Int((Double(count) * self.failureRate + Double.random(in: 0..<1)).rounded(.down))
                    if failures > 0 { self.simulator.inject(.callbackFailure(.next(failures))) }
                }
                for _ in 0..<count {
                    sequence += 1
                    let device = sequence % DemoTraffic.devices.count
                    let account = accounts[sequence % accounts.count]
                    _ = try? await self.simulator.sendMO(
                        account: account, deviceIds: DemoTraffic.devices[device].ids,
                        message: DemoTraffic.text(for: device, sequence: sequence)
                    )
                }
                try? await Task.sleep(for: tick)
            }
        }
    }

    private func printLive(started: ContinuousClock.Instant) async {
        let interactive = isatty(1) == 1
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
            let line = Self.line(await counters(), elapsed: ContinuousClock.now - started)
            if interactive {
                print("\r\u{1B}[2K" + line, terminator: "")
                fflush(nil)
            } else {
                print(line)
            }
        }
    }

    /// Drains the upstream queues until empty and waits (bounded) for the sinks to catch up.
    private func drain() async {
        simulator.clearFaults()
        for _ in 0..<10 {
            let queued = simulator.stats().accounts.values.reduce(0) { $0 + $1.queued }
            if queued == 0 { break }
            for poller in gateway.pollers.values { await poller.drain() }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let pending = (try? await gateway.journal.stats().pendingBySink.values.reduce(0, +)) ?? 1
            if pending == 0 { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Every record in the embedded cluster, per topic (internal `__` topics left out), read with a
    /// real consumer up to each partition's end; nil when the cluster could not be read.
    private func readBackKafka() async -> [String: Int]? {
        let servers = kafka.bootstrapServers
        let topics: [String]
        do {
            let client = try KafkaProducer(config: KafkaProducerConfig(bootstrapServers: [servers]), logger: logger)
            topics = try await client.metadata().topics.map(\.name).filter { !$0.hasPrefix("__") }
            await client.close(flushTimeout: .seconds(1))
        } catch {
            print("cannot list the embedded Kafka's topics: \(error)")
            return nil
        }
        // The read blocks its thread: keep it off the cooperative pool.
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var records: [String: Int] = [:]
                for topic in topics {
                    records[topic] = (try? KafkaConsumer.readAllBlocking(bootstrapServers: servers, topic: topic))?.count
                }
                continuation.resume(returning: records)
            }
        }
    }

    struct Counters: Sendable, Codable {
        var sent: Int
        var receivedCallback: Int
        var receivedPoll: Int
        var journaled: Int
        var delivered: [String: Int]
        var deadLettered: Int
        var quarantined: Int
        var pending: Int
        var queuedUpstream: Int
        /// Records in the embedded Kafka per topic, read back at the end (nil while running).
        var kafkaRecords: [String: Int]? = nil

        enum CodingKeys: String, CodingKey {
            case sent, receivedCallback = "received_callback", receivedPoll = "received_poll", journaled, delivered
            case deadLettered = "dead_lettered", quarantined, pending, queuedUpstream = "queued_upstream"
            case kafkaRecords = "kafka_records"
        }
    }

    private func counters() async -> Counters {
        let upstream = simulator.stats().accounts.values
        let journal = (try? await gateway.journal.stats())
        let before = baseline.withLock { $0 }
        // This run's share of a count: what the journal has now less what it had before the run.
        func since(_ now: [String: Int]?, _ then: [String: Int]?) -> [String: Int] {
            (now ?? [:]).reduce(into: [:]) { result, entry in
                let count = entry.value - (then?[entry.key] ?? 0)
                if count != 0 { result[entry.key] = count }
            }
        }
        return Counters(
            sent: upstream.reduce(0) { $0 + $1.sent },
            receivedCallback: (journal?.eventsByChannel["callback"] ?? 0) - (before?.eventsByChannel["callback"] ?? 0),
            receivedPoll: (journal?.eventsByChannel["poll"] ?? 0) - (before?.eventsByChannel["poll"] ?? 0),
            journaled: (journal?.events ?? 0) - (before?.events ?? 0),
            delivered: since(journal?.deliveredBySink, before?.deliveredBySink),
            deadLettered: since(journal?.deadBySink, before?.deadBySink).values.reduce(0, +),
            quarantined: (journal?.quarantined ?? 0) - (before?.quarantined ?? 0),
            // Absolute: whatever is pending, from this run or an earlier one, is still to deliver.
            pending: journal?.pendingBySink.values.reduce(0, +) ?? 0,
            queuedUpstream: upstream.reduce(0) { $0 + $1.queued }
        )
    }

    static func line(_ c: Counters, elapsed: Duration) -> String {
        let delivered = c.delivered.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "[\(elapsed.components.seconds)s] sent \(c.sent) | received: callback \(c.receivedCallback), poll \(c.receivedPoll) | journaled \(c.journaled) | delivered: \(delivered.isEmpty ? "-" : delivered) | pending \(c.pending) | queued upstream \(c.queuedUpstream)"
    }

    private func writeSummary(_ counters: Counters, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(counters).write(to: URL(fileURLWithPath: path))
        print("summary written to \(path)")
    }
}
