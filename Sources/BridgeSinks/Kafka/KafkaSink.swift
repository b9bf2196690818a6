//===----------------------------------------------------------------------===//
// ThingBridge — Kafka sink
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import RdKafka
import Synchronization

/// Produces each event to Kafka and reports it delivered only on its delivery report.
///
/// A batch is produced in order (so a device's events, which share a key and so a partition,
/// keep their order) and the call returns when every record has its outcome: delivered
/// (acknowledged with the configured `acks`), retriable (broker down, timeouts, full local
/// queue, shutdown before confirmation) or rejected (too large, unknown topic, not
/// authorized: dead-lettered with the reason). `message.timeout.ms` bounds the wait.
///
/// Metrics, labelled by sink: `thingbridge_kafka_produced_total`,
/// `thingbridge_kafka_delivered_total`, `thingbridge_kafka_errors_total{code,class}`,
/// `thingbridge_kafka_in_flight`, `thingbridge_kafka_queue_depth`,
/// `thingbridge_kafka_brokers_reachable` (0/1, from the health check every `healthInterval`), and
/// with `statisticsInterval` some of librdkafka's statistics (`thingbridge_kafka_librdkafka_*`).
public final class KafkaSink: SinkHealthReporting {
    public let name: String
    public let config: KafkaSinkConfig
    private let logger: Logger
    /// Replaced when librdkafka reports a fatal error (an idempotent producer that lost its
    /// sequence cannot continue; a new one can).
    private let producer: Mutex<KafkaProducer>
    private let metrics: Metrics
    private let healthCheck = Mutex<Task<Void, Never>?>(nil)
    private let lastHealth = Mutex<SinkHealth?>(nil)

    struct Metrics {
        let produced: Counter
        let delivered: Counter
        let inFlight: Gauge
        let queueDepth: Gauge
        let reachable: Gauge
        let sink: String

        init(sink: String) {
            self.sink = sink
            produced = Counter(label: "thingbridge_kafka_produced_total", dimensions: [("sink", sink)])
            delivered = Counter(label: "thingbridge_kafka_delivered_total", dimensions: [("sink", sink)])
            inFlight = Gauge(label: "thingbridge_kafka_in_flight", dimensions: [("sink", sink)])
            queueDepth = Gauge(label: "thingbridge_kafka_queue_depth", dimensions: [("sink", sink)])
            reachable = Gauge(label: "thingbridge_kafka_brokers_reachable", dimensions: [("sink", sink)])
        }

