import BridgeCore
import Foundation
import Testing
import ThingSpace

/// The route language: parsing and matching, table-driven.
@Suite struct RouteLanguageTests {
    static let sinks: Set<String> = ["archive", "kafka", "oncall", "hooks"]
    static let sinkTypes = ["archive": "file", "kafka": "kafka", "oncall": "file", "hooks": "webhook"]

    static func event(
        account: String = "0000123456-00001", ids: [DeviceID] = [DeviceID(kind: "mdn", id: "7022895510")],
        text: String = "hello", channel: Channel = .callback
    ) -> BridgeEvent {
        EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: ids, text: text), account: account, channel: channel,
            receivedAt: Timestamps.parse("2026-01-01T00:00:00.000Z")!
        )
    }

    /// One route file holding one route `r` with the given match (YAML, indented under `match:`).
    static func set(match: String, decode: String? = nil) throws -> RouteSet {
        let text = (decode.map { "decode: \($0)\n" } ?? "") + """
            routes:
              - name: r
                match:
            \(match.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
                to: [archive]
            """
        return try RouteSet.load(sources: [("r.yaml", text)], sinks: sinks, sinkTypes: sinkTypes)
    }

    struct MatchCase: CustomTestStringConvertible, Sendable {
        var label: String
        var match: String
        var decode: String? = nil
        var event: BridgeEvent
        var matches: Bool
        var testDescription: String { label }
    }

    static let matchCases: [MatchCase] = [
        // account
        .init(label: "account glob holds", match: "account: \"0000123456-*\"", event: event(), matches: true),
        .init(label: "account glob fails", match: "account: \"0000999999-*\"", event: event(), matches: false),
        .init(label: "account list: any glob", match: "account: [\"1*\", \"0000123456-0000?\"]", event: event(), matches: true),
        .init(label: "account exact", match: "account: 0000123456-00001", event: event(), matches: true),
        // device
        .init(label: "device glob, any kind", match: "device: \"70228*\"", event: event(ids: [DeviceID(kind: "iccid", id: "70228")]), matches: true),
        .init(label: "device kind and glob", match: "device: { kind: mdn, id: \"70228*\" }", event: event(), matches: true),
        .init(label: "device kind is case-insensitive", match: "device: { kind: MDN, id: \"70228*\" }", event: event(), matches: true),
        .init(label: "device kind differs", match: "device: { kind: iccid, id: \"70228*\" }", event: event(), matches: false),
        .init(label: "device kind any", match: "device: { kind: any, id: \"8914*\" }", event: event(ids: [DeviceID(kind: "mdn", id: "1"), DeviceID(kind: "iccid", id: "8914001")]), matches: true),
        .init(label: "device any of several ids", match: "device: { kind: esn, id: \"60E5*\" }", event: event(ids: [DeviceID(kind: "mdn", id: "1"), DeviceID(kind: "esn", id: "60E5F9B0")]), matches: true),
        .init(label: "device glob set", match: "device: \"7022[89]*\"", event: event(), matches: true),
        // channel and type
        .init(label: "channel callback", match: "channel: callback", event: event(), matches: true),
        .init(label: "channel poll vs callback", match: "channel: poll", event: event(), matches: false),
        .init(label: "channel list", match: "channel: [poll, callback]", event: event(channel: .poll), matches: true),
        .init(label: "type glob", match: "type: \"com.verizon.thingspace.sms.*\"", event: event(), matches: true),
        .init(label: "type mismatch", match: "type: com.example.other", event: event(), matches: false),
        // text
        .init(label: "text shorthand equals", match: "text: hello", event: event(), matches: true),
        .init(label: "text equals is exact", match: "text: { equals: Hello }", event: event(), matches: false),
        .init(label: "text equals ignoring case", match: "text: { equals: HELLO, ignoreCase: true }", event: event(), matches: true),
        .init(label: "text prefix", match: "text: { prefix: ALARM }", event: event(text: "ALARM tamper"), matches: true),
        .init(label: "text prefix is case-sensitive", match: "text: { prefix: alarm }", event: event(text: "ALARM tamper"), matches: false),
        .init(label: "text prefix ignoring case", match: "text: { prefix: alarm, ignoreCase: true }", event: event(text: "ALARM tamper"), matches: true),
        .init(label: "text contains", match: "text: { contains: tamper }", event: event(text: "ALARM tamper open"), matches: true),
        .init(label: "text contains ignoring case", match: "text: { contains: TAMPER, ignoreCase: true }", event: event(text: "ALARM tamper open"), matches: true),
        .init(label: "text regex", match: "text: { regex: '^ALM\\d{2}$' }", event: event(text: "ALM42"), matches: true),
        .init(label: "text regex fails", match: "text: { regex: '^ALM\\d{2}$' }", event: event(text: "ALM4"), matches: false),
        .init(label: "text regex ignoring case", match: "text: { regex: '^alm', ignoreCase: true }", event: event(text: "ALM4"), matches: true),
        // fields (json)
        .init(label: "json field equals text", match: "fields: { kind: alarm }", decode: "json", event: event(text: #"{"kind":"alarm"}"#), matches: true),
        .init(label: "json field equals differs", match: "fields: { kind: alarm }", decode: "json", event: event(text: #"{"kind":"ok"}"#), matches: false),
        .init(label: "json field gt", match: "fields: { temperature: { gt: 40 } }", decode: "json", event: event(text: #"{"temperature":51}"#), matches: true),
        .init(label: "json field gt at the bound", match: "fields: { temperature: { gt: 40 } }", decode: "json", event: event(text: #"{"temperature":40}"#), matches: false),
        .init(label: "json field gte at the bound", match: "fields: { temperature: { gte: 40 } }", decode: "json", event: event(text: #"{"temperature":40}"#), matches: true),
        .init(label: "json field lt, lte", match: "fields: { v: { lt: 200, lte: 199.5 } }", decode: "json", event: event(text: #"{"v":187}"#), matches: true),
        .init(label: "json field number equals", match: "fields: { v: 229 }", decode: "json", event: event(text: #"{"v":229.0}"#), matches: true),
        .init(label: "json field ne", match: "fields: { kind: { ne: ok } }", decode: "json", event: event(text: #"{"kind":"alarm"}"#), matches: true),
        .init(label: "json field ne needs the field", match: "fields: { kind: { ne: ok } }", decode: "json", event: event(text: #"{"other":1}"#), matches: false),
        .init(label: "json field in list", match: "fields: { kind: { in: [alarm, fault] } }", decode: "json", event: event(text: #"{"kind":"fault"}"#), matches: true),
        .init(label: "json field list shorthand is in", match: "fields: { kind: [alarm, fault] }", decode: "json", event: event(text: #"{"kind":"ok"}"#), matches: false),
        .init(label: "json field exists", match: "fields: { kwh: { exists: true } }", decode: "json", event: event(text: #"{"kwh":1}"#), matches: true),
        .init(label: "json field absent", match: "fields: { kwh: { exists: false } }", decode: "json", event: event(text: #"{"v":1}"#), matches: true),
        .init(label: "json nested path", match: "fields: { gps.lat: { gt: 33 } }", decode: "json", event: event(text: #"{"gps":{"lat":33.4}}"#), matches: true),
        .init(label: "json array index", match: "fields: { readings.1: 7 }", decode: "json", event: event(text: #"{"readings":[5,7]}"#), matches: true),
        .init(label: "json bool", match: "fields: { armed: true }", decode: "json", event: event(text: #"{"armed":true}"#), matches: true),
        .init(label: "quoted number compares as text", match: "fields: { code: \"042\" }", decode: "json", event: event(text: #"{"code":"042"}"#), matches: true),
        .init(label: "gt on text is false", match: "fields: { kind: { gt: 1 } }", decode: "json", event: event(text: #"{"kind":"alarm"}"#), matches: false),
        // undecodable: field conditions do not hold, exists: false does
        .init(label: "not json: equality false", match: "fields: { kind: alarm }", decode: "json", event: event(text: "kind=alarm"), matches: false),
        .init(label: "not json: exists false holds", match: "fields: { kind: { exists: false } }", decode: "json", event: event(text: "plain text"), matches: true),
        .init(label: "json array is not an object", match: "fields: { 0: 1 }", decode: "json", event: event(text: "[1]"), matches: false),
        .init(label: "no decode declared: no fields", match: "fields: { kind: alarm }", event: event(text: #"{"kind":"alarm"}"#), matches: false),
        // key=value
        .init(label: "keyValue number from text", match: "fields: { bat: { lt: 45 } }", decode: "keyValue", event: event(text: "spd=0 bat=41"), matches: true),
        .init(label: "keyValue equality", match: "fields: { mode: sleep }", decode: "keyValue", event: event(text: "mode=sleep;bat=90"), matches: true),
        .init(label: "keyValue custom separators", match: "fields: { pos: \"33.4,-112.0\" }", decode: "{ format: keyValue, pairSeparators: \";\" }", event: event(text: "pos=33.4,-112.0;bat=9"), matches: true),
        .init(label: "keyValue: a pair without = does not decode", match: "fields: { bat: { exists: true } }", decode: "keyValue", event: event(text: "bat=9 garbage"), matches: false),
        // csv
        .init(label: "csv named columns", match: "fields: { temperature: { gt: 40 }, kind: alarm }", decode: "{ format: csv, columns: [kind, temperature, battery] }", event: event(text: "alarm,51,3.7"), matches: true),
        .init(label: "csv wrong column count", match: "fields: { kind: alarm }", decode: "{ format: csv, columns: [kind, temperature] }", event: event(text: "alarm,51,3.7"), matches: false),
        .init(label: "csv quoted value", match: "fields: { note: \"a,b\" }", decode: "{ format: csv, columns: [kind, note] }", event: event(text: #"x,"a,b""#), matches: true),
        .init(label: "csv other delimiter", match: "fields: { temperature: 51 }", decode: "{ format: csv, columns: [kind, temperature], delimiter: \"|\" }", event: event(text: "alarm|51"), matches: true),
        // combinators
        .init(label: "all keys of a match must hold", match: "channel: callback\naccount: \"9*\"", event: event(), matches: false),
        .init(label: "all list", match: "all:\n  - channel: callback\n  - text: hello", event: event(), matches: true),
        .init(label: "any list: one holds", match: "any:\n  - channel: poll\n  - text: hello", event: event(), matches: true),
        .init(label: "any list: none holds", match: "any:\n  - channel: poll\n  - text: bye", event: event(), matches: false),
        .init(label: "not", match: "not: { channel: poll }", event: event(), matches: true),
        .init(label: "not of a holding match", match: "not: { text: hello }", event: event(), matches: false),
        .init(label: "nested any inside not", match: "not:\n  any:\n    - text: a\n    - text: hello", event: event(), matches: false),
        .init(label: "empty match is everything", match: "{}", event: event(), matches: true),
    ]

    @Test(arguments: matchCases)
    func matcher(_ testCase: MatchCase) throws {
        let set = try Self.set(match: testCase.match, decode: testCase.decode)
        #expect(set.routes[0].matches(testCase.event) == testCase.matches)
        // The explanation reaches the same verdict as the matcher.
        let explanation = set.explain(testCase.event)
        #expect((explanation.routes[0].outcome == .matched) == testCase.matches)
        #expect(set.route(testCase.event).isEmpty == !testCase.matches)
    }

    struct DecodeCase: Sendable, CustomTestStringConvertible {
        var decoding: PayloadDecoding
        var text: String
        var expected: FieldValue?
        var testDescription: String { "\(decoding): \(text)" }
    }

    static let decodeCases: [DecodeCase] = [
        .init(decoding: .json, text: #"{"a":1,"b":"x"}"#, expected: .object(["a": .number("1"), "b": .string("x")])),
        .init(decoding: .json, text: "not json", expected: nil),
        .init(decoding: .json, text: "42", expected: nil),
        .init(decoding: .keyValue(), text: "a=1, b=x;c=", expected: .object(["a": .string("1"), "b": .string("x"), "c": .string("")])),
        .init(decoding: .keyValue(), text: "", expected: nil),
        .init(decoding: .keyValue(), text: "=1", expected: nil),
        .init(decoding: .keyValue(separator: ":", pairSeparators: " "), text: "a:1 b:2", expected: .object(["a": .string("1"), "b": .string("2")])),
        .init(decoding: .csv(columns: ["k", "t"]), text: " alarm , 51 \n", expected: .object(["k": .string("alarm"), "t": .string("51")])),
        .init(decoding: .csv(columns: ["k", "t"]), text: "a,\"say \"\"hi\"\"\"", expected: .object(["k": .string("a"), "t": .string("say \"hi\"")])),
        .init(decoding: .csv(columns: ["k"]), text: "a\nb", expected: nil),
    ]

    @Test(arguments: decodeCases)
    func decoding(_ testCase: DecodeCase) {
        #expect(testCase.decoding.decode(testCase.text) == testCase.expected)
    }

    @Test func decodingsSurviveTheJournalAsJSON() throws {
        for decoding in [PayloadDecoding.json, .keyValue(separator: ":", pairSeparators: ";"), .csv(columns: ["a", "b"], delimiter: "|")] {
            let options = DeliveryOptions(format: .template, template: "{{fields.a}}", decoding: decoding)
            #expect(DeliveryOptions(storedJSON: options.storedJSON()) == options)
        }
        #expect(DeliveryOptions.default.storedJSON() == nil)
        #expect(DeliveryOptions(storedJSON: nil) == .default)
        #expect(DeliveryOptions(storedJSON: "not json") == .default)
    }

    @Test func destinationsCarryTheirOptions() throws {
        let text = """
            decode: json
            routes:
              - name: alarms
                to:
                  - archive
                  - sink: kafka
                    topic: "alarms.{account}"
                    key: "{device}"
                    format: data
                  - sink: oncall
                    path: "oncall/{date}.log"
                    format: template
                    template: "{{subject}} {{fields.kind}}"
                    contentType: text/plain
                stop: true
            """
        let set = try RouteSet.load(sources: [("a.yaml", text)], sinks: Self.sinks, sinkTypes: Self.sinkTypes)
        let deliveries = set.route(Self.event(text: #"{"kind":"alarm"}"#))
        #expect(deliveries.map(\.sink) == ["archive", "kafka", "oncall"])
        #expect(deliveries[0].options == .default)
        #expect(deliveries[1].options == DeliveryOptions(format: .data, topic: "alarms.{account}", key: "{device}"))
        // A template delivery keeps the file's decoding, so `fields` is in the template's scope.
        #expect(deliveries[2].options == DeliveryOptions(format: .template, template: "{{subject}} {{fields.kind}}", contentType: "text/plain", path: "oncall/{date}.log", decoding: .json))
        #expect(set.routes[0].stop)
        #expect(!set.version.isEmpty)
    }

    @Test func fanOutStopAndOrderAcrossFiles() throws {
        let sources = [
            ("a.yaml", "routes:\n  - name: first\n    to: [archive]\n  - name: alarms\n    match: { text: { prefix: ALARM } }\n    to: [oncall]\n    stop: true\n"),
            ("b.yaml", "routes:\n  - name: later\n    to: [kafka]\n"),
        ]
        let set = try RouteSet.load(sources: sources, sinks: Self.sinks)
        #expect(set.route(Self.event(text: "ALARM")).map(\.route) == ["first", "alarms"])
        #expect(set.route(Self.event(text: "ok")).map(\.route) == ["first", "later"])
        let explanation = set.explain(Self.event(text: "ALARM"))
        #expect(explanation.routes.map(\.outcome) == [.matched, .matched, .skipped(stoppedBy: "alarms")])
    }

    @Test(arguments: [
        (UnmatchedPolicy.drop, [RoutedDelivery]()),
        (.sink("archive"), [RoutedDelivery(route: "_unmatched", sink: "archive")]),
        (.deadLetter, [RoutedDelivery(route: "_unmatched", sink: "_deadletter", isDeadLetter: true)]),
    ])
    func unmatchedPolicy(_ policy: UnmatchedPolicy, _ expected: [RoutedDelivery]) throws {
        let set = try RouteSet.load(sources: [("a.yaml", "routes:\n  - name: poll\n    match: { channel: poll }\n    to: [kafka]\n")], sinks: Self.sinks, unmatched: policy)
        #expect(set.route(Self.event()) == expected)
        #expect(set.route(Self.event(channel: .poll)).map(\.route) == ["poll"])
        #expect(set.explain(Self.event()).unmatched)
    }

    @Test(arguments: ["drop", "deadLetter", "sink:archive", "sink: archive"])
    func unmatchedPolicyParses(_ text: String) {
        #expect(UnmatchedPolicy(parsing: text)?.description == text.replacingOccurrences(of: ": ", with: ":"))
    }

    @Test func versionFollowsTheContentsAndThePolicy() throws {
        let a = [("a.yaml", "routes:\n  - name: x\n    to: [archive]\n")]
        let b = [("a.yaml", "routes:\n  - name: y\n    to: [archive]\n")]
        let v1 = try RouteSet.load(sources: a, sinks: Self.sinks).version
        #expect(try RouteSet.load(sources: a, sinks: Self.sinks).version == v1)
        #expect(try RouteSet.load(sources: b, sinks: Self.sinks).version != v1)
        #expect(try RouteSet.load(sources: a, sinks: Self.sinks, unmatched: .deadLetter).version != v1)
        // Read by another path (another working directory): the same version.
        #expect(try RouteSet.load(sources: [("/srv/thingbridge/Routes/a.yaml", a[0].1)], sinks: Self.sinks).version == v1)
    }

    @Test func explanationSaysWhy() throws {
        let text = """
            decode: json
            routes:
              - name: hot
                match:
                  device: { kind: mdn, id: "70228*" }
                  fields: { temperature: { gt: 40 } }
                to:
                  - sink: kafka
                    topic: "alarms.{account}"
              - name: cold
                match: { channel: poll }
                to: [archive]
            """
        let set = try RouteSet.load(sources: [("r.yaml", text)], sinks: Self.sinks, unmatched: .deadLetter)
        let hot = Self.event(text: #"{"temperature":51}"#)
        let output = set.explain(hot).text(for: hot)
        #expect(output.contains("route hot  [r.yaml:3:11]  MATCH"))
        #expect(output.contains("✓ device of kind mdn matches \"70228*\" — device ids are mdn:7022895510  [5:7]"))
        #expect(output.contains("✓ fields.temperature > 40 — fields.temperature is 51  [6:32]"))
        #expect(output.contains("→ kafka (topic alarms.{account})"))
        #expect(output.contains("route cold  [r.yaml:10:11]  no match"))
        #expect(output.contains("✗ channel is poll — channel is callback"))
        #expect(output.contains("kafka  by route hot  (topic alarms.{account})"))
        let plain = Self.event(text: "not json")
        let unmatched = set.explain(plain).text(for: plain)
        #expect(unmatched.contains("the text does not decode as json, so there are no fields"))
        #expect(unmatched.contains("no route matched: routing.unmatched is deadLetter"))
        #expect(unmatched.contains("dead letters  by route _unmatched"))
    }
}
