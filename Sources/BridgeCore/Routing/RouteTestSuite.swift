//===----------------------------------------------------------------------===//
// ThingBridge — tests beside the routes (`foo.test.yaml` next to `foo.yaml`)
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace
import Yams

/// The test cases of one `foo.test.yaml`, run against the routes of `foo.yaml` (or of the whole
/// folder with `scope: all`).
///
/// ```yaml
/// tests:
///   - name: a hot tracker raises an alarm
///     input:
///       account: "0000123456-00001"
///       device: { kind: mdn, id: "7022895555" }
///       text: '{"kind":"alarm","temperature":51}'
///     expect:
///       routes: [tracker-alarms]
///       sinks: [kafka, oncall]
///       deliveries:
///         - sink: kafka
///           topic: alarms.0000123456-00001
///           fields: { data.text: '{"kind":"alarm","temperature":51}' }
/// ```
public struct RouteTestFile: Sendable {
    public enum Scope: String, Sendable { case file, all }

    public var file: String
    /// The route file the cases test (`foo.yaml` for `foo.test.yaml`).
    public var routeFile: String
    public var scope: Scope
    public var cases: [RouteTestCase]
}

/// One named case: an input event and what must happen to it.
public struct RouteTestCase: Sendable {
    public var name: String
    public var location: SourceLocation?
    public var event: BridgeEvent
    /// The routes that must match, in order (nil: not checked).
    public var routes: [String]?
    /// The sinks that must receive the event, as a set (nil: not checked).
    public var sinks: [String]?
    /// Whether the unmatched policy must decide (nil: not checked).
    public var unmatched: Bool?
    public var deliveries: [ExpectedDelivery]
}

/// What one sink must get.
public struct ExpectedDelivery: Sendable {
    public var sink: String
    public var route: String?
    /// The exact payload bytes, as text.
    public var payload: String?
    /// The payload parsed as JSON must equal this.
    public var json: FieldValue?
    /// Dotted paths into the JSON payload and their values (`data.text`, `subject`).
    public var fields: [(path: String, value: FieldValue)]
    public var contentType: String?
    public var topic: String?
    public var key: String?
    public var path: String?
    public var location: SourceLocation?
}

/// The sinks' own settings that a destination without options falls back to, so that tests
/// can check the topic, key and path an event will get.
public struct SinkDefaults: Sendable {
    public var type: String
    public var topic: String?
    public var key: String?
    public var path: String?

    public init(type: String, topic: String? = nil, key: String? = nil, path: String? = nil) {
        self.type = type
        self.topic = topic
        self.key = key
        self.path = path
    }
}

/// The outcome of one case.
public struct RouteTestResult: Sendable {
    public var file: String
    public var name: String
    public var location: SourceLocation?
    /// Empty when the case passed.
    public var failures: [String]
    public var passed: Bool { failures.isEmpty }
}

