import BridgeCore
import BridgeGateway
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Hot reload in the running gateway: the folder watch and SIGHUP, the routes in force, `/readyz`.
@Suite(.timeLimit(.minutes(2)), .serialized)
struct GatewayRouteReloadTests {
    static let sinks = """
          archive:
            type: file
            path: "archive/{account}/{date}.jsonl"
          other:
            type: file
            path: "other/{date}.jsonl"
        """

    @Test func aBrokenEditShowsInReadyzAndAFixedOneRoutesNewEvents() async throws {
        try await GatewayHarness.with(sinks: Self.sinks) { gateway in
            let routesFile = gateway.directory.appending("routes/all.yaml")
            let first = gateway.gateway.ingest.routeSet.version
            let ready = try await gateway.admin("/readyz")
            #expect(ready.body.contains(#""version":"\#(first)""#))
            #expect(ready.body.contains(#""lastReloadFailed":false"#))

            // A broken edit: the old routes stay in force; /readyz says why, and the gateway stays ready.
            try "routes:\n  - name: everything\n    to: [archiv]\n".write(to: routesFile, atomically: true, encoding: .utf8)
            #expect(await eventually { (try? await gateway.admin("/readyz").body.contains(#""lastReloadFailed":true"#)) == true })
            let failed = try await gateway.admin("/readyz")
            #expect(failed.status == 200)
            #expect(failed.body.contains("names unknown sink 'archiv'"))
            #expect(failed.body.contains(#""reloadFailures":1"#))
            #expect(gateway.gateway.ingest.routeSet.version == first)
            #expect(try await gateway.post(GatewayHarness.callbackBody(requestID: "during-broken")).status == 200)

            // Fixed, to a new sink: applied by the watch, and the next event goes there.
            try "routes:\n  - name: everything\n    to: [other]\n".write(to: routesFile, atomically: true, encoding: .utf8)
            #expect(await eventually { gateway.gateway.ingest.routeSet.version != first })
            let result = try await gateway.post(GatewayHarness.callbackBody(requestID: "after-fix"))
            #expect(result.status == 200)
            let otherFile = gateway.directory.appending("data/other/\(Timestamps.format(Date()).prefix(10)).jsonl")
            #expect(await eventually { ((try? readJSONLines(otherFile)) ?? []).count == 1 })
            let after = try await gateway.admin("/readyz")
            #expect(after.body.contains(#""lastReloadFailed":false"#))
            #expect(after.body.contains(#""generation":2"#))
        }
    }

    @Test func sighupReloads() async throws {
        let sinks = """
              archive:
                type: file
                path: "archive/{account}/{date}.jsonl"
              another:
                type: file
                path: "another/{date}.jsonl"
            """
        try await GatewayHarness.with(sinks: sinks) { gateway in
            let first = gateway.gateway.ingest.routeSet.version
            // The same size and modification time: the folder watch cannot see this edit, only SIGHUP can.
            let file = gateway.directory.appending("routes/all.yaml")
            let modified = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate] as? Date)
            let old = try String(contentsOf: file, encoding: .utf8)
            let new = old.replacingOccurrences(of: "[archive]", with: "[another]")
            #expect(new.utf8.count == old.utf8.count && new != old)
            try new.write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: file.path)
            // Before the reloader traps SIGHUP, its default action would end this process.
            #expect(await eventually { gateway.gateway.routeReloader.isTrappingSIGHUP })
            kill(getpid(), SIGHUP)
            #expect(await eventually { gateway.gateway.ingest.routeSet.version != first })
            #expect(gateway.gateway.ingest.routeSet.routes.first?.to.first?.sink.value == "another")
            #expect(gateway.gateway.routeReloader.status.lastErrors.isEmpty)
            #expect(gateway.gateway.routeReloader.status.reason == "SIGHUP")
        }
    }
}
