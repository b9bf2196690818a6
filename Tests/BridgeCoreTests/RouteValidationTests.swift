import BridgeCore
import Foundation
import Testing

/// Every validation error of route files: its file, line, column, and a hint of what is right.
@Suite struct RouteValidationTests {
    static let sinks: Set<String> = ["archive", "kafka", "oncall", "hooks"]
    static let sinkTypes = ["archive": "file", "kafka": "kafka", "oncall": "file", "hooks": "webhook"]

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var label: String
        var yaml: String
        var line: Int
        var column: Int
        /// Parts the message must contain (the problem and the hint).
        var says: [String]
        var testDescription: String { label }
    }

    static let cases: [ErrorCase] = [
        .init(label: "unknown top-level key", yaml: "route:\n  - name: a\n", line: 1, column: 1,
              says: ["unknown key 'route' in the top level", "did you mean 'routes'?"]),
        .init(label: "unknown route key", yaml: "routes:\n  - name: a\n    to: [archive]\n    stopp: true\n", line: 4, column: 5,
              says: ["unknown key 'stopp' in a route", "did you mean 'stop'?", "known keys here: name, description, match, to, stop"]),
        .init(label: "unknown match key", yaml: "routes:\n  - name: a\n    match:\n      acount: x\n    to: [archive]\n", line: 4, column: 7,
              says: ["unknown key 'acount'", "did you mean 'account'?"]),
        .init(label: "unknown text operation", yaml: "routes:\n  - name: a\n    match:\n      text: { startsWith: A }\n    to: [archive]\n", line: 4, column: 15,
              says: ["unknown key 'startsWith' in 'text'", "equals, prefix, contains, regex, ignoreCase"]),
        .init(label: "unknown field test", yaml: "routes:\n  - name: a\n    match:\n      fields: { t: { gte: 1, above: 2 } }\n    to: [archive]\n", line: 4, column: 30,
              says: ["unknown key 'above' in 'fields.t'", "eq, ne, gt, gte, lt, lte, in, exists"]),
        .init(label: "unknown destination key", yaml: "routes:\n  - name: a\n    to:\n      - sink: kafka\n        topik: x\n", line: 5, column: 9,
              says: ["unknown key 'topik' in a destination", "did you mean 'topic'?"]),
        .init(label: "unknown sink", yaml: "routes:\n  - name: a\n    to:\n      - sink: archive\n      - sink: kafak\n", line: 5, column: 15,
              says: ["unknown sink 'kafak'", "did you mean 'kafka'?", "archive, hooks, kafka, oncall", "need a restart"]),
        .init(label: "unknown sink in the short form", yaml: "routes:\n  - name: a\n    to: [archve]\n", line: 3, column: 10,
              says: ["unknown sink 'archve'", "did you mean 'archive'?"]),
        .init(label: "bad regex", yaml: "routes:\n  - name: a\n    match:\n      text: { regex: '^(ALM' }\n    to: [archive]\n", line: 4, column: 22,
              says: ["invalid regex '^(ALM'", "a '(' is not closed", "single quotes"]),
        .init(label: "bad template", yaml: "routes:\n  - name: a\n    to:\n      - sink: oncall\n        format: template\n        template: \"{{#data}}{{text}}\"\n", line: 6, column: 19,
              says: ["invalid Mustache template", "not closed", "line 1", "{{#section}}"]),
        .init(label: "template format without a template", yaml: "routes:\n  - name: a\n    to:\n      - sink: oncall\n        format: template\n", line: 4, column: 9,
              says: ["format 'template' needs 'template'"]),
        .init(label: "template without the template format", yaml: "routes:\n  - name: a\n    to:\n      - sink: oncall\n        template: \"{{id}}\"\n", line: 5, column: 19,
              says: ["'template' is used only with 'format: template'"]),
        .init(label: "unknown format", yaml: "routes:\n  - name: a\n    to:\n      - sink: kafka\n        format: cloudevent\n", line: 5, column: 17,
              says: ["unknown format 'cloudevent'", "did you mean 'cloudevents'?"]),
        .init(label: "number expected", yaml: "routes:\n  - name: a\n    match:\n      fields: { t: { gt: forty } }\n    to: [archive]\n", line: 4, column: 26,
              says: ["expected a number for 'fields.t.gt', found 'forty'", "gt: 40"]),
        .init(label: "boolean expected", yaml: "routes:\n  - name: a\n    to: [archive]\n    stop: maybe\n", line: 4, column: 11,
              says: ["expected true or false for 'stop', found 'maybe'"]),
        .init(label: "list expected for routes", yaml: "routes:\n  name: a\n", line: 2, column: 3,
              says: ["expected a list of routes", "found a mapping"]),
        .init(label: "list expected for any", yaml: "routes:\n  - name: a\n    match:\n      any: { text: a }\n    to: [archive]\n", line: 4, column: 12,
              says: ["expected a list of matches", "for 'any', found a mapping"]),
        .init(label: "unknown channel", yaml: "routes:\n  - name: a\n    match: { channel: push }\n    to: [archive]\n", line: 3, column: 23,
              says: ["unknown channel 'push'", "callback or poll"]),
        .init(label: "two text operations", yaml: "routes:\n  - name: a\n    match:\n      text: { prefix: A, contains: B }\n    to: [archive]\n", line: 4, column: 13,
              says: ["found prefix and contains", "use 'any:' or 'all:'"]),
        .init(label: "missing name", yaml: "routes:\n  - to: [archive]\n", line: 2, column: 5,
              says: ["a route needs a 'name'"]),
        .init(label: "missing to", yaml: "routes:\n  - name: a\n", line: 2, column: 5,
              says: ["a route needs 'to'"]),
        .init(label: "empty to", yaml: "routes:\n  - name: a\n    to: []\n", line: 3, column: 9,
              says: ["'to' is empty"]),
        .init(label: "duplicate route name", yaml: "routes:\n  - name: a\n    to: [archive]\n  - name: a\n    to: [kafka]\n", line: 4, column: 11,
              says: ["duplicate route name 'a'", "first defined at x.yaml:2:11"]),
        .init(label: "reserved route name", yaml: "routes:\n  - name: _unmatched\n    to: [archive]\n", line: 2, column: 11,
              says: ["route name '_unmatched' is not allowed"]),
        .init(label: "unreachable after a match-all stop", yaml: "routes:\n  - name: all\n    to: [archive]\n    stop: true\n  - name: never\n    to: [kafka]\n", line: 5, column: 11,
              says: ["route 'never' is unreachable", "route 'all' at x.yaml:2:11 matches every event and has 'stop: true'"]),
        .init(label: "topic on a file sink", yaml: "routes:\n  - name: a\n    to:\n      - sink: archive\n        topic: t\n", line: 5, column: 16,
              says: ["'topic' applies to kafka sinks, but sink 'archive' is a file sink", "it takes: path"]),
        .init(label: "path on a webhook sink", yaml: "routes:\n  - name: a\n    to:\n      - sink: hooks\n        path: p\n", line: 5, column: 15,
              says: ["'path' applies to file sinks, but sink 'hooks' is a webhook sink"]),
        .init(label: "unknown placeholder", yaml: "routes:\n  - name: a\n    to:\n      - sink: kafka\n        key: \"{devise}\"\n", line: 5, column: 14,
              says: ["unknown placeholder '{devise}'", "did you mean 'device'?"]),
        .init(label: "unknown decoding", yaml: "decode: xml\nroutes:\n  - name: a\n    to: [archive]\n", line: 1, column: 9,
              says: ["unknown decoding 'xml'", "json, keyValue or csv"]),
        .init(label: "csv without columns", yaml: "decode: { format: csv }\nroutes:\n  - name: a\n    to: [archive]\n", line: 1, column: 9,
              says: ["needs 'columns'"]),
        .init(label: "YAML syntax", yaml: "routes:\n  - name: a\n    to: [archive\n", line: 4, column: 1,
              says: ["YAML syntax error"]),
        .init(label: "empty file", yaml: "", line: 1, column: 1,
              says: ["the file is empty"]),
        .init(label: "empty field path part", yaml: "routes:\n  - name: a\n    match:\n      fields: { gps..lat: 1 }\n    to: [archive]\n", line: 4, column: 17,
              says: ["field path 'gps..lat' has an empty part"]),
    ]

    @Test(arguments: cases)
    func reportsTheErrorWithItsPosition(_ testCase: ErrorCase) throws {
        do {
            _ = try RouteSet.load(sources: [("x.yaml", testCase.yaml)], sinks: Self.sinks, sinkTypes: Self.sinkTypes)
            Issue.record("expected an error")
        } catch {
            let found = error.errors.first { candidate in testCase.says.allSatisfy { candidate.message.contains($0) } }
            let error = try #require(found, "no error says \(testCase.says); got:\n\(error)")
            #expect(error.location?.file == "x.yaml")
            #expect(error.location?.line == testCase.line, "\(error)")
            #expect(error.location?.column == testCase.column, "\(error)")
            #expect(error.description.hasPrefix("x.yaml:\(testCase.line):\(testCase.column): "))
        }
    }

    @Test func everyErrorOfEveryFileIsReported() throws {
        let sources = [
            ("a.yaml", "routes:\n  - name: dup\n    to: [nowhere]\n  - name: dup\n    to: [archive]\n    stopp: true\n"),
            ("b.yaml", "routes:\n  - name: ok\n    match: { text: { regex: '(' } }\n    to: [archive]\n"),
            ("c.yaml", "routes:\n  - name: other\n    to: [missing]\n"),
        ]
        do {
            _ = try RouteSet.load(sources: sources, sinks: Self.sinks)
            Issue.record("expected errors")
        } catch {
            let lines = error.errors.map(\.description)
            #expect(lines.count == 5, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("a.yaml:3:10: route 'dup' names unknown sink 'nowhere'") })
            #expect(lines.contains { $0.hasPrefix("a.yaml:4:11: duplicate route name 'dup'") })
            #expect(lines.contains { $0.hasPrefix("a.yaml:6:5: unknown key 'stopp'") })
            #expect(lines.contains { $0.hasPrefix("b.yaml:3:29: invalid regex '('") })
            #expect(lines.contains { $0.hasPrefix("c.yaml:3:10: route 'other' names unknown sink 'missing'") })
        }
    }

    @Test func theUnmatchedPolicyMustNameAKnownSink() {
        #expect(throws: ConfigErrors.self) {
            try RouteSet.load(sources: [("a.yaml", "routes:\n  - name: a\n    to: [archive]\n")], sinks: Self.sinks, unmatched: .sink("nowhere"))
        }
    }

    @Test func aFolderLoadsInNameOrderAndSkipsTestFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "routes:\n  - name: second\n    to: [kafka]\n".write(to: folder.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try "routes:\n  - name: first\n    to: [archive]\n".write(to: folder.appendingPathComponent("a.yml"), atomically: true, encoding: .utf8)
        try "tests: nonsense".write(to: folder.appendingPathComponent("a.test.yaml"), atomically: true, encoding: .utf8)
        try "ignored".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let set = try RouteSet.load(from: folder, sinks: Self.sinks)
        #expect(set.routes.map(\.name.value) == ["first", "second"])
        #expect(set.routes[0].file.hasSuffix("a.yml"))
    }

    @Test func environmentVariablesExpandInRouteFiles() throws {
        let set = try RouteSet.load(
            sources: [("a.yaml", "routes:\n  - name: a\n    match: { account: \"${FLEET:-0000*}\" }\n    to: [\"${SINK}\"]\n")],
            sinks: Self.sinks, environment: ["SINK": "kafka"]
        )
        #expect(set.routes[0].to[0].sink.value == "kafka")
        do {
            _ = try RouteSet.load(sources: [("a.yaml", "routes:\n  - name: a\n    to: [\"${NOPE}\"]\n")], sinks: Self.sinks, environment: [:])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("environment variable 'NOPE' is not set"))
        }
    }
}