public enum RouteTestRunner {
    /// The test files of a folder (`*.test.yaml`, `*.test.yml`), by name.
    public static func testFiles(in directory: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { ($0.hasSuffix(".test.yaml") || $0.hasSuffix(".test.yml")) && !$0.hasPrefix(".") }
            .sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// Runs every case of a test file against a loaded route set.
    public static func run(_ file: RouteTestFile, routes: RouteSet, sinkDefaults: [String: SinkDefaults] = [:]) -> [RouteTestResult] {
        var set = routes
        if file.scope == .file {
            set.routes = routes.routes.filter { $0.file == file.routeFile }
            set.unmatched = .drop
        }
        return file.cases.map { testCase in
            RouteTestResult(
                file: file.file, name: testCase.name, location: testCase.location,
                failures: check(testCase, set: set, sinkDefaults: sinkDefaults)
            )
        }
    }

    static func check(_ testCase: RouteTestCase, set: RouteSet, sinkDefaults: [String: SinkDefaults]) -> [String] {
        var failures: [String] = []
        let explanation = set.explain(testCase.event)
        let matched = explanation.routes.filter { $0.outcome == .matched }.map(\.route.name.value)
        let deliveries = explanation.deliveries
        if let expected = testCase.routes, expected != matched {
            failures.append("routes: expected [\(expected.joined(separator: ", "))], matched [\(matched.joined(separator: ", "))]")
        }
        let sinks = Set(deliveries.map(\.sink))
        if let expected = testCase.sinks, Set(expected) != sinks {
            failures.append("sinks: expected [\(expected.sorted().joined(separator: ", "))], got [\(sinks.sorted().joined(separator: ", "))]")
        }
        if let expected = testCase.unmatched, expected != explanation.unmatched {
            failures.append(expected ? "expected no route to match (the unmatched policy), but [\(matched.joined(separator: ", "))] matched" : "expected a route to match, but none did")
        }
        for expected in testCase.deliveries {
            let candidates = deliveries.filter { $0.sink == expected.sink && (expected.route == nil || $0.route == expected.route) }
            guard !candidates.isEmpty else {
                failures.append("delivery to '\(expected.sink)'\(expected.route.map { " by route '\($0)'" } ?? ""): none made (deliveries: \(deliveries.map { "\($0.route)→\($0.sink)" }.joined(separator: ", ")))")
                continue
            }
            // Several deliveries to one sink (two routes): the expectation holds if one meets it.
            let results = candidates.map { compare(expected, delivery: $0, event: testCase.event, defaults: sinkDefaults[$0.sink]) }
            if let best = results.min(by: { $0.count < $1.count }), !best.isEmpty {
                failures += best.map { "delivery to '\(expected.sink)': \($0)" }
            }
        }
        return failures
    }

    static func compare(_ expected: ExpectedDelivery, delivery: RoutedDelivery, event: BridgeEvent, defaults: SinkDefaults?) -> [String] {
        var failures: [String] = []
        let eventJSON = (try? event.jsonData()) ?? Data()
        let item = SinkItem(deliveryID: 0, route: delivery.route, attempt: 1, event: event, eventJSON: eventJSON, options: delivery.options)
        let payload = PayloadRenderer.render(item, sink: delivery.sink)
        let text = String(decoding: payload.bytes, as: UTF8.self)
        if let want = expected.payload, want != text {
            failures.append("payload: expected\n        \(want)\n      got\n        \(text)")
        }
        if let want = expected.contentType, want != payload.contentType {
            failures.append("content type: expected \(want), got \(payload.contentType)")
        }
        let parsed = (try? JSONValue(parsing: Array(payload.bytes))).map(FieldValue.init)
        if let want = expected.json {
            if let parsed {
                if !same(parsed, want) { failures.append("json: expected \(render(want)), got \(render(parsed))") }
            } else {
                failures.append("json: the payload is not JSON: \(text.prefix(200))")
            }
        }
        for (path, want) in expected.fields {
            guard let parsed else {
                failures.append("\(path): the payload is not JSON: \(text.prefix(200))")
                continue
            }
            let got = parsed.lookup(path.split(separator: ".").map(String.init))
            if got.map({ !same($0, want) }) ?? true {
                failures.append("\(path): expected \(render(want)), got \(got.map(render) ?? "nothing (absent)")")
            }
        }
        let values = [
            "account": event.data.account, "sink": delivery.sink, "route": delivery.route, "device": event.subject,
            "id": event.id, "date": String(event.data.receivedAt.prefix(10)),
        ]
        for (name, want, pattern) in [
            ("topic", expected.topic, delivery.options.topic ?? defaults?.topic),
            ("key", expected.key, delivery.options.key ?? defaults?.key),
            ("path", expected.path, delivery.options.path ?? defaults?.path),
        ] {
            guard let want else { continue }
            guard let pattern else {
                failures.append("\(name): expected \(want), but neither the destination nor sink '\(delivery.sink)' sets a \(name)")
                continue
            }
            let got = fill(pattern, values)
            if got != want { failures.append("\(name): expected \(want), got \(got) (from \(pattern))") }
        }
        return failures
    }

    /// Fills `{name}` placeholders (the sinks' pattern syntax).
    static func fill(_ pattern: String, _ values: [String: String]) -> String {
        var result = ""
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[..<open]
            result += values[String(rest[rest.index(after: open)..<close])] ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// JSON equality where numbers compare by value.
    static func same(_ a: FieldValue, _ b: FieldValue) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return Double(x) == Double(y)
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.object(x), .object(y)):
            return Set(x.keys) == Set(y.keys) && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default: return a == b
        }
    }

    static func render(_ value: FieldValue) -> String {
        switch value {
        case .object(let members): "{" + members.keys.sorted().map { "\($0): \(render(members[$0]!))" }.joined(separator: ", ") + "}"
        case .array(let items): "[" + items.map(render).joined(separator: ", ") + "]"
        default: value.brief
        }
    }
}

