//===----------------------------------------------------------------------===//
// ThingBridge — sink definitions in the main config
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging

/// One entry under `sinks:` in the main config: a type, its settings, and the delivery policy
/// shared by every sink type.
///
/// ```yaml
/// sinks:
///   archive:
///     type: file
///     path: "events/{account}/{date}.jsonl"
///     retry: { base: 1s, cap: 5m, maxAttempts: 20 }
/// ```
public struct SinkDefinition: Sendable, Decodable {
    public enum Kind: Sendable, Equatable {
        case file(FileSinkConfig)
        case kafka(KafkaSinkConfig)
        /// An endpoint group: every endpoint is a delivery sink of its own (`<group>/<endpoint>`).
        case webhook(WebhookSinkConfig)
    }

    public var kind: Kind
    /// Retry policy for failed deliveries (see ``RetryPolicy``).
    public var retry: RetryPolicy
    /// At most this many deliveries are handed to the sink at once. Default 256; 2,000 for Kafka,
    /// whose batches cost a fixed wait for delivery reports (linger, acks from every replica).
    public var batchSize: Int
    /// `perDevice`: a device's next event is not delivered before the previous one is done or
    /// dead-lettered. `none` (default): deliver in parallel, in batches.
    public var ordering: Ordering
    /// How many batches may be at the sink at once (`ordering: none` only). Default 4 for Kafka:
    /// while one batch waits for its delivery reports, the next ones are produced. 1 for the
    /// others, and only Kafka may change it (a file is appended to in order; a webhook endpoint
    /// has its own `concurrency`).
    public var batchesInFlight: Int

    public enum Ordering: String, Sendable, Decodable {
        case none
        case perDevice
    }

    public init(kind: Kind, retry: RetryPolicy = RetryPolicy(), batchSize: Int = 256, ordering: Ordering = .none, batchesInFlight: Int = 1) {
        self.kind = kind
        self.retry = retry
        self.batchSize = batchSize
        self.ordering = ordering
        self.batchesInFlight = batchesInFlight
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case type, retry, batchSize, ordering, batchesInFlight }

    static let knownTypes = ["file", "kafka", "webhook"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "file":
            self.kind = .file(try FileSinkConfig(from: decoder))
        case "kafka":
            self.kind = .kafka(try KafkaSinkConfig(from: decoder))
        case "webhook":
            self.kind = .webhook(try WebhookSinkConfig(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "unknown sink type '\(type)' (known types: \(Self.knownTypes.joined(separator: ", ")))"
            )
        }
        self.retry = try container.decodeIfPresent(RetryConfig.self, forKey: .retry)?.policy ?? RetryPolicy()
        let defaultBatch: Int
        switch kind {
        case .kafka: defaultBatch = 2000
        default: defaultBatch = 256
        }
        self.batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaultBatch
        self.ordering = try container.decodeIfPresent(Ordering.self, forKey: .ordering) ?? .none
        guard (1...10_000).contains(batchSize) else {
            throw DecodingError.dataCorruptedError(forKey: .batchSize, in: container, debugDescription: "batchSize must be between 1 and 10000")
        }
        let isKafka: Bool
        if case .kafka = kind { isKafka = true } else { isKafka = false }
        self.batchesInFlight = try container.decodeIfPresent(Int.self, forKey: .batchesInFlight) ?? (isKafka ? 4 : 1)
        guard (1...64).contains(batchesInFlight) else {
            throw DecodingError.dataCorruptedError(forKey: .batchesInFlight, in: container, debugDescription: "batchesInFlight must be between 1 and 64")
        }
        guard isKafka || batchesInFlight == 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .batchesInFlight, in: container,
                debugDescription: "batchesInFlight is for kafka sinks only (a file is appended in order; a webhook endpoint has `concurrency`)"
            )
        }
    }

    /// Builds the sink.
    /// - Throws: when the sink cannot be set up (a Kafka client librdkafka refuses to create), or
    ///   for a webhook group, which is several sinks (use ``makeSinks(name:dataDirectory:journal:logger:)``).
    public func makeSink(name: String, dataDirectory: URL, logger: Logger) throws -> any Sink {
        switch kind {
        case .file(let config):
            FileSink(name: name, config: config, dataDirectory: dataDirectory, logger: logger)
        case .kafka(let config):
            try KafkaSink(name: name, config: config, logger: logger)
        case .webhook:
            throw WebhookSetupError("sink '\(name)' is a webhook group of several endpoint sinks; build it with makeSinks")
        }
    }

    /// Builds the delivery sinks of this definition: the sink itself, or for a webhook group
    /// one sink per endpoint (named as in ``deliverySinkNames(name:)``).
    /// - Parameter journal: Where sinks with state of their own (webhook circuit breakers) keep it.
    /// - Throws: when a sink cannot be set up.
    public func makeSinks(name: String, dataDirectory: URL, journal: SQLiteJournal?, logger: Logger) throws -> [any Sink] {
        switch kind {
        case .webhook(let config):
            try config.makeEndpointSinks(group: name, journal: journal, logger: logger)
        default:
            [try makeSink(name: name, dataDirectory: dataDirectory, logger: logger)]
        }
    }

    /// The sink names the outbox holds deliveries for, when routes name this sink: the name
    /// itself, or for a webhook group `<group>/<endpoint>` for each endpoint (fan-out).
    public func deliverySinkNames(name: String) -> [String] {
        switch kind {
        case .webhook(let config): config.endpointSinkNames(group: name)
        default: [name]
        }
    }
}

/// `retry:` in a sink definition.
struct RetryConfig: Decodable {
    var policy: RetryPolicy

    enum CodingKeys: String, CodingKey, CaseIterable { case base, cap, maxAttempts }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RetryPolicy()
        let base = try container.decodeIfPresent(ConfigDuration.self, forKey: .base)?.duration ?? defaults.base
        let cap = try container.decodeIfPresent(ConfigDuration.self, forKey: .cap)?.duration ?? defaults.cap
        var maxAttempts = defaults.maxAttempts
        if container.contains(.maxAttempts) {
            let value = try container.decode(Int.self, forKey: .maxAttempts)
            maxAttempts = value <= 0 ? nil : value
        }
        policy = RetryPolicy(base: base, cap: cap, maxAttempts: maxAttempts)
    }
}