/// Odd input is an error with a place, never a crash or a silent success.
@Suite struct RouteGarbageTests {
    @Test(arguments: [
        "routes: 42", "routes: ~", "- a\n- b", "routes:\n  - 1\n  - [x]\n  - { name: [1] , to: {} }",
        "routes:\n  - name: a\n    match: [1, 2]\n    to: [archive]",
        "routes:\n  - name: a\n    match: { not: [] , all: {}, any: [[]], fields: [1] }\n    to: [archive]",
        "routes:\n  - name: a\n    match: { fields: { t: { in: 3, gt: [1], exists: maybe } } }\n    to: [archive]",
        "routes:\n  - name: a\n    to: [{ sink: archive, format: template, template: \"{{/x}}\" }]",
        "routes:\n  - name: a\n    to: [{ sink: kafka, topic: \"{account\" }]",
        "decode: { format: csv, columns: [], delimiter: \"ab\" }\nroutes: []",
        "routes:\n  - &r { name: a, to: [archive] }\n  - *r",
        "\u{0}\u{1}binary",
        "routes:\n  - name: a\n    match: { device: { kind: mdn } }\n    to: [archive]",
        "routes:\n  - name: a\n    match: { text: { regex: 1 } , channel: [] }\n    to: [archive]",
    ])
    func oddInputIsAnErrorWithAPlace(_ yaml: String) {
        do {
            _ = try RouteSet.load(sources: [("x.yaml", yaml)], sinks: ["archive", "kafka"], sinkTypes: ["archive": "file", "kafka": "kafka"])
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(!error.errors.isEmpty)
            #expect(error.errors.allSatisfy { $0.location?.file == "x.yaml" || $0.message.hasPrefix("x.yaml") }, "\(error)")
        }
    }
}
