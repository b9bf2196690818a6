//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge routes check|test|explain`
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import BridgeGateway
import Foundation
import ThingSpace

struct Routes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with route files: check them, run the tests beside them, explain one event.",
        subcommands: [Check.self, Test.self, Explain.self]
    )

    /// Loads the routes of a folder against the main config, or prints every error and exits 1.
    static func load(_ config: GatewayConfig, folder: URL) throws -> RouteSet {
        do {
            return try config.loadRoutes(from: folder)
        } catch {
            for item in error.errors { printError("error: \(item)") }
            printError("\(error.errors.count) error(s) in \(folder.path)")
            throw ExitCode(1)
        }
    }

    /// The main config, the routes folder (the argument, else the config's `routesDir`) and its
    /// routes, loaded as ``load(_:folder:)`` does: what every routes subcommand starts with.
    static func load(_ options: ConfigOptions, directory: String?) throws -> (GatewayConfig, URL, RouteSet) {
        let config = try options.load()
        let folder = directory.map { URL(fileURLWithPath: $0) } ?? config.routesDirectory
        return (config, folder, try load(config, folder: folder))
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the route files against the main config's sinks; print every error, exit 1 if any."
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The routes folder (default: routesDir from the config).")
        var directory: String?

        func run() async throws {
            let (_, folder, routes) = try Routes.load(options, directory: directory)
            print("ok: \(routes.routes.count) route(s) in \(folder.path), version \(routes.version), unmatched: \(routes.unmatched)")
            for route in routes.routes {
                print("  \(route.name.value)  (\(route.name.location.map(\.description) ?? route.file)) → \(route.to.map(\.sink.value).joined(separator: ", "))\(route.stop ? "  [stop]" : "")")
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the tests beside the route files (foo.test.yaml next to foo.yaml); exit 1 if any fails.",
            discussion: """
            Each case gives an input event and what must happen: the routes that match, the sinks that \
            receive it, and what each sink gets (exact payload, JSON, selected fields, topic, key, path).
            """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The routes folder (default: routesDir from the config).")
        var directory: String?

        func run() async throws {
            let (config, folder, routes) = try Routes.load(options, directory: directory)
            let report = try RouteTestRunner.runFolder(folder: folder, routes: routes, sinkDefaults: config.sinkDefaults)
            print(report.text)
            if !report.succeeded { throw ExitCode(1) }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show, for one event, each route in order, each condition's result and why, and the final destinations.",
            discussion: """
            The event file holds a CloudEvent as ThingBridge stores it (e.g. a line of a file sink), or a short \
            form: {"account": "...", "device": "mdn:7022895555", "text": "...", "channel": "callback"}.
            """
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "The event: a JSON file ('-' for standard input).")
        var event: String

        @Argument(help: "The routes folder (default: routesDir from the config).")
        var directory: String?

        func run() async throws {
            let (_, folder, routes) = try Routes.load(options, directory: directory)
            let data: Data
            do {
                data = event == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: event))
            } catch {
                printError("error: cannot read \(event): \(error.localizedDescription)")
                throw ExitCode(1)
            }
            let parsed: BridgeEvent
            do {
                parsed = try EventFile.parse(data)
            } catch {
                printError("error: \(event): \(error)")
                throw ExitCode(1)
            }
            print("routes: \(folder.path), version \(routes.version)")
            print(routes.explain(parsed).text(for: parsed))
        }
    }
}
