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
    /// Sink names that stand for several delivery sinks (a webhook group → its endpoints).
    private let fanOut: [String: [String]]
    private let logger: Logger
    /// Made once per channel: creating a metric looks it up in the registry under a lock.
    private let journaled: [Channel: Counter]
    private let deduplicated: [Channel: Counter]
    private let unmatchedCount = Counter(label: "thingbridge_events_unmatched_total")

    /// - Parameter fanOut: For a sink name that stands for several delivery sinks (a webhook
    ///   group), those sinks: a route's delivery to the group becomes one delivery to each.
    public init(journal: SQLiteJournal, routes: RouteSet, signals: [String: DeliverySignal], fanOut: [String: [String]] = [:], logger: Logger) {
        self.journal = journal
        self.routes = Mutex(routes)
        self.signals = signals
        self.fanOut = fanOut
        self.logger = logger
        var journaled: [Channel: Counter] = [:], deduplicated: [Channel: Counter] = [:]
        for channel in Channel.allCases {
            journaled[channel] = Counter(label: "thingbridge_events_journaled_total", dimensions: [("channel", channel.rawValue)])
            deduplicated[channel] = Counter(label: "thingbridge_events_deduplicated_total", dimensions: [("channel", channel.rawValue)])
        }
        self.journaled = journaled
        self.deduplicated = deduplicated
    }

    /// The route set in force.
    public var routeSet: RouteSet { routes.withLock { $0 } }

    /// Puts a new, fully validated route set in force (hot reload).
    ///
    /// Atomic: each batch of messages takes one snapshot of the set before routing, so a batch
    /// in flight finishes under the set it started with, and the next one uses the new set.
    /// Every journaled event records the version of the set that routed it.
    public func replaceRoutes(_ newRoutes: RouteSet) {
        routes.withLock { $0 = newRoutes }
    }

    /// The result of ingesting one message.
    public struct Result: Sendable {
        public var event: BridgeEvent
        public var outcome: AppendOutcome
        /// The deliveries created (none for a duplicate).
        public var deliveries: [RoutedDelivery]
    }

    /// Journals one message; returns once it is durable.
    /// - Throws: ``JournalError`` when the commit failed; the caller must not acknowledge upstream.
    public func ingest(_ message: MOSMSCallback, account: String, channel: Channel, receivedAt: Date = Date()) async throws(JournalError) -> Result {
        try await ingest([message], account: account, channel: channel, receivedAt: receivedAt)[0]
    }

    /// Journals several messages in one transaction (a history page); returns once all are durable.
    /// - Throws: ``JournalError`` when the commit failed; none of them is stored then.
    public func ingest(_ messages: [MOSMSCallback], account: String, channel: Channel, receivedAt: Date = Date()) async throws(JournalError) -> [Result] {
        guard !messages.isEmpty else { return [] }
        let routes = routeSet
        let entries = messages.map { message in
            let event = EventNormalizer.normalize(message, account: account, channel: channel, receivedAt: receivedAt)
            return JournalEntry(event: event, deliveries: expand(routes.route(event)), routesVersion: routes.version)
        }
        let outcomes = try await journal.append(entries)
        var results: [Result] = []
        var sinks = Set<String>()
        var stored = 0, duplicates = 0, unmatched = 0
        // One line per event for callbacks; a page's events log at debug (the poller logs the page).
        let level: Logger.Level = messages.count == 1 ? .info : .debug
        for (entry, outcome) in zip(entries, outcomes) {
            // Built only when a line is actually logged (page events log at debug).
            @Sendable func metadata() -> Logger.Metadata { [
                "event": "\(entry.event.id)", "account": "\(account)", "channel": "\(channel.rawValue)",
                "deliveries": "\(entry.deliveries.count)",
            ] }
            switch outcome {
            case .stored:
                stored += 1
                if entry.deliveries.isEmpty {
                    unmatched += 1
                    logger.warning("event matched no route; kept in the journal, delivered nowhere (routing.unmatched: drop)", metadata: metadata())
                } else if entry.deliveries.first?.route == RouteSet.unmatchedRouteName {
                    unmatched += 1
                    logger.notice("event matched no route; handled by routing.unmatched: \(routes.unmatched)", metadata: metadata())
                } else {
                    logger.log(level: level, "event journaled", metadata: metadata())
                }
                sinks.formUnion(entry.deliveries.map(\.sink))
                results.append(Result(event: entry.event, outcome: outcome, deliveries: entry.deliveries))
            case .duplicate:
                duplicates += 1
                logger.log(level: level, "duplicate event acknowledged, not stored again", metadata: metadata())
                results.append(Result(event: entry.event, outcome: outcome, deliveries: []))
            }
        }
        if stored > 0 { journaled[channel]?.increment(by: stored) }
        if duplicates > 0 { deduplicated[channel]?.increment(by: duplicates) }
        if unmatched > 0 { unmatchedCount.increment(by: unmatched) }
        // Dead letters of the unmatched policy have no dispatcher (`_deadletter`): nothing to wake.
        for sink in sinks { signals[sink]?.signal() }
        return results
    }

    /// Replaces each delivery to a fanned-out sink by one delivery per member, same route.
    func expand(_ deliveries: [RoutedDelivery]) -> [RoutedDelivery] {
        guard !fanOut.isEmpty else { return deliveries }
        return deliveries.flatMap { delivery in
            // Each endpoint's delivery keeps the destination's options (format, content type).
            fanOut[delivery.sink].map { endpoints in
                endpoints.map { endpoint in
                    var copy = delivery
                    copy.sink = endpoint
                    return copy
                }
            } ?? [delivery]
        }
    }
}
