import BridgeCore
import BridgeGateway
import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TestSupport
import ThingSpace

/// Hot reload: a bad file keeps the old set; a reload under load loses no event and routes none
/// by a half-loaded set; every event records the version that routed it.
@Suite(.timeLimit(.minutes(2)), .serialized)
struct RouteReloadTests {
    static let sinks: Set<String> = ["a", "b", "archive"]

    static func message(_ n: Int) -> MOSMSCallback {
        MOSMSCallback(requestID: "req-\(n)-\(UUID().uuidString)", deviceIDs: [DeviceID(kind: "mdn", id: "70228\(n % 10)")], text: "m\(n)")
    }

    /// A routes folder, a journal and an ingest over them.
    struct Fixture: Sendable {
        let directory: TemporaryDirectory
        let routes: URL
        let journal: SQLiteJournal
        let ingest: Ingest
        let reloader: RouteReloader

        init(files: [String: String], pollInterval: Duration = .milliseconds(50)) throws {
            directory = TemporaryDirectory("reload")
            routes = directory.appending("routes")
            try FileManager.default.createDirectory(at: routes, withIntermediateDirectories: true)
            for (name, text) in files { try text.write(to: routes.appendingPathComponent(name), atomically: true, encoding: .utf8) }
            journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let folder = routes
            let load: @Sendable () throws(ConfigErrors) -> RouteSet = { () throws(ConfigErrors) -> RouteSet in
                try RouteSet.load(from: folder, sinks: RouteReloadTests.sinks, unmatched: .deadLetter)
            }
            ingest = Ingest(journal: journal, routes: try load(), signals: [:], logger: Logger(label: "test"))
            reloader = RouteReloader(
                ingest: ingest, directory: routes, pollInterval: pollInterval, debounce: .milliseconds(50),
                watchSignals: false, logger: Logger(label: "test"), load: load
            )
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(to: routes.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        /// Per stored event: the route-set version recorded and its deliveries' (route, sink, options).
        func stored() throws -> [(version: String?, deliveries: [(route: String, sink: String, options: String?, state: String)])] {
            let queue = try DatabaseQueue(path: directory.appending("journal.sqlite").path)
            return try queue.read { db in
                // Deliveries to streamed sinks are the event's `destinations` (pending while after
                // the sink's cursor); the others are rows.
                try Row.fetchAll(db, sql: "SELECT seq, routes_version, destinations FROM events ORDER BY seq").map { event in
                    let seq: Int64 = event["seq"]
                    var deliveries = try ((event["destinations"] as String?) ?? "").split(separator: ",").map { id in
                        let row = try #require(try Row.fetchOne(db, sql: """
                            SELECT d.route, d.sink, nullif(d.options, '') AS options, CASE WHEN ? > s.cursor THEN 'pending' ELSE 'delivered' END AS state
                            FROM destinations d JOIN delivery_streams s ON s.sink = d.sink WHERE d.id = ?
                            """, arguments: [seq, Int64(id)]))
                        return (route: row["route"] as String, sink: row["sink"] as String, options: row["options"] as String?, state: row["state"] as String)
                    }
                    deliveries += try Row.fetchAll(
                        db, sql: "SELECT route, sink, options, state FROM deliveries WHERE event_seq = ? ORDER BY id", arguments: [seq]
                    ).map { (route: $0["route"] as String, sink: $0["sink"] as String, options: $0["options"] as String?, state: $0["state"] as String) }
                    return (version: event["routes_version"] as String?, deliveries: deliveries)
                }
            }
        }
    }

    static let setA = "routes:\n  - name: to-a\n    to:\n      - sink: a\n        format: data\n  - name: archive\n    to: [archive]\n"
    static let setB = "routes:\n  - name: to-b\n    to:\n      - sink: b\n        format: template\n        template: \"{{subject}}\"\n  - name: archive\n    to: [archive]\n"

    @Test func aBadFileKeepsTheOldSetAndReportsEveryError() async throws {
        let fixture = try Fixture(files: ["r.yaml": Self.setA])
        defer { try? FileManager.default.removeItem(at: fixture.directory.url) }
        let before = fixture.ingest.routeSet.version
        try fixture.write("r.yaml", "routes:\n  - name: to-a\n    to: [nowhere]\n  - name: x\n    match: { text: { regex: '(' } }\n    to: [a]\n")
        #expect(fixture.reloader.reload(reason: "test") == false)
        #expect(fixture.ingest.routeSet.version == before)
        let status = fixture.reloader.status
        #expect(status.failures == 1)
        #expect(status.generation == 1)
        #expect(status.lastErrors.count == 2)
        #expect(status.lastErrors.contains { $0.contains("r.yaml:3:10: route 'to-a' names unknown sink 'nowhere'") })
        #expect(status.lastErrors.contains { $0.contains("invalid regex") })
        // Events still route by the old set.
        let result = try await fixture.ingest.ingest(Self.message(1), account: "A", channel: .callback)
        #expect(result.deliveries.map(\.sink) == ["a", "archive"])
        // A good file afterwards is applied and clears the error.
        try fixture.write("r.yaml", Self.setB)
        #expect(fixture.reloader.reload(reason: "test"))
        #expect(fixture.reloader.status.lastErrors.isEmpty)
        #expect(fixture.reloader.status.generation == 2)
        #expect(fixture.ingest.routeSet.version != before)
        try fixture.journal.close()
    }

    @Test func theFolderWatchReloadsAChangedFileAndIgnoresABrokenOne() async throws {
        let fixture = try Fixture(files: ["r.yaml": Self.setA])
        defer { try? FileManager.default.removeItem(at: fixture.directory.url) }
        let watch = Task { try await fixture.reloader.run() }
        defer { watch.cancel() }
        let initial = fixture.ingest.routeSet.version
        // A second file with a duplicate route name: invalid, the set stays.
        try fixture.write("s.yaml", "routes:\n  - name: archive\n    to: [b]\n")
        #expect(await eventually { fixture.reloader.status.failures >= 1 })
        #expect(fixture.ingest.routeSet.version == initial)
        #expect(fixture.reloader.status.lastErrors.contains { $0.contains("duplicate route name 'archive'") })
        // Fixed: the watch applies it.
        try fixture.write("s.yaml", "routes:\n  - name: more\n    to: [b]\n")
        #expect(await eventually { fixture.ingest.routeSet.version != initial })
        #expect(fixture.ingest.routeSet.routes.map(\.name.value) == ["to-a", "archive", "more"])
        #expect(fixture.reloader.status.lastErrors.isEmpty)
        watch.cancel()
        try fixture.journal.close()
    }

    @Test func reloadUnderLoadLosesNothingAndNeverMixesSets() async throws {
        let fixture = try Fixture(files: ["r.yaml": Self.setA])
        defer { try? FileManager.default.removeItem(at: fixture.directory.url) }
        let versionA = fixture.ingest.routeSet.version
        try fixture.write("r.yaml", Self.setB)
        let versionB = try RouteSet.load(from: fixture.routes, sinks: Self.sinks, unmatched: .deadLetter).version
        try fixture.write("r.yaml", Self.setA)
        let writers = 8, perWriter = 150
        let sent = SharedCount()
        let reloads = SharedCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for n in 0..<perWriter {
                        let number = writer * perWriter + n
                        // Single messages and history-page batches, both routed under one snapshot.
                        if n % 10 == 0 {
                            let batch = (0..<5).map { Self.message(number * 10 + $0) }
                            _ = try await fixture.ingest.ingest(batch, account: "A", channel: .poll)
                            sent.add(5)
                        } else {
                            _ = try await fixture.ingest.ingest(Self.message(number), account: "A", channel: .callback)
                            sent.add(1)
                        }
                    }
                }
            }
            group.addTask {
                // Flip between the two sets, with a broken file in between each time.
                var useB = true
                while sent.value < writers * perWriter {
                    try fixture.write("r.yaml", useB ? Self.setB : Self.setA)
                    if fixture.reloader.reload(reason: "test") { reloads.add(1) }
                    try fixture.write("r.yaml", "routes: [ broken")
                    #expect(fixture.reloader.reload(reason: "test") == false)
                    useB.toggle()
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            try await group.waitForAll()
        }
        let events = try fixture.stored()
        #expect(events.count == sent.value, "every event journaled")
        #expect(reloads.value >= 2)
        var byVersion: [String: Int] = [:]
        for event in events {
            let version = try #require(event.version)
            byVersion[version, default: 0] += 1
            let shape = event.deliveries.map { "\($0.route)→\($0.sink)" }
            // Each event's deliveries are all of one set, the one whose version it records.
            if version == versionA {
                #expect(shape == ["to-a→a", "archive→archive"])
                #expect(event.deliveries[0].options == #"{"format":"data"}"#)
            } else {
                #expect(version == versionB)
                #expect(shape == ["to-b→b", "archive→archive"])
                #expect(event.deliveries[0].options == #"{"format":"template","template":"{{subject}}"}"#)
            }
            #expect(event.deliveries.allSatisfy { $0.state == "pending" })
        }
        #expect(byVersion.count == 2, "both sets routed events: \(byVersion)")
        try fixture.journal.close()
    }

    @Test func theDeadLetterPolicyStoresUnmatchedEventsAsDeadLetters() async throws {
        let fixture = try Fixture(files: ["r.yaml": "routes:\n  - name: polls\n    match: { channel: poll }\n    to: [a]\n"])
        defer { try? FileManager.default.removeItem(at: fixture.directory.url) }
        let result = try await fixture.ingest.ingest(Self.message(1), account: "A", channel: .callback)
        #expect(result.deliveries == [RoutedDelivery(route: "_unmatched", sink: "_deadletter", isDeadLetter: true)])
        let letters = try await fixture.journal.deadLetters(DeadLetterFilter())
        #expect(letters.count == 1)
        #expect(letters.first?.reason == "no route matched (routing.unmatched: deadLetter)")
        #expect(letters.first?.route == "_unmatched")
        // Not replayable: no sink would take it.
        #expect(try await fixture.journal.replayDeadLetters(DeadLetterFilter()) == 0)
        #expect(try await fixture.journal.dueDeliveries(sink: "_deadletter", limit: 10).isEmpty)
        try fixture.journal.close()
    }
}

/// A counter shared by concurrent test tasks.
final class SharedCount: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
