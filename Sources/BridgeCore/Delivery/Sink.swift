//===----------------------------------------------------------------------===//
// ThingBridge — the sink contract
//===----------------------------------------------------------------------===//

import Foundation

/// One delivery handed to a sink.
public struct SinkItem: Sendable {
    public var deliveryID: Int64
    public var route: String
    /// The event's attempt number for this sink, starting at 1.
    public var attempt: Int
    public var event: BridgeEvent
    /// The structured-mode CloudEvent JSON as stored in the journal.
    public var eventJSON: Data
    /// The route destination's options (payload format, topic, key, path), fixed when the event
    /// was routed; ``PayloadRenderer`` turns them into the bytes to send. Defaults: the sink's config.
    public var options: DeliveryOptions

    public init(deliveryID: Int64, route: String, attempt: Int, event: BridgeEvent, eventJSON: Data, options: DeliveryOptions = .default) {
        self.deliveryID = deliveryID
        self.route = route
        self.attempt = attempt
        self.event = event
        self.eventJSON = eventJSON
        self.options = options
    }
}

/// What became of one delivery. Sinks report outcomes; they do not throw them.
public enum DeliveryOutcome: Sendable, Equatable {
    /// The sink confirmed it durably (fsync, delivery report, 2xx).
    case delivered
    /// It failed in a way that may pass later; it is retried with backoff.
    ///
    /// `retryAfter` is the destination's own word on when to come back (an HTTP `Retry-After`):
    /// the next attempt is not made before it, even when the backoff would come sooner.
    case retriable(reason: String, retryAfter: Duration? = nil)
    /// It can never succeed as it is; it goes to the dead letters.
    case rejected(reason: String)
}

/// A destination for events: file, Kafka, webhook.
///
/// - Important: ``deliver(_:)`` must return `.delivered` only once the item is as durable as
///   the sink can make it: the journal forgets about an item once it is reported delivered.
public protocol Sink: Sendable {
    /// The name given in the main config.
    var name: String { get }
    /// Delivers a batch, and reports one outcome per item, in the order given.
    func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome]
    /// Flushes and releases resources. Called once, at shutdown.
    func close() async
}

/// A sink that is sometimes closed on purpose: an open circuit breaker, an endpoint an operator
/// disabled. The dispatcher asks before each read of the outbox and hands it nothing (or only
/// a probe) meanwhile, so waiting costs the pending deliveries no attempts.
///
/// Optional: sinks that always take deliveries need not adopt it.
public protocol SinkAvailabilityReporting: Sink {
    /// Whether deliveries may be handed over now. Called often (every dispatcher wake-up):
    /// answer from memory, with at most a cheap, rate-limited look at stored state.
    func availability() async -> SinkAvailability
}

/// What a ``SinkAvailabilityReporting`` sink wants now.
public enum SinkAvailability: Sendable, Equatable {
    /// Hand it due deliveries as usual.
    case available
    /// Hand it at most this many (a circuit breaker's probe: one).
    case limited(Int)
    /// Hand it nothing; ask again later.
    case unavailable
}

/// A sink that can say whether its destination is reachable, for `/readyz` details.
///
/// Optional: sinks without a remote destination (files) need not adopt it.
public protocol SinkHealthReporting: Sink {
    /// The destination's health: from a recent check, or a new one within the sink's own bound.
    func health() async -> SinkHealth
}

/// What a ``SinkHealthReporting`` sink found.
public struct SinkHealth: Sendable, Equatable {
    /// The destination answered.
    public var isReachable: Bool
    /// Short facts for a status page (never secrets or payloads), e.g. `brokers: "3"`.
    public var details: [String: String]

    public init(isReachable: Bool, details: [String: String] = [:]) {
        self.isReachable = isReachable
        self.details = details
    }
}
