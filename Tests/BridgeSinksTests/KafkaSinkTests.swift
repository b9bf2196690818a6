import BridgeCore
import BridgeSinks
import Foundation
import Logging
import RdKafka
import Testing
import TestSupport
import ThingSpace

/// The Kafka sink against librdkafka's mock cluster (3 brokers on loopback), read back with a
/// real consumer.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaSinkTests {
    static let account = "0000123456-00001"

    static var logger: Logger {
        var logger = Logger(label: "kafka-sink-test")
        logger.logLevel = .critical
        return logger
    }

    /// Settings that keep fault tests quick: short reconnect backoff and message timeout.
    static func config(_ cluster: KafkaMockCluster, topic: String, mode: KafkaSinkConfig.Mode = .binary, messageTimeout: Duration = .seconds(5)) -> KafkaSinkConfig {
        KafkaSinkConfig(
            brokers: [cluster.bootstrapServers], topic: topic, mode: mode, flushTimeout: .seconds(2), messageTimeout: messageTimeout,
            linger: .milliseconds(1),
            properties: ["reconnect.backoff.ms": "50", "reconnect.backoff.max.ms": "300", "topic.metadata.propagation.max.ms": "500"]
        )
    }

    static func item(_ n: Int, device: String = "7022895555", text: String? = nil, route: String = "r") throws -> SinkItem {
        let event = EventNormalizer.normalize(
            MOSMSCallback(requestID: "kafka-\(n)-\(device)", deviceIDs: [DeviceID(kind: "mdn", id: device), DeviceID(kind: "esn", id: "60E5F99D")], text: text ?? "temp=\(n)"),
            account: account, channel: .callback, receivedAt: Date(timeIntervalSince1970: 1_795_000_000 + Double(n))
        )
        return SinkItem(deliveryID: Int64(n), route: route, attempt: 1, event: event, eventJSON: try event.jsonData())
    }

    static func readBack(_ cluster: KafkaMockCluster, _ topic: String) throws -> [KafkaConsumerMessage] {
        try KafkaConsumer.readAllBlocking(bootstrapServers: cluster.bootstrapServers, topic: topic)
    }

    @Test func passesTheSinkConformanceSuite() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("conformance", partitions: 3)
        let config = Self.config(cluster, topic: "conformance", messageTimeout: .seconds(2))
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        try await SinkConformance(
            makeSink: { sink },
            received: { try Self.readBack(cluster, "conformance").compactMap { $0.header("ce_id")?.stringValue } },
            // Every produce request is answered NOT_ENOUGH_REPLICAS (on the wire, by the brokers):
            // librdkafka retries until message.timeout, then reports retriable; nothing is
            // appended. Reads keep working, so the suite can check nothing arrived.
            breakDestination: { cluster.pushRequestErrors(.produce, Array(repeating: .notEnoughReplicas, count: 1000)) },
            healDestination: { cluster.clearRequestErrors(.produce) }
        ).run()
    }

    @Test func binaryModePutsAttributesInHeadersAndDataInTheValue() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("events.0000123456-00001", partitions: 3)
        var config = Self.config(cluster, topic: "events.{account}")
        config.mode = .binary
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        let items = try (1...3).map { try Self.item($0) }
        #expect(await sink.deliver(items) == [.delivered, .delivered, .delivered])
        await sink.close()

        let read = try Self.readBack(cluster, "events.0000123456-00001")
        #expect(read.count == 3)
        for message in read {
            let id = try #require(message.header("ce_id")?.stringValue)
            let item = try #require(items.first { $0.event.id == id })
            let event = item.event
            #expect(message.header("ce_specversion")?.stringValue == "1.0")
            #expect(message.header("ce_source")?.stringValue == "/thingspace/accounts/\(Self.account)")
            #expect(message.header("ce_type")?.stringValue == "com.verizon.thingspace.sms.mo")
            #expect(message.header("ce_time")?.stringValue == event.time)
            #expect(message.header("ce_subject")?.stringValue == "7022895555")
            #expect(message.header("content-type")?.stringValue == "application/json")
            #expect(message.key == Data("7022895555".utf8), "default key: the device's primary id")
            // The value is the event's data, byte for byte what the journal stores under "data".
            let value = try #require(message.value)
            let data = try JSONDecoder().decode(SMSData.self, from: value)
            #expect(data == event.data)
            let stored = try #require(try JSONSerialization.jsonObject(with: item.eventJSON) as? [String: Any])
            let storedData = try JSONSerialization.data(withJSONObject: stored["data"] as Any, options: [.sortedKeys, .withoutEscapingSlashes])
            let valueObject = try JSONSerialization.jsonObject(with: value)
            #expect(try JSONSerialization.data(withJSONObject: valueObject, options: [.sortedKeys, .withoutEscapingSlashes]) == storedData)
        }
    }

    @Test func structuredModeSendsTheStoredCloudEvent() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("structured", partitions: 1)
        let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: "structured", mode: .structured), logger: Self.logger)
        let item = try Self.item(7)
        #expect(await sink.deliver([item]) == [.delivered])
        await sink.close()
        let read = try Self.readBack(cluster, "structured")
        #expect(read.count == 1)
        #expect(read.first?.value == item.eventJSON)
        #expect(read.first?.header("content-type")?.stringValue == "application/cloudevents+json; charset=UTF-8")
        #expect(read.first?.header("ce_id") == nil)
    }

    @Test func aDevicesEventsShareAPartitionInOrder() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("ordered", partitions: 6)
        let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: "ordered"), logger: Self.logger)
        let devices = (0..<6).map { "70228955\($0)0" }
        let items = try (0..<36).map { try Self.item($0, device: devices[$0 % devices.count]) }
        #expect(await sink.deliver(items).allSatisfy { $0 == .delivered })
        await sink.close()
        let read = try Self.readBack(cluster, "ordered")
        #expect(read.count == 36)
        for device in devices {
            let mine = read.filter { $0.key == Data(device.utf8) }
            #expect(mine.count == 6)
            #expect(Set(mine.map(\.partition)).count == 1, "device \(device) in one partition")
            // In the partition, in the order delivered.
            let texts = mine.sorted { $0.offset < $1.offset }.compactMap { try? JSONDecoder().decode(SMSData.self, from: $0.value ?? Data()).text }
            let expected = items.filter { $0.event.subject == device }.map(\.event.data.text)
            #expect(texts == expected)
        }
        #expect(Set(read.map(\.partition)).count > 1, "devices spread over partitions")
    }

    @Test func topicAndKeyTemplates() throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        var config = Self.config(cluster, topic: "tb.{sink}.{route}.{account}")
        config.key = "{account}/{device}"
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        let item = try Self.item(1, route: "trackers/west")
        #expect(sink.topic(for: item) == "tb.kafka.trackers_west.0000123456-00001")
        #expect(sink.key(for: item) == "0000123456-00001/7022895555")
    }

    @Test(arguments: [KafkaError.Code.messageSizeTooLarge, .topicAuthorizationFailed])
    func aPermanentErrorIsRejectedWithTheReason(code: KafkaError.Code) async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("permanent", partitions: 1)
        let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: "permanent"), logger: Self.logger)
        #expect(await sink.deliver([try Self.item(1)]) == [.delivered])
        cluster.pushRequestErrors(.produce, [code])
        let outcomes = await sink.deliver([try Self.item(2)])
        guard case .rejected(let reason) = outcomes.first else { Issue.record("expected rejected, got \(outcomes)"); return }
        #expect(reason.contains(code.name))
        // The sink goes on. (After an authorization failure librdkafka may fail the topic's next
        // record the same way until its metadata refresh: rejected then, as it should be.)
        var later: [DeliveryOutcome] = []
        for attempt in 3..<23 {
            later = await sink.deliver([try Self.item(attempt)])
            if later == [.delivered] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(later == [.delivered], "the sink goes on")
        await sink.close()
    }

    @Test func aFatalProducerErrorIsRetriableAndTheProducerIsReplaced() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("fatal", partitions: 1, replicationFactor: 1)
        var config = Self.config(cluster, topic: "fatal")
        config.properties["enable.gapless.guarantee"] = "true"
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        #expect(await sink.deliver([try Self.item(1)]) == [.delivered])
        // A lost sequence with the gapless guarantee: the idempotent producer becomes unusable.
        cluster.pushRequestErrors(.produce, [.outOfOrderSequenceNumber])
        let failed = await sink.deliver([try Self.item(2)])
        guard case .retriable = failed.first else { Issue.record("expected retriable, got \(failed)"); return }
        // The sink made a new producer: the retry goes through.
        var outcomes: [DeliveryOutcome] = []
        for _ in 0..<20 {
            outcomes = await sink.deliver([try Self.item(2)])
            if outcomes == [.delivered] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcomes == [.delivered])
        await sink.close()
        let ids = try Self.readBack(cluster, "fatal").compactMap { $0.header("ce_id")?.stringValue }
        #expect(Set(ids) == Set(try [Self.item(1), Self.item(2)].map(\.event.id)))
    }

    @Test func aRecordLargerThanMessageMaxBytesIsRejected() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        var config = Self.config(cluster, topic: "small")
        config.properties["message.max.bytes"] = "1000"
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        let outcomes = await sink.deliver([try Self.item(1, text: String(repeating: "x", count: 2000))])
        guard case .rejected(let reason) = outcomes.first else { Issue.record("expected rejected, got \(outcomes)"); return }
        #expect(reason.contains("MSG_SIZE_TOO_LARGE"))
        await sink.close()
    }

    @Test func anUnknownTopicIsRejected() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("missing", partitions: 1, replicationFactor: 1)
        cluster.setTopicError("missing", .unknownTopicOrPartition)
        let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: "missing", messageTimeout: .seconds(5)), logger: Self.logger)
        let outcomes = await sink.deliver([try Self.item(1)])
        guard case .rejected = outcomes.first else { Issue.record("expected rejected, got \(outcomes)"); return }
        await sink.close()
    }

    @Test func brokersDownThenUpLosesNothing() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("outage", partitions: 3)
        let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: "outage", messageTimeout: .seconds(1)), logger: Self.logger)
        #expect(await sink.checkHealth().isReachable)
        #expect(await sink.health().details["brokers"] == "3")

        try cluster.setAllBrokers(up: false)
        let items = try (1...20).map { try Self.item($0, device: "70228955\($0 % 4)0") }
        let failed = await sink.deliver(items)
        #expect(failed.allSatisfy { if case .retriable = $0 { true } else { false } }, "\(failed)")
        #expect(await sink.checkHealth().isReachable == false)
        #expect(await sink.health().isReachable == false, "the last check's result")

        try cluster.setAllBrokers(up: true)
        // What the dispatcher does: the same items again, until delivered.
        var pending = items
        for _ in 0..<5 where !pending.isEmpty {
            let outcomes = await sink.deliver(pending)
            pending = zip(pending, outcomes).filter { $0.1 != .delivered }.map(\.0)
        }
        #expect(pending.isEmpty)
        await sink.close()
        let ids = try Self.readBack(cluster, "outage").compactMap { $0.header("ce_id")?.stringValue }
        #expect(Set(ids) == Set(items.map(\.event.id)))
        #expect(ids.count == items.count, "each exactly once")
    }

    @Test func closeIsBoundedAndLeavesUnconfirmedRecordsRetriable() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("closing", partitions: 1, replicationFactor: 1)
        var config = Self.config(cluster, topic: "closing", messageTimeout: .seconds(60))
        config.flushTimeout = .milliseconds(300)
        let sink = try KafkaSink(name: "kafka", config: config, logger: Self.logger)
        #expect(await sink.deliver([try Self.item(1)]) == [.delivered])
        try cluster.setBrokerDown(1)
        let items = try (2...4).map { try Self.item($0) }
        let delivering = Task { await sink.deliver(items) }
        // Let the records reach librdkafka's queue before closing.
        try await Task.sleep(for: .milliseconds(200))
        let clock = ContinuousClock()
        let started = clock.now
        await sink.close()
        #expect(clock.now - started < .seconds(5))
        let outcomes = await delivering.value
        #expect(outcomes.allSatisfy { if case .retriable = $0 { true } else { false } }, "\(outcomes)")
    }

    /// A client we did not write reads what the sink produced: kcat consumes, the CloudEvents
    /// Python SDK parses each record (binary and structured mode). Skipped without python3/kcat.
    @Test func cloudEventsSDKParsesTheRecords() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        for (topic, mode) in [("ce.binary", KafkaSinkConfig.Mode.binary), ("ce.structured", .structured)] {
            try cluster.createTopic(topic, partitions: 3)
            let sink = try KafkaSink(name: "kafka", config: Self.config(cluster, topic: topic, mode: mode), logger: Self.logger)
            let items = try (1...6).map { try Self.item($0, device: "70228955\($0 % 3)0", text: "temp=2\($0).5;door=\"ajar\" ü") }
            #expect(await sink.deliver(items).allSatisfy { $0 == .delivered })
            await sink.close()
            let (status, output) = try await Self.run(["bash", Self.repository.appendingPathComponent("Tests/kafka/run.sh").path, cluster.bootstrapServers, topic, "6"])
            if output.contains("cloudevents: skipped") { print(output); return }
            #expect(status == 0, "\(output)")
            #expect(output.contains("cloudevents: ok: 6 records"), "\(output)")
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs a command to its end without blocking a cooperative thread; standard output and error together.
    static func run(_ arguments: [String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (status, text)
    }

    @Test func decodesFromTheMainConfigStrictly() throws {
        let decoder = YAMLConfigDecoder(environment: ["KAFKA_PASSWORD": "s3cret"])
        let yaml = """
            type: kafka
            brokers: "a:9092, b:9092"
            topic: "tb.{account}"
            mode: structured
            compression: lz4
            acks: all
            flushTimeout: 3s
            properties:
              security.protocol: SASL_SSL
              sasl.mechanisms: PLAIN
              sasl.username: tb
              sasl.password: "${KAFKA_PASSWORD}"
              linger.ms: 20
            batchSize: 100
            """
        let definition = try decoder.decode(SinkDefinition.self, from: yaml, file: "t.yaml")
        guard case .kafka(let config) = definition.kind else { Issue.record("not kafka"); return }
        #expect(config.brokers == ["a:9092", "b:9092"])
        #expect(config.topic == "tb.{account}")
        #expect(config.key == "{device}")
        #expect(config.mode == .structured)
        #expect(config.compression == .lz4)
        #expect(config.flushTimeout == .seconds(3))
        #expect(config.properties["sasl.password"] == "s3cret")
        #expect(config.properties["linger.ms"] == "20")
        #expect(definition.batchSize == 100)

        let defaults = try decoder.decode(SinkDefinition.self, from: "type: kafka\nbrokers: [\"k:9092\"]\n", file: "t.yaml")
        #expect(defaults.kind == .kafka(KafkaSinkConfig(brokers: ["k:9092"])))
        // Kafka batches wait for delivery reports, so they are larger by default than a file's.
        #expect(defaults.batchSize == 2000)
        #expect(try decoder.decode(SinkDefinition.self, from: "type: file\npath: x.jsonl\n", file: "t.yaml").batchSize == 256)
    }

    @Test(arguments: [
        ("type: kafka\nbrokers: [k:9092]\ntopik: x\n", "unknown key 'topik'"),
        ("type: kafka\ntopic: x\n", "brokers"),
        ("type: kafka\nbrokers: [k:9092]\ntopic: \"t.{device}\"\n", "unknown placeholder '{device}'"),
        ("type: kafka\nbrokers: [k:9092]\nkey: \"{imei}\"\n", "unknown placeholder '{imei}'"),
        ("type: kafka\nbrokers: [k:9092]\nmode: envelope\n", "mode"),
        ("type: kafka\nbrokers: [k:9092]\nproperties: { no.such.thing: 1 }\n", "no.such.thing"),
        ("type: kafka\nbrokers: [k:9092]\nacks: some\n", "acks"),
        ("type: kafka\nbrokers: [k:9092]\nacks: leader\n", "idempotent producer needs acks: all"),
    ])
    func rejectsBadSettingsWithTheirLocation(yaml: String, expected: String) throws {
        let decoder = YAMLConfigDecoder(environment: [:])
        do {
            _ = try decoder.decode(SinkDefinition.self, from: yaml, file: "t.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
            #expect("\(error)".contains("t.yaml:"), "\(error)")
        }
    }
}
