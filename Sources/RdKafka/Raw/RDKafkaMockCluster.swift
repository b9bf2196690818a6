//===----------------------------------------------------------------------===//
// ThingBridge — librdkafka C layer: the mock cluster (`rdkafka_mock.h`)
//===----------------------------------------------------------------------===//

internal import CRdKafka

/// The one owner of an `rd_kafka_mock_cluster_t` and of the `rd_kafka_t` it needs to live in.
///
/// `deinit` destroys the cluster first (it runs on the owner's threads), then the owner.
///
/// `@unchecked Sendable` is safe because the stored pointers never change and the mock control
/// functions post operations to the cluster's own thread (they are callable from any thread).
final class RDKafkaMockCluster: @unchecked Sendable {
    private let owner: OpaquePointer
    private let cluster: OpaquePointer

    init(brokers: Int) throws(KafkaError) {
        // A producer with no bootstrap servers is enough to own a mock cluster. log_level 3
        // keeps its one harmless "no bootstrap.servers" warning off stderr.
        let config = try RDKafkaConfig([("log_level", "3")])
        let owner = try RDKafkaClient.newHandle(RD_KAFKA_PRODUCER, config)
        guard let cluster = rd_kafka_mock_cluster_new(owner, Int32(brokers)) else {
            rd_kafka_destroy(owner)
            throw KafkaError(code: .invalidArgument, message: "cannot start a mock cluster of \(brokers) brokers", classification: .permanent)
        }
        self.owner = owner
        self.cluster = cluster
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(owner)
    }

    /// `host:port,…` of the brokers' loopback listeners. The C string belongs to the cluster; copied.
    var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor)))
    }

    func setBrokerDown(_ broker: Int32) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_mock_broker_set_down(cluster, broker))
    }

    func setBrokerUp(_ broker: Int32) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_mock_broker_set_up(cluster, broker))
    }

    func setBrokerRTT(_ broker: Int32, milliseconds: Int32) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_mock_broker_set_rtt(cluster, broker, milliseconds))
    }

    func setPartitionLeader(topic: String, partition: Int32, broker: Int32) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_mock_partition_set_leader(cluster, topic, partition, broker))
    }

    /// `rd_kafka_mock_push_request_errors_array` (the variadic form does not import): the next
    /// `codes.count` requests with this API key fail with these codes, in order. The array is
    /// copied by the call.
    func pushRequestErrors(apiKey: Int16, _ codes: [KafkaError.Code]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        errors.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }

    func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }

    /// `rd_kafka_mock_topic_set_error`: metadata requests for the topic report this error.
    func setTopicError(_ topic: String, _ code: KafkaError.Code) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: code.rawValue))
    }
}
