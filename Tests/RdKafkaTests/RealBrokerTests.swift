import Foundation
import Logging
import Testing
@testable import RdKafka

/// The same round trip against a real cluster, when `KAFKA_BROKERS` (host:port,…) is set; the
/// topic (`KAFKA_TOPIC`, default `thingbridge.test`) must exist or be auto-created.
@Suite(.serialized, .timeLimit(.minutes(2)), .enabled(if: ProcessInfo.processInfo.environment["KAFKA_BROKERS"] != nil))
struct RealBrokerTests {
    let brokers = ProcessInfo.processInfo.environment["KAFKA_BROKERS"] ?? ""
    let topic = ProcessInfo.processInfo.environment["KAFKA_TOPIC"] ?? "thingbridge.test"

    @Test func producesAndReadsBack() async throws {
        try await Self.roundTrip(brokers: brokers, topic: topic)
    }

    /// Ten keyed records with a header, read back from where they landed. Also run against the
    /// mock cluster (`KafkaProducerTests`), so that this test is known to work before it meets a
    /// real broker.
    static func roundTrip(brokers: String, topic: String) async throws {
        let producer = try KafkaProducer(config: KafkaProducerConfig(bootstrapServers: [brokers]), logger: Logger(label: "real-broker"))
        let metadata = try await producer.metadata(topic: topic)
        #expect(!metadata.brokers.isEmpty)
        let run = UUID().uuidString
        let results = await producer.send((0..<10).map {
            KafkaProducerMessage(topic: topic, key: Data("k\($0 % 3)".utf8), value: Data("\(run) \($0)".utf8), headers: [KafkaHeader(name: "run", string: run)])
        })
        let reports = try results.map { try $0.get() }
        // Read from where this run's records landed, partition by partition.
        var offsets: [Int32: Int64] = [:]
        for report in reports { offsets[report.partition] = min(offsets[report.partition] ?? .max, report.offset) }
        let consumer = try KafkaConsumer(bootstrapServers: brokers)
        try consumer.assign(topic: topic, offsets: offsets)
        let read = try await consumer.read(count: 10, timeout: .seconds(30)).filter { $0.header("run")?.stringValue == run }
        #expect(read.count == 10)
        await producer.close(flushTimeout: .seconds(10))
    }
}
