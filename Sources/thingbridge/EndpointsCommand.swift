//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge endpoints`: webhook endpoints and their circuit breakers
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import BridgeGateway
import BridgeSinks
import Foundation

struct Endpoints: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "List, enable or disable webhook endpoints (their circuit breakers).",
        discussion: """
        Works on the journal named by the config, also while the gateway runs: a running endpoint \
        takes up an enable or disable within about a second. An endpoint is named <group>/<endpoint> \
        (the webhook sink's name and the endpoint's); a group name stands for all its endpoints.
        """,
        subcommands: [List.self, Enable.self, Disable.self]
    )

    /// The webhook endpoints the config defines: sink name → URL.
    static func endpoints(_ config: GatewayConfig) -> [(sink: String, url: URL)] {
        var result: [(String, URL)] = []
        for (group, definition) in config.sinks.sorted(by: { $0.key < $1.key }) {
            guard case .webhook(let webhook) = definition.kind else { continue }
            for endpoint in webhook.endpoints { result.append(("\(group)/\(endpoint.name)", endpoint.url)) }
        }
        return result
    }

    /// Runs `body` for each endpoint the arguments stand for, with the journal open.
    static func forEach(_ names: [String], _ options: ConfigOptions, _ body: (SQLiteJournal, String) async throws -> Void) async throws {
        let config = try options.load()
        let sinks = try resolve(names, in: config)
        let journal = try config.openJournal()
        defer { try? journal.close() }
        for sink in sinks { try await body(journal, sink) }
    }

    /// The endpoint sink names the arguments stand for.
    static func resolve(_ names: [String], in config: GatewayConfig) throws -> [String] {
        let known = endpoints(config).map(\.sink)
        var chosen: [String] = []
        for name in names {
            let matches = known.filter { $0 == name || $0.hasPrefix(name + "/") }
            guard !matches.isEmpty else {
                throw ValidationError("no webhook endpoint or group '\(name)' in the config (endpoints: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            }
            chosen += matches.filter { !chosen.contains($0) }
        }
        return chosen
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List webhook endpoints: state, failures, pending deliveries.")

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let config = try options.load()
            let endpoints = Endpoints.endpoints(config)
            if endpoints.isEmpty {
                print("no webhook endpoints in \(options.configPath)")
                return
            }
            let journal = try config.openJournal()
            defer { try? journal.close() }
            let states = Dictionary(uniqueKeysWithValues: try await journal.endpointStates().map { ($0.sink, $0) })
            let pending = try await journal.pendingBySink()
            let dead = try await journal.stats().deadBySink
            var rows = [["ENDPOINT", "STATE", "FAILURES", "PENDING", "DEAD", "URL", "DETAIL"]]
            for (sink, url) in endpoints {
                let state = states[sink] ?? EndpointState(sink: sink)
                var detail = ""
                switch state.condition {
                case .closed:
                    if let since = state.failingSince { detail = "failing since \(Timestamps.format(since))" }
                case .open:
                    detail = "probe at \(state.openUntil.map(Timestamps.format) ?? "-")"
                case .disabled:
                    detail = "since \(Timestamps.format(state.changedAt))"
                }
                if let reason = state.reason { detail += detail.isEmpty ? reason : "; \(reason)" }
                // Scheme, host, port and path only: a query string may carry a token.
                let shown = "\(url.scheme ?? "")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")\(url.path)"
                rows.append([
                    sink, state.condition.rawValue, "\(state.consecutiveFailures)", "\(pending[sink] ?? 0)", "\(dead[sink] ?? 0)",
                    shown, String(detail.prefix(160)),
                ])
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable endpoints: close their breakers and forget their failures; pending deliveries flow again."
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "Endpoints (<group>/<endpoint>) or groups.")
        var names: [String]

        func run() async throws {
            try await Endpoints.forEach(names, options) { journal, sink in
                try await journal.saveEndpointState(EndpointState(sink: sink, condition: .closed), overridingDisabled: true)
                print("enabled \(sink)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable endpoints: nothing is sent to them, their deliveries wait (no attempts spent) until enabled."
        )

        @OptionGroup var options: ConfigOptions

        @Option(help: "Why (shown by `endpoints list`).")
        var reason: String = "disabled by an operator"

        @Argument(help: "Endpoints (<group>/<endpoint>) or groups.")
        var names: [String]

        func run() async throws {
            try await Endpoints.forEach(names, options) { journal, sink in
                let previous = try await journal.loadEndpointState(sink: sink)
                var state = previous ?? EndpointState(sink: sink)
                state.condition = .disabled
                state.openUntil = nil
                state.reason = reason
                state.changedAt = Date()
                try await journal.saveEndpointState(state, overridingDisabled: true)
                print("disabled \(sink)")
            }
        }
    }
}