// MARK: - Reading test files

/// Reads a `*.test.yaml`, collecting every error with its position.
public struct RouteTestParser {
    public let file: String
    public private(set) var errors: [ConfigError] = []
    private var reader: RouteFileParser
    /// Where relative `eventFile:` paths resolve.
    let directory: URL?

    public init(file: String, directory: URL? = nil) {
        self.file = file
        self.directory = directory
        self.reader = RouteFileParser(file: file, environment: [:])
    }

    static let fileKeys = ["scope", "tests"]
    static let caseKeys = ["name", "input", "event", "eventFile", "expect"]
    static let inputKeys = ["account", "device", "devices", "text", "channel", "receivedAt", "requestId", "timestamp"]
    static let expectKeys = ["routes", "sinks", "unmatched", "deliveries"]
    static let deliveryKeys = ["sink", "route", "payload", "json", "fields", "contentType", "topic", "key", "path"]
    /// A fixed receive time, so that payloads are the same on every run.
    public static let defaultReceivedAt = "2026-01-01T00:00:00.000Z"

    public mutating func parse(_ text: String, routeFile: String) -> RouteTestFile? {
        defer { errors += reader.errors }
        guard let root = reader.compose(text, whenEmpty: "the test file is empty; it holds 'tests:' with a list of cases") else { return nil }
        guard let mapping = reader.mapping(root, "the test file", expected: "'tests:' with a list of cases") else { return nil }
        reader.checkKeys(mapping, allowed: Self.fileKeys, owner: "the top level")
        var scope = RouteTestFile.Scope.file
        if let node = mapping["scope"], let text = reader.string(node, "'scope'") {
            if let value = RouteTestFile.Scope(rawValue: text) { scope = value } else {
                reader.fail(reader.location(node), "unknown scope '\(text)' (expected file: only the routes of \(routeFile), or all: every route file and the unmatched policy)")
            }
        }
        guard let testsNode = mapping["tests"] else {
            reader.fail(reader.location(root), "missing key 'tests' (a list of cases, each with name, input and expect)")
            return nil
        }
        guard let list = reader.sequence(testsNode, "'tests'", expected: "a list of cases") else { return nil }
        var cases: [RouteTestCase] = []
        var names = Set<String>()
        for node in list {
            guard let testCase = parseCase(node) else { continue }
            if !names.insert(testCase.name).inserted {
                reader.fail(testCase.location, "duplicate test name '\(testCase.name)'")
            }
            cases.append(testCase)
        }
        return RouteTestFile(file: file, routeFile: routeFile, scope: scope, cases: cases)
    }

