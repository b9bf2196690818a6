import Logging
import Testing
@testable import RdKafka

@Suite struct KafkaErrorTests {
    @Test(arguments: [
        (KafkaError.Code.messageTimedOut, KafkaError.Classification.retriable),
        (.transport, .retriable),
        (.allBrokersDown, .retriable),
        (.queueFull, .retriable),
        (.notLeaderForPartition, .retriable),
        (.requestTimedOut, .retriable),
        (.notEnoughReplicas, .retriable),
        (.leaderNotAvailable, .retriable),
        (.purgedQueued, .retriable),
        (.purgedInFlight, .retriable),
        (.messageSizeTooLarge, .permanent),
        (.unknownTopicOrPartition, .permanent),
        (.unknownTopic, .permanent),
        (.topicAuthorizationFailed, .permanent),
        (.clusterAuthorizationFailed, .permanent),
        (.invalidRecord, .permanent),
        (.fatal, .fatal),
        (.outOfOrderSequenceNumber, .fatal),
    ])
    func classifiesLibrdkafkaCodes(code: KafkaError.Code, expected: KafkaError.Classification) {
        let error = KafkaError(code: code)
        #expect(error.classification == expected, "\(code.name)")
        #expect(code.isKnown)
        #expect(!error.message.isEmpty)
    }

    @Test func namesAreLibrdkafkasSymbols() {
        #expect(KafkaError.Code.messageTimedOut.name == "_MSG_TIMED_OUT")
        #expect(KafkaError.Code.messageSizeTooLarge.name == "MSG_SIZE_TOO_LARGE")
        #expect(KafkaError.Code.messageTimedOut.rawValue == -192)
    }

    @Test func anUnknownCodeIsRetriableAndNamedNotACrash() {
        let error = KafkaError(code: KafkaError.Code(rawValue: 12_345))
        #expect(!error.code.isKnown)
        #expect(error.isRetriable)
        #expect(error.code.name.contains("12345"))
    }

    @Test func aBadPropertyNamesTheKeyButNeverTheValue() throws {
        var config = KafkaProducerConfig(bootstrapServers: ["127.0.0.1:9"])
        config.properties["no.such.property"] = "s3cret-value"
        let error = try #require(throws: KafkaError.self) { try config.validate() }
        #expect(error.isPermanent)
        #expect(error.message.contains("no.such.property"))
        #expect(!error.description.contains("s3cret-value"))
        #expect(throws: KafkaError.self) { try KafkaProducer(config: config, logger: .init(label: "t")) }

        // librdkafka quotes a bad value in its message: it is taken out.
        var badValue = KafkaProducerConfig(bootstrapServers: ["127.0.0.1:9"])
        badValue.properties["security.protocol"] = "hunter2-not-a-protocol"
        let refused = try #require(throws: KafkaError.self) { try badValue.validate() }
        #expect(refused.message.contains("security.protocol"))
        #expect(!refused.description.contains("hunter2"), "\(refused)")
    }

    @Test func typedSettingsBecomeLibrdkafkaProperties() throws {
        var config = KafkaProducerConfig(bootstrapServers: ["a:9092", "b:9092"])
        config.compression = .lz4
        config.linger = .milliseconds(20)
        config.properties["linger.ms"] = "7"
        let properties = config.librdkafkaProperties
        #expect(properties.first { $0.key == "bootstrap.servers" }?.value == "a:9092,b:9092")
        #expect(properties.first { $0.key == "enable.idempotence" }?.value == "true")
        #expect(properties.first { $0.key == "acks" }?.value == "all")
        #expect(properties.first { $0.key == "compression.codec" }?.value == "lz4")
        #expect(properties.first { $0.key == "message.timeout.ms" }?.value == "30000")
        // Pass-through comes last, so it wins.
        #expect(properties.last { $0.key == "linger.ms" }?.value == "7")
        try config.validate()
    }
}