        /// Exports part of librdkafka's statistics JSON (see librdkafka's STATISTICS.md): its queue,
        /// what it sent, and per broker whether it is up and its average round trip.
        func statistics(_ json: String) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return }
            func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
            for (field, label) in [
                ("msg_cnt", "thingbridge_kafka_librdkafka_queued_messages"), ("msg_size", "thingbridge_kafka_librdkafka_queued_bytes"),
                ("txmsgs", "thingbridge_kafka_librdkafka_sent_messages"), ("txmsg_bytes", "thingbridge_kafka_librdkafka_sent_bytes"),
                ("tx", "thingbridge_kafka_librdkafka_requests_sent"),
            ] {
                if let value = number(object[field]) { Gauge(label: label, dimensions: [("sink", sink)]).record(value) }
            }
            guard let brokers = object["brokers"] as? [String: Any] else { return }
            var up = 0
            for case let broker as [String: Any] in brokers.values {
                guard let id = number(broker["nodeid"]), id >= 0 else { continue }  // skip bootstrap entries
                if broker["state"] as? String == "UP" { up += 1 }
                if let rtt = broker["rtt"] as? [String: Any], let average = number(rtt["avg"]) {
                    Gauge(label: "thingbridge_kafka_librdkafka_broker_rtt_seconds", dimensions: [("sink", sink), ("broker", "\(Int(id))")])
                        .record(average / 1_000_000)
                }
            }
            Gauge(label: "thingbridge_kafka_librdkafka_brokers_up", dimensions: [("sink", sink)]).record(up)
        }

        func error(_ error: KafkaError, count: Int) {
            Counter(label: "thingbridge_kafka_errors_total", dimensions: [
                ("sink", sink), ("code", error.code.name), ("class", error.classification.rawValue),
            ]).increment(by: count)
        }
    }

    /// Creates the producer (no connection is made until the first record or health check).
    /// - Throws: ``KafkaError`` when librdkafka refuses the settings (e.g. an SSL file it cannot read).
    public init(name: String, config: KafkaSinkConfig, logger: Logger) throws(KafkaError) {
        self.name = name
        self.config = config
        var logger = logger
        logger[metadataKey: "sink"] = "\(name)"
        self.logger = logger
        let metrics = Metrics(sink: name)
        self.metrics = metrics
        producer = Mutex(try Self.makeProducer(config, sink: name, metrics: metrics, logger: logger))
        startHealthChecks()
    }

    private static func makeProducer(_ config: KafkaSinkConfig, sink: String, metrics: Metrics, logger: Logger) throws(KafkaError) -> KafkaProducer {
        var producer = config.producerConfig
        producer.clientID = "thingbridge-\(sink)"
        return try KafkaProducer(config: producer, logger: logger, onStatistics: { metrics.statistics($0) })
    }

    /// Checks reachability now and then every `healthInterval`, until ``close()``.
    private func startHealthChecks() {
        let interval = config.healthInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                // Holds the sink only for the check itself, not while sleeping.
                guard await self?.checkHealth() != nil else { return }
                try? await Task.sleep(for: interval)
            }
        }
        healthCheck.withLock { $0 = task }
    }

    // MARK: - Records

    /// The topic an item goes to: the route destination's `topic` when it gave one, else the sink's.
    public func topic(for item: SinkItem) -> String {
        Template.render(item.options.topic ?? config.topic, clean: Self.topicSafe) { topicPlaceholder($0, item) }
    }

    /// `{account}`, `{sink}` and `{route}`: what a topic template may name (and a key template too).
    private func topicPlaceholder(_ name: Substring, _ item: SinkItem) -> String? {
        switch name {
        case "account": item.event.data.account
        case "sink": self.name
        case "route": item.route
        default: nil
        }
    }

    /// The record key for an item (`nil` when the template renders empty): the route
    /// destination's `key` when it gave one, else the sink's.
    public func key(for item: SinkItem) -> String? {
        let key = Template.render(item.options.key ?? config.key) { placeholder in
            switch placeholder {
            case "device": item.event.subject
            case "id": item.event.id
            default: topicPlaceholder(placeholder, item)
            }
        }
        return key.isEmpty ? nil : key
    }

    /// The CloudEvents attributes as `ce_` headers (the Kafka binding's binary mode).
    static func attributeHeaders(_ event: BridgeEvent, contentType: String) -> [KafkaHeader] {
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(7)
        headers.append(KafkaHeader(name: "ce_specversion", string: event.specversion))
        headers.append(KafkaHeader(name: "ce_id", string: event.id))
        headers.append(KafkaHeader(name: "ce_source", string: event.source))
        headers.append(KafkaHeader(name: "ce_type", string: event.type))
        headers.append(KafkaHeader(name: "ce_time", string: event.time))
        headers.append(KafkaHeader(name: "ce_subject", string: event.subject))
        headers.append(KafkaHeader(name: "content-type", string: contentType))
        return headers
    }

    /// The Kafka record for an item, in the configured mode.
    ///
    /// A destination's payload format other than `cloudevents` replaces the value: `data` sends
    /// the data object, `template` the rendered template, each with its content type (and, in
    /// binary mode, the `ce_` headers still describe the event).
    public func record(for item: SinkItem) -> KafkaProducerMessage {
        let value: Data
        var headers: [KafkaHeader]
        if item.options.format != .cloudevents {
            let payload = PayloadRenderer.render(item, sink: name)
            headers = config.mode == .binary
                ? Self.attributeHeaders(item.event, contentType: payload.contentType)
                : [KafkaHeader(name: "content-type", string: payload.contentType)]
            return KafkaProducerMessage(topic: topic(for: item), key: key(for: item).map { Data(utf8Of: $0) }, value: payload.bytes, headers: headers)
        }
        switch config.mode {
        case .binary:
            // CloudEvents Kafka binding, binary mode: attributes as ce_ headers, data as value.
            value = PayloadRenderer.dataMember(of: item.eventJSON) ?? PayloadRenderer.encodeData(item.event)
            headers = Self.attributeHeaders(item.event, contentType: item.event.datacontenttype)
        case .structured:
            value = item.eventJSON
            headers = [KafkaHeader(name: "content-type", string: "application/cloudevents+json; charset=UTF-8")]
        }
        return KafkaProducerMessage(topic: topic(for: item), key: key(for: item).map { Data(utf8Of: $0) }, value: value, headers: headers)
    }

    /// Kafka topic names allow `[a-zA-Z0-9._-]`; anything else in a placeholder's value becomes `_`.
    static func topicSafe(_ value: String) -> String {
        let cleaned = String(value.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": Character(scalar)
            default: "_"
            }
        })
        return cleaned.isEmpty ? "_" : cleaned
    }

    // MARK: - Sink

    public func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
        guard !batch.isEmpty else { return [] }
        let producer = currentProducer()
        let records = batch.map(record(for:))
        metrics.produced.increment(by: records.count)
        metrics.inFlight.record(producer.inFlight + records.count)
        let results = await producer.send(records)
        metrics.inFlight.record(producer.inFlight)
        metrics.queueDepth.record(producer.queueDepth)

        var outcomes: [DeliveryOutcome] = []
        outcomes.reserveCapacity(batch.count)
        var delivered = 0
        var errors: [KafkaError.Code: (error: KafkaError, count: Int)] = [:]
        for (record, result) in zip(records, results) {
            switch result {
            case .success:
                delivered += 1
                outcomes.append(.delivered)
            case .failure(let error):
                errors[error.code, default: (error, 0)].count += 1
                let reason = "kafka \(error.code.name): \(error.message) (topic \(record.topic))"
                outcomes.append(error.isPermanent ? .rejected(reason: reason) : .retriable(reason: reason))
            }
        }
        metrics.delivered.increment(by: delivered)
        for (_, entry) in errors {
            metrics.error(entry.error, count: entry.count)
            logger.warning("Kafka delivery failed", metadata: [
                "code": "\(entry.error.code.name)", "class": "\(entry.error.classification.rawValue)", "count": "\(entry.count)",
                "error": "\(entry.error.message)",
            ])
        }
        if producer.fatalError != nil { await replace(producer) }
        return outcomes
    }

    public func close() async {
        healthCheck.withLock { $0?.cancel() }
        await currentProducer().close(flushTimeout: config.flushTimeout)
        metrics.inFlight.record(0)
    }

    /// The result of the last periodic check (every `healthInterval`), or a check now when
    /// there has been none yet: cheap enough for a readiness probe.
    public func health() async -> SinkHealth {
        if let last = lastHealth.withLock({ $0 }) { return last }
        return await checkHealth()
    }

    /// Asks a broker for the cluster metadata now (bounded by 5 s): reachable when one answers.
    public func checkHealth() async -> SinkHealth {
        let health = await queryHealth()
        lastHealth.withLock { $0 = health }
        return health
    }

    private func queryHealth() async -> SinkHealth {
        let producer = currentProducer()
        do {
            let metadata = try await producer.metadata(timeout: .seconds(5))
            metrics.reachable.record(1)
            var details = ["brokers": "\(metadata.brokers.count)", "inFlight": "\(producer.inFlight)", "queueDepth": "\(producer.queueDepth)"]
            if let fatal = producer.fatalError { details["fatal"] = fatal.code.name }
            return SinkHealth(isReachable: true, details: details)
        } catch {
            metrics.reachable.record(0)
            return SinkHealth(isReachable: false, details: ["error": "\(error.code.name): \(error.message)", "inFlight": "\(producer.inFlight)"])
        }
    }

    // MARK: - Fatal errors

    private func currentProducer() -> KafkaProducer { producer.withLock { $0 } }

    /// Swaps a producer that hit a fatal error for a new one (once, even if several batches
    /// notice), then closes the old one. Its unconfirmed records were reported retriable.
    private func replace(_ failed: KafkaProducer) async {
        let replaced: Bool
        do {
            let fresh = try Self.makeProducer(config, sink: name, metrics: metrics, logger: logger)
            replaced = producer.withLock { current in
                guard current === failed else { return false }
                current = fresh
                return true
            }
        } catch {
            logger.error("cannot recreate the Kafka producer after a fatal error", metadata: ["error": "\(error)"])
            return
        }
        if replaced {
            logger.warning("Kafka producer recreated after a fatal error", metadata: ["error": "\(failed.fatalError.map { "\($0)" } ?? "")"])
            await failed.close(flushTimeout: .seconds(1))
        }
    }
}
