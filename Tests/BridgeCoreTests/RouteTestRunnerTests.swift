import BridgeCore
import Foundation
import Testing
import TestSupport
import ThingSpace

/// `routes test`: the test files beside route files, their cases and the report.
@Suite struct RouteTestRunnerTests {
    static let sinks: Set<String> = ["archive", "kafka", "oncall"]
    static let defaults = [
        "archive": SinkDefaults(type: "file", path: "archive/{account}/{date}.jsonl"),
        "kafka": SinkDefaults(type: "kafka", topic: "thingbridge.{account}", key: "{device}"),
        "oncall": SinkDefaults(type: "file", path: "oncall/{date}.log"),
    ]

    static let routes = """
        decode: json
        routes:
          - name: alarms
            match: { fields: { kind: alarm } }
            to:
              - sink: kafka
                topic: "alarms.{account}"
              - sink: oncall
                format: template
                template: "{{subject}}: {{fields.code}}"
          - name: everything
            to: [archive]
        """

    func run(tests: String, routes: String = Self.routes, unmatched: UnmatchedPolicy = .drop) throws -> RouteTestRunner.Report {
        let folder = TemporaryDirectory("route-tests")
        defer { try? FileManager.default.removeItem(at: folder.url) }
        try routes.write(to: folder.appending("fleet.yaml"), atomically: true, encoding: .utf8)
        try tests.write(to: folder.appending("fleet.test.yaml"), atomically: true, encoding: .utf8)
        let set = try RouteSet.load(from: folder.url, sinks: Self.sinks, unmatched: unmatched)
        return try RouteTestRunner.runFolder(folder: folder.url, routes: set, sinkDefaults: Self.defaults)
    }

    @Test func passingCasesCheckRoutesSinksPayloadsTopicsAndPaths() throws {
        let report = try run(tests: """
            tests:
              - name: an alarm
                input:
                  account: "0000123456-00001"
                  device: mdn:7022895510
                  text: '{"kind":"alarm","code":"E42"}'
                expect:
                  routes: [alarms, everything]
                  sinks: [kafka, oncall, archive]
                  deliveries:
                    - sink: kafka
                      topic: alarms.0000123456-00001
                      key: "7022895510"
                      contentType: "application/cloudevents+json; charset=UTF-8"
                      fields: { data.account: "0000123456-00001", data.device.id: "7022895510" }
                    - sink: oncall
                      payload: "7022895510: E42"
                      path: oncall/2026-01-01.log
                    - sink: archive
                      route: everything
                      path: archive/0000123456-00001/2026-01-01.jsonl
              - name: a full CloudEvent as input
                event:
                  specversion: "1.0"
                  id: "e1"
                  source: /thingspace/accounts/A
                  type: com.verizon.thingspace.sms.mo
                  subject: "1"
                  time: "2026-01-01T00:00:00.000Z"
                  datacontenttype: application/json
                  data:
                    account: A
                    device: { kind: mdn, id: "1" }
                    deviceIds: [{ kind: mdn, id: "1" }]
                    text: hello
                    channel: poll
                    receivedAt: "2026-01-01T00:00:00.000Z"
                expect:
                  routes: [everything]
                  deliveries:
                    - sink: archive
                      json:
                        specversion: "1.0"
                        id: e1
                        source: /thingspace/accounts/A
                        type: com.verizon.thingspace.sms.mo
                        subject: "1"
                        time: "2026-01-01T00:00:00.000Z"
                        datacontenttype: application/json
                        data:
                          account: A
                          device: { kind: mdn, id: "1" }
                          deviceIds: [{ kind: mdn, id: "1" }]
                          text: hello
                          channel: poll
                          receivedAt: "2026-01-01T00:00:00.000Z"
            """)
        #expect(report.passed == 2, "\(report.text)")
        #expect(report.failed == 0)
        #expect(report.succeeded)
        #expect(report.text.contains("  ✓ an alarm"))
        #expect(report.text.contains("2 passed, 0 failed (1 test file(s))"))
    }

    @Test func failingCasesSayWhatDiffers() throws {
        let report = try run(tests: """
            tests:
              - name: wrong expectations
                input: { device: mdn:1, text: '{"kind":"alarm","code":"E1"}' }
                expect:
                  routes: [alarms]
                  sinks: [kafka]
                  deliveries:
                    - sink: kafka
                      topic: alarms.other
                    - sink: oncall
                      payload: "1: E2"
                    - sink: nowhere
              - name: expected unmatched
                input: { device: mdn:1, text: x }
                expect:
                  unmatched: true
            """)
        #expect(report.failed == 2)
        #expect(!report.succeeded)
        let text = report.text
        #expect(text.contains("✗ wrong expectations  [fleet.test.yaml:2:13]") || text.contains("✗ wrong expectations  ["))
        #expect(text.contains("routes: expected [alarms], matched [alarms, everything]"))
        #expect(text.contains("sinks: expected [kafka], got [archive, kafka, oncall]"))
        #expect(text.contains("delivery to 'kafka': topic: expected alarms.other, got alarms.0000123456-00001 (from alarms.{account})"))
        #expect(text.contains("delivery to 'oncall': payload: expected"))
        #expect(text.contains("delivery to 'nowhere': none made"))
        #expect(text.contains("expected no route to match (the unmatched policy), but [everything] matched"))
        #expect(text.contains("0 passed, 2 failed"))
    }

