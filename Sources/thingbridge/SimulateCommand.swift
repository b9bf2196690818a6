//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge simulate`
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import Foundation
import Logging
import ServiceLifecycle
import ThingSpace
import ThingSpaceSimulator
import UnixSignals

/// Runs the ThingSpace simulator on its own, for local development and compatibility tests.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a fake ThingSpace (OAuth, sessions, callbacks, SMS history) with a control API under /simulator/."
    )

    @Option(name: .long, help: "Port to listen on (0 picks a free port).")
    var port: Int = 8090

    @Option(name: .long, help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Simulator YAML config (accounts, devices, clients, users, paging, timeouts).")
    var config: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
    }

    func run() async throws {
        let simulatorConfig: SimulatorConfig
        if let config {
            do {
                simulatorConfig = try SimulatorConfig.load(path: config)
            } catch {
                printError("error: \(error)")
                throw ExitCode(78)  // EX_CONFIG
            }
        } else {
            simulatorConfig = SimulatorConfig()
        }
        let logger = makeLogger(level: logLevel)
        let simulator = ThingSpaceSimulator(
            config: simulatorConfig, host: host, port: port, logger: logger,
            onListening: { address in Self.printBanner(address: address, config: simulatorConfig) }
        )
        let group = ServiceGroup(configuration: .init(
            services: [simulator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }

    /// What a developer needs to point a client at the simulator.
    static func printBanner(address: SimulatorAddress, config: SimulatorConfig) {
        var lines = [
            "ThingSpace simulator listening on \(address.baseURL)",
            "  OAuth token:  POST \(address.oauthRoot)/oauth2/token",
            "  M2M root:     \(address.m2mRoot)",
            "  control API:  \(address.controlRoot)/  (mo, stats, faults, clock/advance, users/{name}/unlock, mt, accounts)",
        ]
        for client in config.oauthClients { lines.append("  OAuth client: key=\(client.key) secret=\(client.secret)") }
        for user in config.users { lines.append("  UWS user:     username=\(user.username) password=\(user.password)") }
        for account in config.accounts {
            let devices = account.devices.isEmpty
                ? "\(max(1, config.generatedDevices)) generated devices"
                : account.devices.map { DeviceID.primary(of: $0.ids)?.description ?? "?" }.joined(separator: ", ")
            lines.append("  account:      \(account.name)  (\(devices))")
        }
        // Written unbuffered: scripts wait for this banner on a pipe.
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
