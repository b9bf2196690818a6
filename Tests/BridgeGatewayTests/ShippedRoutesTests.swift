import BridgeCore
import BridgeGateway
import Foundation
import Testing

/// The route files shipped in `Routes/` pass `routes check` and their own tests, against the
/// sinks of `deploy/thingbridge.yaml` (what `make test` runs through the CLI).
@Suite struct ShippedRoutesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let routesFolder = root.appendingPathComponent("Routes")

    static func config() throws -> GatewayConfig {
        try GatewayConfig.load(path: root.appendingPathComponent("deploy/thingbridge.yaml").path, environment: [:])
    }

    static var testFiles: [String] {
        ((try? RouteTestRunner.testFiles(in: routesFolder)) ?? []).map(\.lastPathComponent)
    }

    @Test func theShippedRoutesAreValid() throws {
        let routes = try Self.config().loadRoutes(from: Self.routesFolder)
        #expect(routes.routes.count >= 4)
        // Every route file has tests beside it.
        let tested = Set(Self.testFiles.map { $0.replacingOccurrences(of: ".test.yaml", with: ".yaml") })
        for file in Set(routes.routes.map { URL(fileURLWithPath: $0.file).lastPathComponent }) {
            #expect(tested.contains(file), "\(file) has no \(file.replacingOccurrences(of: ".yaml", with: ".test.yaml"))")
        }
    }

    @Test(arguments: testFiles)
    func theShippedTestsPass(_ name: String) throws {
        let config = try Self.config()
        let routes = try config.loadRoutes(from: Self.routesFolder)
        let url = Self.routesFolder.appendingPathComponent(name)
        var parser = RouteTestParser(file: name, directory: Self.routesFolder)
        let routeFile = routes.routes.map(\.file).first { $0.hasSuffix("/" + name.replacingOccurrences(of: ".test.yaml", with: ".yaml")) || $0 == name.replacingOccurrences(of: ".test.yaml", with: ".yaml") }
        let routeFileName = try #require(routeFile)
        let text = try String(contentsOf: url, encoding: .utf8)
        let parsed = parser.parse(text, routeFile: routeFileName)
        let file = try #require(parsed)
        #expect(parser.errors.isEmpty, "\(parser.errors)")
        #expect(!file.cases.isEmpty)
        for result in RouteTestRunner.run(file, routes: routes, sinkDefaults: config.sinkDefaults) {
            #expect(result.passed, "\(result.name): \(result.failures.joined(separator: "; "))")
        }
    }
}