    @Test func scopeAllUsesEveryFileAndTheUnmatchedPolicy() throws {
        let routes = "routes:\n  - name: polls\n    match: { channel: poll }\n    to: [kafka]\n"
        let report = try run(tests: """
            scope: all
            tests:
              - name: a callback is unmatched and becomes a dead letter
                input: { device: mdn:1, text: x }
                expect:
                  unmatched: true
                  routes: []
                  sinks: [_deadletter]
              - name: a poll matches
                input: { device: mdn:1, text: x, channel: poll }
                expect: { routes: [polls], unmatched: false }
            """, routes: routes, unmatched: .deadLetter)
        #expect(report.passed == 2, "\(report.text)")
    }

    @Test func mistakesInTestFilesAreErrorsWithPositions() throws {
        let report = try run(tests: """
            tests:
              - name: no expectations
                input: { device: mdn:1, text: x }
              - name: two inputs
                input: { device: mdn:1, text: x }
                event: { id: 1 }
                expect: { routes: [] }
              - name: typo
                input: { device: mdn:1, txt: x }
                expect: { routez: [] }
            """)
        #expect(!report.succeeded)
        #expect(report.errors >= 4, "\(report.text)")
        #expect(report.text.contains("fleet.test.yaml:2:11: test 'no expectations' needs 'expect'"))
        #expect(report.text.contains("fleet.test.yaml:4:11: test 'two inputs' needs exactly one of input"))
        #expect(report.text.contains("fleet.test.yaml:9:29: unknown key 'txt' in 'input' (did you mean 'text'?)"))
        #expect(report.text.contains("fleet.test.yaml:10:15: unknown key 'routez' in 'expect' (did you mean 'routes'?)"))
    }

    @Test func aFolderWithoutTestsDoesNotSucceed() throws {
        let folder = TemporaryDirectory("route-tests")
        defer { try? FileManager.default.removeItem(at: folder.url) }
        try "routes:\n  - name: a\n    to: [archive]\n".write(to: folder.appending("a.yaml"), atomically: true, encoding: .utf8)
        let set = try RouteSet.load(from: folder.url, sinks: Self.sinks)
        let report = try RouteTestRunner.runFolder(folder: folder.url, routes: set)
        #expect(!report.succeeded)
        #expect(report.text.contains("no test files"))
    }

    @Test(arguments: [
        (#"{"account":"A","device":"iccid:8914","text":"hi","channel":"poll"}"#, "A", "iccid", Channel.poll),
        (#"{"device":{"kind":"mdn","id":"1"},"text":"hi"}"#, "0000123456-00001", "mdn", .callback),
    ])
    func explainReadsTheShortForm(_ json: String, _ account: String, _ kind: String, _ channel: Channel) throws {
        let event = try EventFile.parse(Data(json.utf8))
        #expect(event.data.account == account)
        #expect(event.data.device.kind == kind)
        #expect(event.data.channel == channel)
    }

    @Test func explainReadsAStoredEventAndRejectsNonsense() throws {
        let stored = try RouteLanguageTests.event(text: "x").jsonData()
        #expect(try EventFile.parse(stored).data.text == "x")
        #expect(throws: (any Error).self) { try EventFile.parse(Data("[1]".utf8)) }
        #expect(throws: (any Error).self) { try EventFile.parse(Data(#"{"text":"x"}"#.utf8)) }
    }
}

extension RouteTestRunnerTests {
    @Test func anEventFileBesideTheTestsIsAnInput() throws {
        let folder = TemporaryDirectory("route-tests")
        defer { folder.remove() }
        try folder.write(Self.routes, to: "fleet.yaml")
        let event = RouteLanguageTests.event(text: #"{"kind":"alarm","code":"E9"}"#)
        try folder.write(String(decoding: try event.jsonData(), as: UTF8.self), to: "events/alarm.json")
        try folder.write("""
            tests:
              - name: a stored event from a file
                eventFile: events/alarm.json
                expect:
                  routes: [alarms, everything]
                  deliveries:
                    - sink: oncall
                      payload: "7022895510: E9"
            """, to: "fleet.test.yaml")
        let set = try RouteSet.load(from: folder.url, sinks: Self.sinks)
        let report = try RouteTestRunner.runFolder(folder: folder.url, routes: set)
        #expect(report.passed == 1, "\(report.text)")
        #expect(report.succeeded)
        try folder.write("""
            tests:
              - name: a missing file is an error
                eventFile: events/nope.json
                expect: { routes: [] }
            """, to: "fleet.test.yaml")
        let missing = try RouteTestRunner.runFolder(folder: folder.url, routes: set)
        #expect(missing.text.contains("cannot read event file"), "\(missing.text)")
        #expect(missing.errors == 1)
        #expect(!missing.succeeded)
    }
}
