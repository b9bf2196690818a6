//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: a minimal consumer (reading back, for tests and checks)
//===----------------------------------------------------------------------===//

import Dispatch
import Foundation

/// Reads messages from partitions it is assigned, without joining a consumer group (a group's
/// first join takes seconds; an assignment starts at once). Enough to read back what a producer
/// wrote; not a general-purpose consumer (no commits, no rebalancing).
public final class KafkaConsumer: Sendable {
    /// Where reading starts in each assigned partition.
    public enum StartOffset: Sendable {
        case beginning
        case end
        case offset(Int64)

        var rawValue: Int64 {
            switch self {
            case .beginning: -2  // RD_KAFKA_OFFSET_BEGINNING
            case .end: -1  // RD_KAFKA_OFFSET_END
            case .offset(let offset): offset
            }
        }
    }

    private let client: RDKafkaClient
    /// Serial: one blocking poll at a time, off the cooperative pool.
    private let queue = DispatchQueue(label: "thingbridge.kafka.consumer")

    /// - Parameters:
    ///   - bootstrapServers: `host:port,…`.
    ///   - properties: more librdkafka properties (security settings, …).
    /// - Throws: ``KafkaError`` when librdkafka refuses the configuration.
    public init(bootstrapServers: String, properties: [String: String] = [:]) throws(KafkaError) {
        var all: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            // rd_kafka_consumer_poll needs a group; it is never joined (assign only).
            ("group.id", "thingbridge-reader-\(UInt32.random(in: 0...UInt32.max))"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
        ]
        all += properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        client = try RDKafkaClient.makeConsumer(properties: all)
    }

    deinit {
        // Closing and destroying a consumer blocks: let the last reference go on the queue.
        queue.async { [client] in withExtendedLifetime(client) {} }
    }

    /// Reads these partitions of `topic` from `start`.
    public func assign(topic: String, partitions: [Int32], from start: StartOffset = .beginning) throws(KafkaError) {
        try client.assign(partitions.map { (topic, $0, start.rawValue) })
    }

    /// Reads these partitions of `topic`, each from its own offset.
    public func assign(topic: String, offsets: [Int32: Int64]) throws(KafkaError) {
        try client.assign(offsets.sorted { $0.key < $1.key }.map { (topic, $0.key, $0.value) })
    }

    /// Reads every partition of `topic` (asks the cluster how many there are) from `start`.
    public func assignAll(topic: String, from start: StartOffset = .beginning, timeout: Duration = .seconds(5)) async throws(KafkaError) {
        let client = client
        let milliseconds = Int32(clamping: KafkaProducerConfig.milliseconds(timeout))
        let metadata = try await Blocking.run { client.metadata(topic: topic, timeoutMilliseconds: milliseconds) }.get()
        guard let described = metadata.topic(topic), described.error == nil, !described.partitions.isEmpty else {
            throw KafkaError(code: metadata.topic(topic)?.error ?? .unknownTopic, message: "topic '\(topic)' has no partitions")
        }
        try assign(topic: topic, partitions: described.partitions.map(\.id), from: start)
    }

    /// The next message, or `nil` when none arrived within `timeout`.
    /// - Throws: ``KafkaError`` for a consumer error (e.g. the topic does not exist).
    public func poll(timeout: Duration) async throws(KafkaError) -> KafkaConsumerMessage? {
        let client = client
        let milliseconds = Int32(clamping: KafkaProducerConfig.milliseconds(timeout))
        let result = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: client.consumerPoll(timeoutMilliseconds: milliseconds)) }
        }
        return try result?.get()
    }

    /// Reads until `count` messages arrived or `timeout` passed, whichever is first. Transient
    /// consumer errors (a broker reconnecting) are skipped.
    public func read(count: Int, timeout: Duration) async throws(KafkaError) -> [KafkaConsumerMessage] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var messages: [KafkaConsumerMessage] = []
        while messages.count < count, clock.now < deadline {
            do {
                if let message = try await poll(timeout: .milliseconds(100)) { messages.append(message) }
            } catch where error.isRetriable {
                continue
            }
        }
        return messages
    }

    /// Reads everything `topic` holds now: every partition from the beginning up to its high
    /// watermark as of the call (or until `limit` passes).
    ///
    /// - Important: blocks the calling thread. For scripts and synchronous test helpers only;
    ///   async code uses ``assignAll(topic:from:timeout:)`` and ``read(count:timeout:)``.
    /// - Throws: ``KafkaError`` when the topic cannot be described or its offsets queried.
    public static func readAllBlocking(
        bootstrapServers: String, topic: String, limit: Duration = .seconds(10)
    ) throws(KafkaError) -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(bootstrapServers: bootstrapServers)
        let client = consumer.client
        let metadata = try client.metadata(topic: topic, timeoutMilliseconds: 5000).get()
        guard let described = metadata.topic(topic), described.error == nil else {
            throw KafkaError(code: metadata.topic(topic)?.error ?? .unknownTopic, message: "topic '\(topic)' is not available")
        }
        // Where each partition ends now; reading stops when every one has been read that far.
        var remaining: [Int32: Int64] = [:]
        for partition in described.partitions {
            let marks = try client.watermarks(topic: topic, partition: partition.id, timeoutMilliseconds: 5000).get()
            if marks.high > marks.low { remaining[partition.id] = marks.high }
        }
        if remaining.isEmpty { return [] }
        try consumer.assign(topic: topic, partitions: Array(remaining.keys))
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        var messages: [KafkaConsumerMessage] = []
        while !remaining.isEmpty, clock.now < deadline {
            guard case .success(let message) = client.consumerPoll(timeoutMilliseconds: 100) else { continue }
            messages.append(message)
            if let end = remaining[message.partition], message.offset + 1 >= end {
                remaining.removeValue(forKey: message.partition)
            }
        }
        return messages
    }
}
