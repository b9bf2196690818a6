//===----------------------------------------------------------------------===//
// ThingBridge — the one path from a parsed message to the journal
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import Synchronization
import ThingSpace

/// Normalizes, routes and journals messages, and wakes the dispatchers of the chosen sinks.
///
/// Callbacks use it now; the history poller will write through the same path, so both
/// channels share dedup, routing and durability.
public final class Ingest: Sendable {
    public let journal: SQLiteJournal
    private let routes: Mutex<RouteSet>
    private let signals: [String: DeliverySignal]
    private let logger: Logger

    public init(journal: SQLiteJournal, routes: RouteSet, signals: [String: DeliverySignal], logger: Logger) {
        self.journal = journal
        self.routes = Mutex(routes)
        self.signals = signals
        self.logger = logger
    }

    /// The route set in force.
    public var routeSet: RouteSet { routes.withLock { $0 } }

    /// The result of ingesting one message.
    public struct Result: Sendable {
        public var event: BridgeEvent
        public var outcome: AppendOutcome
        public var deliveries: [RoutedDelivery]
    }

    /// Journals one message; returns once it is durable.
    /// - Throws: ``JournalError`` when the commit failed; the caller must not acknowledge upstream.
    public func ingest(_ message: MOSMSCallback, account: String, channel: Channel, receivedAt: Date = Date()) async throws(JournalError) -> Result {
        let event = EventNormalizer.normalize(message, account: account, channel: channel, receivedAt: receivedAt)
        let deliveries = routeSet.route(event)
        let outcomes = try await journal.append([JournalEntry(event: event, deliveries: deliveries)])
        let outcome = outcomes[0]
        var metadata: Logger.Metadata = [
            "event": "\(event.id)", "account": "\(account)", "channel": "\(channel.rawValue)",
        ]
        switch outcome {
        case .stored:
            Counter(label: "thingbridge_events_journaled_total", dimensions: [("channel", channel.rawValue)]).increment()
            metadata["deliveries"] = "\(deliveries.count)"
            if deliveries.isEmpty {
                Counter(label: "thingbridge_events_unmatched_total").increment()
                logger.warning("event matched no route; kept in the journal, delivered nowhere (routing.unmatched: drop)", metadata: metadata)
            } else {
                logger.info("event journaled", metadata: metadata)
            }
            for sink in Set(deliveries.map(\.sink)) { signals[sink]?.signal() }
        case .duplicate:
            Counter(label: "thingbridge_events_deduplicated_total", dimensions: [("channel", channel.rawValue)]).increment()
            logger.info("duplicate event acknowledged, not stored again", metadata: metadata)
        }
        return Result(event: event, outcome: outcome, deliveries: outcome == .duplicate(sequence: 0) ? [] : deliveries)
    }
}
