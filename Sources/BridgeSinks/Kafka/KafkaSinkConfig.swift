//===----------------------------------------------------------------------===//
// ThingBridge — Kafka sink configuration
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import RdKafka

/// A sink that produces each event to a Kafka topic (librdkafka), confirmed by its delivery report.
///
/// ```yaml
/// sinks:
///   kafka:
///     type: kafka
///     brokers: ["kafka-1:9092", "kafka-2:9092"]
///     topic: "thingbridge.{account}"
///     key: "{device}"
///     mode: binary
///     properties:
///       security.protocol: SASL_SSL
///       sasl.mechanisms: SCRAM-SHA-512
///       sasl.username: thingbridge
///       sasl.password: "${KAFKA_PASSWORD}"
/// ```
public struct KafkaSinkConfig: Sendable, Decodable, Equatable {
    /// How an event becomes a Kafka record (CloudEvents Kafka protocol binding).
    public enum Mode: String, Sendable, Decodable, Equatable {
        /// The event's `data` is the value; its attributes are `ce_*` headers, and
        /// `datacontenttype` is the `content-type` header.
        case binary
        /// The whole CloudEvent JSON (as stored in the journal) is the value, with
        /// `content-type: application/cloudevents+json; charset=UTF-8`.
        case structured
    }

    /// `bootstrap.servers`: one or more `host:port`. Required (a list, or one comma-separated string).
    public var brokers: [String]
    /// The topic, a template: `{account}`, `{sink}`, `{route}`. Default `thingbridge.events`.
    public var topic: String
    /// The record key, a template: `{device}` (the device's primary id, the event's `subject`),
    /// `{account}`, `{route}`, `{sink}`, `{id}` (the event id). Default `{device}`, so that one
    /// device's events go to one partition and keep their order there. An empty result sends
    /// the record without a key.
    public var key: String
    /// Default `binary`.
    public var mode: Mode
    /// How long ``KafkaSink/close()`` waits for unconfirmed records before leaving them pending
    /// in the journal. Default 10 s.
    public var flushTimeout: Duration
    /// `message.timeout.ms`: a record not confirmed in this time is reported retriable. Default 30 s.
    public var messageTimeout: Duration
    /// `linger.ms`. Default 5 ms.
    public var linger: Duration
    /// `compression.codec`: none, gzip, snappy, lz4, zstd. Default none.
    public var compression: KafkaProducerConfig.Compression
    /// `acks`: all, leader, none. Default all.
    public var acks: KafkaProducerConfig.Acks
    /// `enable.idempotence`. Default true.
    public var idempotent: Bool
    /// `statistics.interval.ms`: how often librdkafka's statistics are exported as metrics
    /// (`thingbridge_kafka_librdkafka_*`). Default `nil`: off.
    public var statisticsInterval: Duration?
    /// How often the sink checks that a broker answers (cluster metadata), for
    /// `thingbridge_kafka_brokers_reachable`. Default 30 s.
    public var healthInterval: Duration
    /// Any librdkafka property, passed through (and winning over the typed keys above): SASL,
    /// SSL, batching, retries. Checked by librdkafka when the config is read. Never logged.
    public var properties: [String: String]

    public init(
        brokers: [String], topic: String = "thingbridge.events", key: String = "{device}", mode: Mode = .binary,
        flushTimeout: Duration = .seconds(10), messageTimeout: Duration = .seconds(30), linger: Duration = .milliseconds(5),
        compression: KafkaProducerConfig.Compression = .none, acks: KafkaProducerConfig.Acks = .all, idempotent: Bool = true,
        statisticsInterval: Duration? = nil, healthInterval: Duration = .seconds(30), properties: [String: String] = [:]
    ) {
        self.brokers = brokers
        self.topic = topic
        self.key = key
        self.mode = mode
        self.flushTimeout = flushTimeout
        self.messageTimeout = messageTimeout
        self.linger = linger
        self.compression = compression
        self.acks = acks
        self.idempotent = idempotent
        self.statisticsInterval = statisticsInterval
        self.healthInterval = healthInterval
        self.properties = properties
    }

    /// The producer settings this sink runs with.
    public var producerConfig: KafkaProducerConfig {
        var config = KafkaProducerConfig(bootstrapServers: brokers)
        config.messageTimeout = messageTimeout
        config.linger = linger
        config.compression = compression
        config.acks = acks
        config.isIdempotent = idempotent
        config.statisticsInterval = statisticsInterval
        config.properties = properties
        return config
    }

