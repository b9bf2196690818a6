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

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(status: .ok, ["status": "ok"])
        }
        router.get("/readyz") { _, _ in
            guard await journal.isHealthy() else {
                return Response.json(status: .serviceUnavailable, ["status": "not ready", "journal": "unavailable"])
            }
            return Response.json(status: .ok, ["status": "ready", "journal": "ok"])
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
        router.get("/status") { _, _ in
            let stats = try await journal.stats()
            return Response.json(status: .ok, [
                "events": stats.events, "unmatchedEvents": stats.unmatchedEvents, "duplicatesSeen": stats.duplicatesSeen,
                "quarantined": stats.quarantined, "pending": stats.pendingBySink, "delivered": stats.deliveredBySink,
                "dead": stats.deadBySink,
            ])
        }
    }
}
