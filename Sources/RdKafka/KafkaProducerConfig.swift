//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: producer configuration
//===----------------------------------------------------------------------===//

/// How a ``KafkaProducer`` is set up: the settings ThingBridge cares about, typed and with
/// documented defaults, plus librdkafka properties passed through for everything else
/// (security, batching, tuning).
///
/// ```swift
/// var config = KafkaProducerConfig(bootstrapServers: ["kafka-1:9092", "kafka-2:9092"])
/// config.compression = .lz4
/// config.properties["security.protocol"] = "SASL_SSL"
/// config.properties["sasl.mechanisms"] = "SCRAM-SHA-512"
/// ```
public struct KafkaProducerConfig: Sendable, Equatable {
    /// `bootstrap.servers`: `host:port` of one or more brokers. Required.
    public var bootstrapServers: [String]
    /// `client.id`. Default `thingbridge`.
    public var clientID: String = "thingbridge"
    /// `enable.idempotence`: the broker de-duplicates librdkafka's internal retries and keeps
    /// their order, so a retry never writes a message twice or out of order. Default `true`
    /// (requires ``acks`` = `.all`).
    public var isIdempotent: Bool = true
    /// `acks`: how many replicas must have a message before it counts as delivered. Default `.all`.
    public var acks: Acks = .all
    /// `linger.ms`: how long to wait for more messages to fill a batch. Default 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// `compression.codec`. Default `.none` (librdkafka's default).
    public var compression: Compression = .none
    /// `message.timeout.ms`: a message not delivered within this time fails with
    /// `_MSG_TIMED_OUT` (retriable), so a caller always hears back. Default 30 s (librdkafka's
    /// own default is 300 s, far longer than a delivery batch should wait).
    public var messageTimeout: Duration = .seconds(30)
    /// `statistics.interval.ms`: how often librdkafka emits its statistics JSON. Default `nil` (off).
    public var statisticsInterval: Duration?
    /// Any librdkafka property (see librdkafka's CONFIGURATION.md), applied after the typed
    /// settings above, so a key given here wins. Values are never logged (they hold secrets such
    /// as `sasl.password`).
    public var properties: [String: String] = [:]

    public enum Acks: String, Sendable, Equatable, CaseIterable {
        /// `acks=0`: do not wait for the broker.
        case none = "0"
        /// `acks=1`: the partition leader has it.
        case leader = "1"
        /// `acks=all`: every in-sync replica has it.
        case all = "all"
    }

    public enum Compression: String, Sendable, Equatable, CaseIterable {
        case none, gzip, snappy, lz4, zstd
    }

    public init(bootstrapServers: [String]) {
        self.bootstrapServers = bootstrapServers
    }

    /// The librdkafka properties, typed settings first, pass-through last.
    public var librdkafkaProperties: [(key: String, value: String)] {
        var result: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("client.id", clientID),
            ("enable.idempotence", isIdempotent ? "true" : "false"),
            ("acks", acks.rawValue),
            ("linger.ms", String(Self.milliseconds(linger))),
            ("compression.codec", compression.rawValue),
            ("message.timeout.ms", String(Self.milliseconds(messageTimeout))),
        ]
        if let statisticsInterval {
            result.append(("statistics.interval.ms", String(Self.milliseconds(statisticsInterval))))
        }
        result += properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return result
    }

    /// Checks every property with librdkafka itself (unknown keys, bad values), without
    /// connecting anywhere.
    /// - Throws: ``KafkaError`` naming the offending key.
    public func validate() throws(KafkaError) {
        try RDKafkaConfig.validate(librdkafkaProperties)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
