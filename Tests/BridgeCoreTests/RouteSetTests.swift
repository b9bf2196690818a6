import BridgeCore
import Foundation
import Testing
import TestSupport
import ThingSpace

@Suite struct RouteSetTests {
    static func event(account: String = "0000123456-00001", ids: [DeviceID], channel: Channel = .callback) -> BridgeEvent {
        EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: ids, text: "x"), account: account, channel: channel, receivedAt: Date()
        )
    }

    static let files = [
        "10-archive.yaml": """
        routes:
          - name: archive
            to: [archive]
        """,
        "20-trackers.yaml": """
        # trackers only
        routes:
          - name: trackers
            match:
              account: "0000123456-*"
              device: { kind: MDN, id: "70228*" }
            to:
              - sink: trackers
              - sink: archive
            stop: true
          - name: after-trackers
            match:
              device: "89*"
            to: [sims]
        """,
        "20-trackers.test.yaml": "not: a route file",
    ]

    func load(_ files: [String: String], sinks: Set<String> = ["archive", "trackers", "sims"], unmatched: UnmatchedPolicy = .drop) async throws -> RouteSet {
        try await withTemporaryDirectory { directory in
            for (name, text) in files { try directory.write(text, to: name) }
            return try RouteSet.load(from: directory.url, sinks: sinks, unmatched: unmatched)
        }
    }

    @Test func loadsFilesInNameOrderAndSkipsFixtures() async throws {
        let routes = try await load(Self.files)
        #expect(routes.routes.map(\.name.value) == ["archive", "trackers", "after-trackers"])
        #expect(routes.routes[1].name.location?.line == 3)
        #expect(routes.routes[1].file.hasSuffix("20-trackers.yaml"))
    }

    @Test func fansOutAndStops() async throws {
        let routes = try await load(Self.files)
        let tracker = Self.event(ids: [DeviceID(kind: "mdn", id: "7022895555"), DeviceID(kind: "iccid", id: "8914")])
        #expect(routes.route(tracker) == [
            .init(route: "archive", sink: "archive"), .init(route: "trackers", sink: "trackers"), .init(route: "trackers", sink: "archive"),
        ])
        // Same device on another account: the trackers route does not hold, the next one does.
        let other = Self.event(account: "0000999999-00001", ids: [DeviceID(kind: "mdn", id: "7022895555"), DeviceID(kind: "iccid", id: "8914")])
        #expect(routes.route(other).map(\.route) == ["archive", "after-trackers"])
        // The kind is part of the condition: an ICCID starting 70228 is not an MDN.
        let iccid = Self.event(ids: [DeviceID(kind: "iccid", id: "70228")])
        #expect(routes.route(iccid).map(\.route) == ["archive"])
    }

    @Test func unmatchedEventsFollowThePolicy() async throws {
        let only = ["r.yaml": "routes:\n  - name: poll-only\n    match: { channel: poll }\n    to: [sims]\n"]
        let drop = try await load(only, unmatched: .drop)
        let event = Self.event(ids: [DeviceID(kind: "mdn", id: "1")])
        #expect(drop.route(event).isEmpty)
        let toSink = try await load(only, unmatched: .sink("archive"))
        #expect(toSink.route(event) == [.init(route: "_unmatched", sink: "archive")])
        #expect(toSink.route(Self.event(ids: [DeviceID(kind: "mdn", id: "1")], channel: .poll)).map(\.route) == ["poll-only"])
    }

    @Test func unknownSinkIsRejectedWithFileLineAndColumn() async throws {
        let files = ["a.yaml": "routes:\n  - name: one\n    to:\n      - sink: archive\n      - sink: kafak\n"]
        do {
            _ = try await load(files)
            Issue.record("an unknown sink must be rejected")
        } catch let errors as ConfigErrors {
            #expect(errors.errors.count == 1)
            let error = try #require(errors.errors.first)
            #expect(error.location?.file.hasSuffix("a.yaml") == true)
            #expect(error.location?.line == 5)
            #expect(error.location?.column == 15)
            #expect(error.message.contains("unknown sink 'kafak'"))
            #expect(error.message.contains("archive, sims, trackers"))
        }
    }

    @Test func reportsEveryErrorOfEveryFile() async throws {
        let files = [
            "a.yaml": "routes:\n  - name: dup\n    to: [nowhere]\n  - name: dup\n    to: [archive]\n    stopp: true\n",
            "b.yaml": "routes:\n  - name: ok\n    to: [archive]\n",
            "c.yaml": "routes:\n  - name: other\n    to: [missing]\n",
        ]
        do {
            _ = try await load(files)
            Issue.record("expected errors")
        } catch let errors as ConfigErrors {
            let text = errors.description
            // Reading does not stop at a.yaml's unknown key: its unknown sink and duplicate name
            // are found too, and so is c.yaml's sink error.
            #expect(text.contains("unknown key 'stopp'"))
            #expect(text.contains("unknown sink 'nowhere'"))
            #expect(text.contains("duplicate route name 'dup'"))
            #expect(text.contains("unknown sink 'missing'"))
            #expect(errors.errors.count == 4)
        }
    }

    @Test func duplicateNamesAcrossFilesAreRejected() async throws {
        let files = [
            "a.yaml": "routes:\n  - name: same\n    to: [archive]\n",
            "b.yaml": "routes:\n  - name: same\n    to: [archive]\n",
        ]
        await #expect(throws: ConfigErrors.self) { try await load(files) }
    }
}
