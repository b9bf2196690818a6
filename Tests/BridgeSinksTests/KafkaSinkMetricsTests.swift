import BridgeCore
import BridgeSinks
import Foundation
import Metrics
import MetricsTestKit
import RdKafka
import Testing
import TestSupport

@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaSinkMetricsTests {
    @Test func countsProducedDeliveredErrorsAndExportsLibrdkafkaStatistics() async throws {
        let metrics = testMetrics
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic("metrics", partitions: 3)
        var config = KafkaSinkTests.config(cluster, topic: "metrics")
        config.statisticsInterval = .milliseconds(200)
        let sink = try KafkaSink(name: "kafka-metrics", config: config, logger: KafkaSinkTests.logger)
        let dimensions = [("sink", "kafka-metrics")]

        #expect(await sink.deliver(try (1...5).map { try KafkaSinkTests.item($0) }).allSatisfy { $0 == .delivered })
        cluster.pushRequestErrors(.produce, [.messageSizeTooLarge])
        _ = await sink.deliver([try KafkaSinkTests.item(6)])

        #expect(try metrics.expectCounter("thingbridge_kafka_produced_total", dimensions).totalValue == 6)
        #expect(try metrics.expectCounter("thingbridge_kafka_delivered_total", dimensions).totalValue == 5)
        let errors = try metrics.expectCounter("thingbridge_kafka_errors_total", dimensions + [("code", "MSG_SIZE_TOO_LARGE"), ("class", "permanent")])
        #expect(errors.totalValue == 1)
        #expect(try metrics.expectGauge("thingbridge_kafka_in_flight", dimensions).lastValue == 0)
        // The health check at start found the brokers.
        #expect(await eventually { (try? metrics.expectGauge("thingbridge_kafka_brokers_reachable", dimensions).lastValue) == 1 })
        // librdkafka's statistics, every 200 ms: the brokers it is connected to, what it sent.
        #expect(await eventually { (try? metrics.expectGauge("thingbridge_kafka_librdkafka_brokers_up", dimensions).lastValue) ?? 0 >= 1 })
        #expect(await eventually { (try? metrics.expectGauge("thingbridge_kafka_librdkafka_sent_messages", dimensions).lastValue) ?? 0 >= 5 })
        await sink.close()
    }
}
