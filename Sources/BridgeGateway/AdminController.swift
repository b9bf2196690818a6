//===----------------------------------------------------------------------===//
// ThingBridge — admin listener: health, readiness, metrics
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Hummingbird
import NIOCore
import Prometheus

/// `/healthz` (the process answers), `/readyz` (the journal answers), `/metrics` (Prometheus text).
struct AdminController: Sendable {
    let journal: SQLiteJournal
    let registry: PrometheusCollectorRegistry?
    let pollers: [String: HistoryPoller]
    let backpressure: BackpressureMonitor
    /// The route set in force and the last reload's errors, for `/readyz` details.
    var routes: RouteReloader? = nil
    /// Sinks that can check their destination (Kafka): shown in `/readyz` as details. An
    /// unreachable destination does not make the gateway unready: events wait in the journal.
    var healthReporting: [String: any SinkHealthReporting] = [:]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(status: .ok, ["status": "ok"])
        }
        router.get("/readyz") { _, _ in
            guard await journal.isHealthy() else {
                return Response.json(status: .serviceUnavailable, ["status": "not ready", "journal": "unavailable"])
            }
            let pressure = backpressure.status
            if pressure.isOn {
                return Response.json(status: .serviceUnavailable, [
                    "status": "not ready", "journal": "ok", "backpressure": pressure.reason ?? "on", "backlog": pressure.backlog,
                ])
            }
            var sinks: [String: Any] = [:]
            await withTaskGroup(of: (String, SinkHealth).self) { group in
                for (name, sink) in healthReporting { group.addTask { (name, await sink.health()) } }
                for await (name, health) in group {
                    sinks[name] = ["reachable": health.isReachable].merging(health.details.mapValues { $0 as Any }) { first, _ in first }
                }
            }
            var answer: [String: Any] = ["status": "ready", "journal": "ok", "backlog": pressure.backlog, "sinks": sinks]
            if let routes {
                // A failed reload does not make the gateway unready: the previous routes stay in force.
                let status = routes.status
                answer["routes"] = [
                    "version": status.version, "generation": status.generation, "loadedAt": Timestamps.format(status.loadedAt), "loadedBecause": status.reason,
                    "reloadFailures": status.failures, "lastReloadFailed": !status.lastErrors.isEmpty,
                    "lastReloadErrors": status.lastErrors,
                    "lastFailureAt": status.lastFailureAt.map(Timestamps.format) as Any? ?? NSNull(),
                ] as [String: Any]
            }
            return Response.json(status: .ok, answer)
        }
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry?.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.post("/poll/:account") { _, context in
            let account = try context.parameters.require("account")
            guard let poller = pollers[account] else {
                return Response.json(status: .notFound, ["error": "no poller for account '\(account)'"])
            }
            poller.requestDrain()
            return Response.json(status: .accepted, ["status": "drain requested", "account": account])
        }
        router.get("/status") { _, _ in
            let stats = try await journal.stats()
            var pollerStatus: [String: Any] = [:]
            for (account, poller) in pollers {
                let status = poller.status
                let lastError: Any = status.lastError ?? NSNull()
                let lastSuccess: Any = status.lastSuccess.map(Timestamps.format) ?? NSNull()
                pollerStatus[account] = [
                    "mode": poller.settings.mode.rawValue, "drains": status.drains, "pages": status.pages,
                    "messages": status.messages, "stored": status.stored, "lastError": lastError, "lastSuccess": lastSuccess,
                ] as [String: Any]
            }
            return Response.json(status: .ok, [
                "pollers": pollerStatus,
                "backpressure": backpressure.status.isOn, "backlog": backpressure.status.backlog,
                "events": stats.events, "unmatchedEvents": stats.unmatchedEvents, "duplicatesSeen": stats.duplicatesSeen,
                "quarantined": stats.quarantined, "eventsByChannel": stats.eventsByChannel, "pending": stats.pendingBySink, "delivered": stats.deliveredBySink,
                "dead": stats.deadBySink,
            ])
        }
    }
}

extension Response {
    static func json(status: HTTPResponse.Status, _ fields: [String: Any]) -> Response {
        let data = sortedJSON(fields)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
