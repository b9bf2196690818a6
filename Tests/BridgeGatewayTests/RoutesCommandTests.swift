import Foundation
import Testing
import TestSupport

/// `thingbridge routes check|test|explain` as a user runs them: output and exit status.
@Suite(.serialized)
struct RoutesCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The CLI built beside the tests (`swift build --build-tests` builds both).
    static let binary: URL? = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("thingbridge"),
            root.appendingPathComponent(".build/debug/thingbridge"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        struct NoBinary: Error {}
        guard let binary else { throw NoBinary() }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let config = "deploy/thingbridge.yaml"

    @Test(.enabled(if: binary != nil)) func theShippedRoutesPassCheckAndTest() throws {
        let check = try Self.run(["routes", "check", "--config", Self.config])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("ok: 5 route(s)"))
        let test = try Self.run(["routes", "test", "--config", Self.config])
        #expect(test.status == 0, "\(test.output)")
        #expect(test.output.contains("0 failed"))
    }

    @Test(.enabled(if: binary != nil)) func checkPrintsEveryErrorAndFails() throws {
        let folder = TemporaryDirectory("cli-routes")
        defer { folder.remove() }
        _ = try folder.write("routes:\n  - name: a\n    to: [kafak]\n    stopp: true\n", to: "a.yaml")
        _ = try folder.write("routes:\n  - name: a\n    match: { text: { regex: '(' } }\n    to: [archive]\n", to: "b.yaml")
        let check = try Self.run(["routes", "check", "--config", Self.config, folder.path])
        #expect(check.status == 1)
        #expect(check.output.contains("a.yaml:3:10: route 'a' names unknown sink 'kafak' (did you mean 'kafka'?)"))
        #expect(check.output.contains("a.yaml:4:5: unknown key 'stopp' in a route (did you mean 'stop'?)"))
        #expect(check.output.contains("b.yaml:2:11: duplicate route name 'a'"))
        #expect(check.output.contains("b.yaml:3:29: invalid regex '('"))
        #expect(check.output.contains("4 error(s)"))
    }

    @Test(.enabled(if: binary != nil)) func testFailsOnAFailingCase() throws {
        let folder = TemporaryDirectory("cli-routes")
        defer { folder.remove() }
        _ = try folder.write("routes:\n  - name: a\n    match: { text: { prefix: A } }\n    to: [archive]\n", to: "a.yaml")
        _ = try folder.write("tests:\n  - name: b is not a\n    input: { device: mdn:1, text: B }\n    expect: { routes: [a] }\n", to: "a.test.yaml")
        let test = try Self.run(["routes", "test", "--config", Self.config, folder.path])
        #expect(test.status == 1)
        #expect(test.output.contains("✗ b is not a"))
        #expect(test.output.contains("routes: expected [a], matched []"))
        #expect(test.output.contains("0 passed, 1 failed"))
    }

    @Test(.enabled(if: binary != nil)) func explainShowsEachRouteAndTheDestinations() throws {
        let folder = TemporaryDirectory("cli-explain")
        defer { folder.remove() }
        let event = try folder.write(#"{"account":"0000123456-00001","device":"mdn:7022895511","text":"pos=1,2;bat=41"}"#, to: "event.json")
        let explain = try Self.run(["routes", "explain", "--config", Self.config, "--event", event.path])
        #expect(explain.status == 0, "\(explain.output)")
        #expect(explain.output.contains("route tracker-low-battery  [Routes/trackers.yaml:15:11]  MATCH"))
        #expect(explain.output.contains("✓ fields.bat < 45 — fields.bat is \"41\""))
        #expect(explain.output.contains("route meter-alarms  [Routes/alarms.yaml:7:11]  no match"))
        #expect(explain.output.contains("  oncall  by route tracker-low-battery  (format template)"))
        let bad = try folder.write("[1]", to: "bad.json")
        #expect(try Self.run(["routes", "explain", "--config", Self.config, "--event", bad.path]).status == 1)
    }
}
