//===----------------------------------------------------------------------===//
// ThingBridge — the `thingbridge` command
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import BridgeGateway
import Foundation
import Logging
import Metrics
import Prometheus
import RdKafka
import ServiceLifecycle
import UnixSignals

@main
struct ThingBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thingbridge",
        abstract: "Receives Verizon ThingSpace MO SMS, journals them durably and routes them to sinks.",
        version: "0.1.0 (librdkafka \(KafkaLibrary.version))",
        subcommands: [Demo.self, Serve.self, Simulate.self, Routes.self, Status.self, Register.self, DeadLetters.self, Endpoints.self]
    )
}

/// Options shared by the commands that read the main config.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The main config file. Env: THINGBRIDGE_CONFIG.")
    var config: String?

    @Option(name: .long, help: "Data folder (journal, file sinks); overrides dataDir. Env: THINGBRIDGE_DATA.")
    var data: String?

    @Option(name: .long, help: "Routes folder; overrides routesDir. Env: THINGBRIDGE_ROUTES.")
    var routes: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var configPath: String { config ?? environment["THINGBRIDGE_CONFIG"] ?? "thingbridge.yaml" }

    /// Loads the config and applies overrides: flag, then `THINGBRIDGE_*`, then the file.
    func load(listen: String? = nil, adminListen: String? = nil) throws -> GatewayConfig {
        try loadGatewayConfig(path: configPath, data: data, routes: routes, listen: listen, adminListen: adminListen)
    }
}

/// Loads a main config and applies overrides: flag, then `THINGBRIDGE_*`, then the file.
/// Prints the error and exits 78 (EX_CONFIG) when the file is wrong.
func loadGatewayConfig(path: String, data: String?, routes: String?, listen: String?, adminListen: String?) throws -> GatewayConfig {
    let environment = ProcessInfo.processInfo.environment
    var config: GatewayConfig
    do {
        config = try GatewayConfig.load(path: path, environment: environment)
    } catch {
        printError("error: \(error)")
        throw ExitCode(78)  // EX_CONFIG
    }
    func address(_ text: String?, name: String) throws -> ListenAddress? {
        guard let text else { return nil }
        guard let address = ListenAddress(parsing: text) else {
            throw ValidationError("\(name) expects HOST:PORT, got '\(text)'")
        }
        return address
    }
    config.apply(.init(
        listen: try address(listen ?? environment["THINGBRIDGE_LISTEN"], name: "--listen"),
        adminListen: try address(adminListen ?? environment["THINGBRIDGE_ADMIN_LISTEN"], name: "--admin-listen"),
        dataDir: data ?? environment["THINGBRIDGE_DATA"],
        routesDir: routes ?? environment["THINGBRIDGE_ROUTES"]
    ))
    return config
}

func makeLogger(level: String?) -> Logger {
    var logger = Logger(label: "thingbridge")
    logger.logLevel = level.flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Callback listener HOST:PORT; overrides ingress.listen. Env: THINGBRIDGE_LISTEN.")
    var listen: String?

    @Option(name: .customLong("admin-listen"), help: "Admin listener HOST:PORT; overrides admin.listen. Env: THINGBRIDGE_ADMIN_LISTEN.")
    var adminListen: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error. Env: THINGBRIDGE_LOG_LEVEL.")
    var logLevel: String?

    func run() async throws {
        let config = try options.load(listen: listen, adminListen: adminListen)
        let logger = makeLogger(level: logLevel ?? options.environment["THINGBRIDGE_LOG_LEVEL"])
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(GatewayMetrics.factory(registry: registry))
        let gateway: Gateway
        do {
            gateway = try Gateway(config: config, logger: logger, metricsRegistry: registry)
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("error: \(error)") }
            throw ExitCode(78)  // EX_CONFIG
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        logger.info("starting", metadata: [
            "config": "\(options.configPath)", "data": "\(config.dataDirectory.path)", "journal": "\(config.journalPath)",
            "accounts": "\(config.accounts.map(\.name).joined(separator: ","))", "sinks": "\(config.sinks.keys.sorted().joined(separator: ","))",
        ])
        let group = ServiceGroup(configuration: .init(
            services: [gateway], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print journal counts (events, pending, delivered, dead, quarantined).")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let journal = try config.openJournal()
        let stats = try await journal.stats()
        print("journal: \(config.journalPath)")
        print("events: \(stats.events) (unmatched \(stats.unmatchedEvents), duplicates seen \(stats.duplicatesSeen))")
        print("quarantined: \(stats.quarantined)")
        let sinks = Set(stats.pendingBySink.keys).union(stats.deliveredBySink.keys).union(stats.deadBySink.keys).union(config.sinks.keys)
        for sink in sinks.sorted() {
            print("sink \(sink): pending \(stats.pendingBySink[sink] ?? 0), delivered \(stats.deliveredBySink[sink] ?? 0), dead \(stats.deadBySink[sink] ?? 0)")
        }
        try journal.close()
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
