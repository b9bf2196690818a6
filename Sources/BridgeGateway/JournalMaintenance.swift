//===----------------------------------------------------------------------===//
// ThingBridge — periodic journal housekeeping
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import ServiceLifecycle

/// Prunes dedup keys older than the dedup window and delivered events older than the
/// retention, at start-up and every `interval`.
struct JournalMaintenance: Service {
    let journal: SQLiteJournal
    let retention: Duration
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    // Where idle sinks' streams were read to becomes their saved cursor, so that
                    // a restart does not read those events again.
                    try await journal.saveStreamPositions()
                    let removed = try await journal.pruneDedupKeys()
                    if removed > 0 { logger.info("pruned dedup keys older than the window", metadata: ["removed": "\(removed)"]) }
                    let cutoff = Date().addingTimeInterval(-Double(retention.components.seconds))
                    let events = try await journal.pruneDeliveredEvents(receivedBefore: cutoff)
                    if events > 0 { logger.info("pruned delivered events older than the retention", metadata: ["removed": "\(events)"]) }
                } catch {
                    logger.error("journal maintenance failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
