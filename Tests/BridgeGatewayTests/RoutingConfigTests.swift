import BridgeCore
import BridgeGateway
import BridgeSinks
import Foundation
import Testing
import TestSupport
import ThingSpace

/// `routing:` in the main config: the unmatched policy and the default text decoding.
@Suite struct RoutingConfigTests {
    func load(routing: String, routes: String = "routes:\n  - name: hot\n    match: { fields: { t: { gt: 40 } } }\n    to: [archive]\n") throws -> (GatewayConfig, RouteSet) {
        let directory = TemporaryDirectory("routing-config")
        defer { directory.remove() }
        try directory.write(routes, to: "routes/a.yaml")
        let yaml = GatewayHarness.configYAML(dataDir: directory.appending("data").path, routesDir: directory.appending("routes").path, routing: routing)
        let file = try directory.write(yaml, to: "thingbridge.yaml")
        let config = try GatewayConfig.load(path: file.path, environment: ["TEST_CALLBACK_PASSWORD": "x"])
        return (config, try config.loadRoutes())
    }

    static func event(_ text: String) -> BridgeEvent {
        EventNormalizer.normalize(MOSMSCallback(deviceIDs: [DeviceID(kind: "mdn", id: "1")], text: text), account: "A", channel: .callback, receivedAt: Date())
    }

    @Test(arguments: [
        ("routing:\n  unmatched: deadLetter\n  decode: { format: csv, columns: [kind, t] }", "alarm,51", UnmatchedPolicy.deadLetter),
        ("routing:\n  decode: json", #"{"t":51}"#, .drop),
        ("routing:\n  unmatched: \"sink:archive\"\n  decode: keyValue", "t=51", .sink("archive")),
    ])
    func theDefaultDecodingAppliesToFilesWithoutTheirOwn(_ routing: String, _ hot: String, _ policy: UnmatchedPolicy) throws {
        let (config, routes) = try load(routing: routing)
        #expect(config.routing.unmatched == policy)
        #expect(routes.route(Self.event(hot)).map(\.route) == ["hot"])
        #expect(routes.route(Self.event("cold")).allSatisfy { $0.route == RouteSet.unmatchedRouteName })
    }

    @Test func aFilesOwnDecodingWins() throws {
        let (_, routes) = try load(routing: "routing:\n  decode: json", routes: "decode: keyValue\nroutes:\n  - name: hot\n    match: { fields: { t: { gt: 40 } } }\n    to: [archive]\n")
        #expect(routes.route(Self.event("t=51")).map(\.route) == ["hot"])
        #expect(routes.route(Self.event(#"{"t":51}"#)).isEmpty)
    }

    @Test(arguments: [
        ("routing:\n  decode: xml", "expected json, keyValue"),
        ("routing:\n  decode: { format: csv, colums: [a] }", "unknown key 'colums'"),
        ("routing:\n  unmatched: dead", "expected 'drop', 'deadLetter' or 'sink:<name>'"),
    ])
    func mistakesAreConfigErrors(_ routing: String, _ message: String) throws {
        do {
            _ = try load(routing: routing)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}

/// `batchesInFlight` on a sink: how many batches its dispatcher may have at it at once.
@Suite struct BatchesInFlightConfigTests {
    func load(_ sinks: String) throws -> GatewayConfig {
        let directory = TemporaryDirectory("in-flight-config")
        defer { directory.remove() }
        try directory.write("routes:\n  - name: all\n    to: [archive]\n", to: "routes/a.yaml")
        let yaml = GatewayHarness.configYAML(dataDir: directory.appending("data").path, routesDir: directory.appending("routes").path, sinks: sinks)
        let file = try directory.write(yaml, to: "thingbridge.yaml")
        return try GatewayConfig.load(path: file.path, environment: ["TEST_CALLBACK_PASSWORD": "x"])
    }

    @Test func kafkaDefaultsToFourAndOthersToOne() throws {
        let config = try load("""
          archive: { type: file, path: "a.jsonl" }
          kafka: { type: kafka, brokers: "127.0.0.1:9", topic: t }
          slow: { type: kafka, brokers: "127.0.0.1:9", topic: t, batchesInFlight: 1 }
        """)
        #expect(config.sinks["archive"]?.batchesInFlight == 1)
        #expect(config.sinks["kafka"]?.batchesInFlight == 4)
        #expect(config.sinks["slow"]?.batchesInFlight == 1)
    }

    @Test(arguments: [
        (#"archive: { type: file, path: "a.jsonl", batchesInFlight: 2 }"#, "batchesInFlight is for kafka sinks only"),
        (#"archive: { type: kafka, brokers: "127.0.0.1:9", topic: t, batchesInFlight: 0 }"#, "batchesInFlight must be between 1 and 64"),
    ])
    func mistakesAreConfigErrors(_ sink: String, _ message: String) throws {
        do {
            _ = try load("  " + sink)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
