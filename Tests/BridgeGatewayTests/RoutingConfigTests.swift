import BridgeCore
import BridgeGateway
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