    static let topicPlaceholders: Set<String> = ["account", "sink", "route"]
    static let keyPlaceholders: Set<String> = ["device", "account", "sink", "route", "id"]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case brokers, topic, key, mode, flushTimeout, messageTimeout, linger, compression, acks, idempotent
        case statisticsInterval, healthInterval, properties
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = KafkaSinkConfig(brokers: [])
        if let list = try? container.decode([String].self, forKey: .brokers) {
            brokers = list
        } else {
            brokers = try container.decode(String.self, forKey: .brokers).split(separator: ",").map(String.init)
        }
        brokers = brokers.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        topic = try container.decodeIfPresent(String.self, forKey: .topic) ?? defaults.topic
        key = try container.decodeIfPresent(String.self, forKey: .key) ?? defaults.key
        mode = try container.decodeIfPresent(Mode.self, forKey: .mode) ?? defaults.mode
        flushTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .flushTimeout)?.duration ?? defaults.flushTimeout
        messageTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .messageTimeout)?.duration ?? defaults.messageTimeout
        linger = try container.decodeIfPresent(ConfigDuration.self, forKey: .linger)?.duration ?? defaults.linger
        compression = defaults.compression
        if let text = try container.decodeIfPresent(String.self, forKey: .compression) {
            guard let value = KafkaProducerConfig.Compression(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .compression, in: container, debugDescription: "compression must be one of none, gzip, snappy, lz4, zstd, not '\(text)'")
            }
            compression = value
        }
        acks = defaults.acks
        if let text = try container.decodeIfPresent(String.self, forKey: .acks) {
            switch text {
            case "all", "-1": acks = .all
            case "leader", "1": acks = .leader
            case "none", "0": acks = .none
            default:
                throw DecodingError.dataCorruptedError(forKey: .acks, in: container, debugDescription: "acks must be all, leader or none, not '\(text)'")
            }
        }
        idempotent = try container.decodeIfPresent(Bool.self, forKey: .idempotent) ?? defaults.idempotent
        statisticsInterval = try container.decodeIfPresent(ConfigDuration.self, forKey: .statisticsInterval)?.duration
        healthInterval = try container.decodeIfPresent(ConfigDuration.self, forKey: .healthInterval)?.duration ?? defaults.healthInterval
        properties = try container.decodeIfPresent([String: String].self, forKey: .properties) ?? [:]

        if brokers.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .brokers, in: container, debugDescription: "at least one broker (host:port) is required")
        }
        do {
            try Template.check(topic, allowed: Self.topicPlaceholders)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .topic, in: container, debugDescription: "\(error)")
        }
        if topic.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .topic, in: container, debugDescription: "the topic must not be empty")
        }
        do {
            try Template.check(key, allowed: Self.keyPlaceholders)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .key, in: container, debugDescription: "\(error)")
        }
        if flushTimeout < .milliseconds(1) || messageTimeout < .milliseconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .messageTimeout, in: container, debugDescription: "timeouts must be at least 1ms")
        }
        if idempotent, acks != .all {
            throw DecodingError.dataCorruptedError(forKey: .acks, in: container, debugDescription: "an idempotent producer needs acks: all (or set idempotent: false)")
        }
        if healthInterval < .seconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .healthInterval, in: container, debugDescription: "healthInterval must be at least 1s")
        }
        if let statisticsInterval, statisticsInterval < .milliseconds(100) {
            throw DecodingError.dataCorruptedError(forKey: .statisticsInterval, in: container, debugDescription: "statisticsInterval must be at least 100ms")
        }
        do {
            try producerConfig.validate()
        } catch {
            let key: CodingKeys = properties.isEmpty ? .brokers : .properties
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "librdkafka refused the settings: \(error.message)")
        }
    }
}

/// A `{placeholder}` template (topic and key patterns).
struct Template {
    struct UnknownPlaceholder: Error, CustomStringConvertible {
        var name: String
        var allowed: Set<String>
        var description: String { "unknown placeholder '{\(name)}' (known: \(allowed.sorted().map { "{\($0)}" }.joined(separator: ", ")))" }
    }

    /// Throws for a `{name}` that is not allowed.
    static func check(_ template: String, allowed: Set<String>) throws {
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            let name = String(rest[rest.index(after: open)..<close])
            guard allowed.contains(name) else { throw UnknownPlaceholder(name: name, allowed: allowed) }
            rest = rest[rest.index(after: close)...]
        }
    }

    /// Replaces each `{name}` with `value(name)` (each value passed through `clean`; an unknown
    /// name with nothing). Called for every record: no dictionary of values is built, and a
    /// template that is exactly one placeholder (`{device}`, the default key) is one lookup.
    static func render(_ template: String, clean: (String) -> String = { $0 }, value: (Substring) -> String?) -> String {
        let utf8 = template.utf8
        guard let first = utf8.firstIndex(of: UInt8(ascii: "{")) else { return template }
        if first == utf8.startIndex, utf8.last == UInt8(ascii: "}"), utf8.dropFirst().firstIndex(of: UInt8(ascii: "{")) == nil,
           utf8.firstIndex(of: UInt8(ascii: "}")) == utf8.index(before: utf8.endIndex) {
            return value(template.dropFirst().dropLast()).map(clean) ?? ""
        }
        var result = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[..<open]
            result += value(rest[rest.index(after: open)..<close]).map(clean) ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}