    mutating func parseCase(_ node: Node) -> RouteTestCase? {
        guard let mapping = reader.mapping(node, "a test case", expected: "a mapping with name, input and expect") else { return nil }
        reader.checkKeys(mapping, allowed: Self.caseKeys, owner: "a test case")
        guard let nameNode = mapping["name"], let name = reader.string(nameNode, "'name'") else {
            if mapping["name"] == nil { reader.fail(reader.location(node), "a test case needs a 'name'") }
            return nil
        }
        let inputs = ["input", "event", "eventFile"].filter { mapping[$0] != nil }
        guard inputs.count == 1 else {
            reader.fail(reader.location(nameNode), "test '\(name)' needs exactly one of input (account, device, text), event (a CloudEvent) or eventFile")
            return nil
        }
        let event: BridgeEvent?
        switch inputs[0] {
        case "input": event = parseInput(mapping["input"]!)
        case "event": event = parseEvent(json: Self.json(of: mapping["event"]!), at: mapping["event"]!)
        default:
            let pathNode = mapping["eventFile"]!
            guard let path = reader.string(pathNode, "'eventFile'") else { return nil }
            let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : (directory ?? URL(fileURLWithPath: ".")).appendingPathComponent(path)
            guard let data = try? Data(contentsOf: url) else {
                reader.fail(reader.location(pathNode), "cannot read event file '\(url.path)'")
                return nil
            }
            event = parseEvent(json: data, at: pathNode)
        }
        guard let expectNode = mapping["expect"] else {
            reader.fail(reader.location(nameNode), "test '\(name)' needs 'expect' (routes, sinks, unmatched or deliveries); a test that checks nothing proves nothing")
            return nil
        }
        guard let expect = reader.mapping(expectNode, "'expect'", expected: "a mapping with routes, sinks, unmatched or deliveries") else { return nil }
        reader.checkKeys(expect, allowed: Self.expectKeys, owner: "'expect'")
        if expect.count == 0 { reader.fail(reader.location(expectNode), "'expect' is empty; say what must happen (routes, sinks, unmatched or deliveries)") }
        let routes = expect["routes"].map { node in node.sequence?.isEmpty == true ? [] : reader.stringList(node, "'expect.routes'") }
        let sinks = expect["sinks"].map { node in node.sequence?.isEmpty == true ? [] : reader.stringList(node, "'expect.sinks'") }
        let unmatched = expect["unmatched"].flatMap { reader.bool($0, "'expect.unmatched'") }
        var deliveries: [ExpectedDelivery] = []
        if let node = expect["deliveries"], let list = reader.sequence(node, "'expect.deliveries'", expected: "a list of deliveries (each with sink and what it must get)") {
            for item in list { if let delivery = parseDelivery(item) { deliveries.append(delivery) } }
        }
        guard let event else { return nil }
        return RouteTestCase(
            name: name, location: reader.location(nameNode), event: event, routes: routes, sinks: sinks,
            unmatched: unmatched, deliveries: deliveries
        )
    }

    /// `input:` — the fields of a callback, normalized as the gateway would.
    mutating func parseInput(_ node: Node) -> BridgeEvent? {
        guard let mapping = reader.mapping(node, "'input'", expected: "a mapping with account, device and text") else { return nil }
        reader.checkKeys(mapping, allowed: Self.inputKeys, owner: "'input'")
        let account = mapping["account"].flatMap { reader.string($0, "'input.account'") } ?? "0000123456-00001"
        var devices: [DeviceID] = []
        for key in ["device", "devices"] {
            guard let value = mapping[key] else { continue }
            let items = value.sequence.map(Array.init) ?? [value]
            for item in items {
                if let text = item.scalar?.string {
                    // `mdn:7022895555`, or a bare id (an MDN).
                    let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                    devices.append(parts.count == 2 ? DeviceID(kind: parts[0], id: parts[1]) : DeviceID(kind: "mdn", id: text))
                } else if let device = reader.mapping(item, "'input.\(key)'", expected: "kind:id text or { kind, id }") {
                    reader.checkKeys(device, allowed: ["kind", "id"], owner: "'input.\(key)'")
                    let kind = device["kind"].flatMap { reader.string($0, "'kind'") } ?? "mdn"
                    if let id = device["id"].flatMap({ reader.string($0, "'id'") }) { devices.append(DeviceID(kind: kind, id: id)) }
                    else { reader.fail(reader.location(item), "a device needs 'id'") }
                }
            }
        }
        if devices.isEmpty { reader.fail(reader.location(node), "'input' needs 'device' (e.g. device: mdn:7022895555)") }
        guard let textNode = mapping["text"] else {
            reader.fail(reader.location(node), "'input' needs 'text' (the SMS text)")
            return nil
        }
        guard let text = reader.rawString(textNode, "'input.text'") else { return nil }
        var channel = Channel.callback
        if let node = mapping["channel"], let value = reader.string(node, "'input.channel'") {
            if let parsed = Channel(rawValue: value) { channel = parsed } else { reader.fail(reader.location(node), "unknown channel '\(value)' (expected callback or poll)") }
        }
        let receivedText = mapping["receivedAt"].flatMap { reader.string($0, "'input.receivedAt'") } ?? Self.defaultReceivedAt
        guard let receivedAt = Timestamps.parse(receivedText) else {
            reader.fail(mapping["receivedAt"].flatMap { reader.location($0) }, "'input.receivedAt' is not an RFC 3339 time: '\(receivedText)'")
            return nil
        }
        guard !devices.isEmpty else { return nil }
        let message = MOSMSCallback(
            requestID: mapping["requestId"].flatMap { reader.string($0, "'input.requestId'") }, deviceIDs: devices, text: text,
            timestamp: mapping["timestamp"].flatMap { reader.string($0, "'input.timestamp'") }
        )
        return EventNormalizer.normalize(message, account: account, channel: channel, receivedAt: receivedAt)
    }

