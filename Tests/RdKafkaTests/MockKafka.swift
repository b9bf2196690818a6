import Foundation
import Logging
@testable import RdKafka

/// A mock cluster plus producer settings that keep fault tests quick: short reconnect backoff,
/// short metadata propagation, a bounded message timeout.
struct MockKafka {
    let cluster: KafkaMockCluster
    let logger: Logger

    init(brokers: Int = 3) throws {
        cluster = try KafkaMockCluster(brokers: brokers)
        var logger = Logger(label: "rdkafka-test")
        logger.logLevel = .critical
        self.logger = logger
    }

    func producerConfig(messageTimeout: Duration = .seconds(10)) -> KafkaProducerConfig {
        var config = KafkaProducerConfig(bootstrapServers: [cluster.bootstrapServers])
        config.messageTimeout = messageTimeout
        config.linger = .milliseconds(1)
        config.properties["reconnect.backoff.ms"] = "50"
        config.properties["reconnect.backoff.max.ms"] = "300"
        config.properties["topic.metadata.propagation.max.ms"] = "500"
        config.properties["retry.backoff.ms"] = "50"
        return config
    }

    func producer(messageTimeout: Duration = .seconds(10), _ adjust: (inout KafkaProducerConfig) -> Void = { _ in }) throws -> KafkaProducer {
        var config = producerConfig(messageTimeout: messageTimeout)
        adjust(&config)
        return try KafkaProducer(config: config, logger: logger)
    }

    func consumer() throws -> KafkaConsumer {
        try KafkaConsumer(bootstrapServers: cluster.bootstrapServers)
    }

    /// Everything in `topic` (all partitions, from the beginning), waiting for `count` messages.
    func readBack(_ topic: String, count: Int, timeout: Duration = .seconds(10)) async throws -> [KafkaConsumerMessage] {
        let consumer = try consumer()
        try await consumer.assignAll(topic: topic)
        return try await consumer.read(count: count, timeout: timeout)
    }

    static func message(_ topic: String, key: String?, value: String, headers: [KafkaHeader] = []) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, key: key.map { Data($0.utf8) }, value: Data(value.utf8), headers: headers)
    }
}
