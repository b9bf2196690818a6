//===----------------------------------------------------------------------===//
// ThingBridge — periodic journal housekeeping
//===----------------------------------------------------------------------===//

import BridgeCore
import Logging
import ServiceLifecycle

/// Prunes dedup keys older than the dedup window, at start-up and every `interval`.
struct JournalMaintenance: Service {
    let journal: SQLiteJournal
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let removed = try await journal.pruneDedupKeys()
                    if removed > 0 { logger.info("pruned dedup keys older than the window", metadata: ["removed": "\(removed)"]) }
                } catch {
                    logger.error("journal maintenance failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