    mutating func parseEvent(json: Data?, at node: Node) -> BridgeEvent? {
        guard let json else {
            reader.fail(reader.location(node), "'event' must be a CloudEvent mapping (specversion, id, source, type, subject, time, data)")
            return nil
        }
        do {
            return try BridgeEvent.decode(json)
        } catch {
            reader.fail(reader.location(node), "not a ThingBridge event: \(error)")
            return nil
        }
    }

    mutating func parseDelivery(_ node: Node) -> ExpectedDelivery? {
        guard let mapping = reader.mapping(node, "a delivery", expected: "a mapping with sink and what it must get") else { return nil }
        reader.checkKeys(mapping, allowed: Self.deliveryKeys, owner: "a delivery")
        guard let sinkNode = mapping["sink"], let sink = reader.string(sinkNode, "'sink'") else {
            if mapping["sink"] == nil { reader.fail(reader.location(node), "a delivery needs 'sink'") }
            return nil
        }
        var fields: [(String, FieldValue)] = []
        if let node = mapping["fields"], let list = reader.mapping(node, "'fields'", expected: "a mapping of dotted paths to values (data.text: hello)") {
            for (key, value) in list {
                guard let path = key.scalar?.string else { continue }
                if let expected = Self.fieldValue(value, reader: &reader) { fields.append((path, expected)) }
            }
        }
        return ExpectedDelivery(
            sink: sink, route: mapping["route"].flatMap { reader.string($0, "'route'") },
            payload: mapping["payload"].flatMap { reader.rawString($0, "'payload'") },
            json: mapping["json"].flatMap { Self.fieldValue($0, reader: &reader) },
            fields: fields, contentType: mapping["contentType"].flatMap { reader.string($0, "'contentType'") },
            topic: mapping["topic"].flatMap { reader.string($0, "'topic'") }, key: mapping["key"].flatMap { reader.string($0, "'key'") },
            path: mapping["path"].flatMap { reader.string($0, "'path'") }, location: reader.location(sinkNode)
        )
    }

    /// A YAML node as a field value (mappings and lists included).
    static func fieldValue(_ node: Node, reader: inout RouteFileParser) -> FieldValue? {
        if let list = node.sequence { return .array(list.compactMap { fieldValue($0, reader: &reader) }) }
        if let mapping = node.mapping {
            var members: [String: FieldValue] = [:]
            for (key, value) in mapping { if let name = key.scalar?.string, let item = fieldValue(value, reader: &reader) { members[name] = item } }
            return .object(members)
        }
        return reader.fieldValue(node, "an expected value")
    }

    /// A YAML mapping as JSON bytes (an inline `event:`).
    static func json(of node: Node) -> Data? {
        func convert(_ node: Node) -> Any {
            if let list = node.sequence { return list.map(convert) }
            if let mapping = node.mapping {
                var object: [String: Any] = [:]
                for (key, value) in mapping { object[key.scalar?.string ?? ""] = convert(value) }
                return object
            }
            guard let scalar = node.scalar else { return NSNull() }
            if scalar.style == .plain {
                if let int = Int(scalar.string) { return int }
                if scalar.string == "null" || scalar.string == "~" { return NSNull() }
            }
            return scalar.string
        }
        guard node.mapping != nil else { return nil }
        return try? JSONSerialization.data(withJSONObject: convert(node))
    }
}

// MARK: - Folders and event files

/// Reads an event for `routes explain`: a stored CloudEvent, or the short form.
public enum EventFile {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// A stored CloudEvent (with `specversion`), or the short form `{account, device, text, channel}`.
    public static func parse(_ data: Data) throws -> BridgeEvent {
        guard let json = try? JSONValue(parsing: Array(data)), json.object != nil else {
            throw Problem(description: "not a JSON object")
        }
        if json["specversion"] != nil { return try BridgeEvent.decode(data) }
        guard let text = json["text"]?.string else {
            throw Problem(description: "expected a CloudEvent (with specversion) or {account, device, text}: 'text' is missing")
        }
        var devices: [DeviceID] = []
        for value in json["devices"]?.array ?? [json["device"]].compactMap({ $0 }) {
            if let text = value.string {
                let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                devices.append(parts.count == 2 ? DeviceID(kind: parts[0], id: parts[1]) : DeviceID(kind: "mdn", id: text))
            } else if let kind = value["kind"]?.string, let id = value["id"]?.string {
                devices.append(DeviceID(kind: kind, id: id))
            }
        }
        guard !devices.isEmpty else { throw Problem(description: "'device' is missing (e.g. \"device\": \"mdn:7022895555\")") }
        let channel = json["channel"]?.string.flatMap(Channel.init(rawValue:)) ?? .callback
        let received = json["receivedAt"]?.string.flatMap(Timestamps.parse) ?? Date()
        return EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: devices, text: text), account: json["account"]?.string ?? "0000123456-00001",
            channel: channel, receivedAt: received
        )
    }
}

extension RouteTestRunner {
    /// The outcome of a folder's tests, as `routes test` prints it.
    public struct Report: Sendable {
        public var text: String
        public var passed: Int
        public var failed: Int
        public var errors: Int
        /// No failure, no error in a test file, and at least one case ran.
        public var succeeded: Bool { failed == 0 && errors == 0 && passed > 0 }
    }

    /// Runs every test file of a folder against its routes and formats the report like a test runner.
    public static func runFolder(folder: URL, routes: RouteSet, sinkDefaults: [String: SinkDefaults] = [:]) throws -> Report {
        var lines: [String] = []
        var passed = 0, failed = 0, errors = 0
        let files = try RouteTestRunner.testFiles(in: folder)
        let routeFileNames = Set(routes.routes.map(\.file))
        for url in files {
            let name = url.lastPathComponent
            let base = name.replacingOccurrences(of: ".test.yaml", with: "").replacingOccurrences(of: ".test.yml", with: "")
            let display = displayPath(url)
            let routeFile = [base + ".yaml", base + ".yml"].map { displayPath(folder.appendingPathComponent($0)) }
                .first(where: routeFileNames.contains) ?? displayPath(folder.appendingPathComponent(base + ".yaml"))
            lines.append(display)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                lines.append("  error: cannot read the file")
                errors += 1
                continue
            }
            var parser = RouteTestParser(file: display, directory: folder)
            let parsed = parser.parse(text, routeFile: routeFile)
            for error in parser.errors { lines.append("  error: \(error)") }
            errors += parser.errors.count
            guard let parsed, parser.errors.isEmpty else { continue }
            if parsed.scope == .file, !routeFileNames.contains(routeFile), !FileManager.default.fileExists(atPath: folder.appendingPathComponent(base + ".yaml").path) {
                lines.append("  error: \(display): there is no route file \(base).yaml beside it")
                errors += 1
                continue
            }
            for result in RouteTestRunner.run(parsed, routes: routes, sinkDefaults: sinkDefaults) {
                if result.passed {
                    passed += 1
                    lines.append("  ✓ \(result.name)")
                } else {
                    failed += 1
                    lines.append("  ✗ \(result.name)  [\(result.location.map(\.description) ?? display)]")
                    for failure in result.failures { lines.append("      \(failure)") }
                }
            }
        }
        if files.isEmpty { lines.append("no test files (*.test.yaml) in \(folder.path)") }
        lines.append("")
        lines.append("\(passed) passed, \(failed) failed\(errors > 0 ? ", \(errors) error(s) in test files" : "") (\(files.count) test file(s))")
        return Report(text: lines.joined(separator: "\n"), passed: passed, failed: failed, errors: errors)
    }

    static func displayPath(_ url: URL) -> String { RouteSet.displayPath(url) }
}

