//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: librdkafka's in-process mock cluster
//===----------------------------------------------------------------------===//

/// A Kafka cluster inside this process: librdkafka's mock brokers, speaking the real Kafka
/// protocol over TCP on loopback. Any client on this host (this wrapper, `kcat`, Python's
/// `confluent-kafka`) can use ``bootstrapServers`` while the object lives.
///
/// Used by the tests and by the demo as its embedded Kafka. Faults are real: a broker set
/// down closes its connections and refuses new ones; pushed request errors are answered on the
/// wire.
///
/// - Important: a mock partition keeps at most 5 MiB or 100,000 message sets; older data is
///   dropped. Consumer group joins wait 3 s; read back with ``KafkaConsumer/assign(topic:partitions:from:)``.
public final class KafkaMockCluster: Sendable {
    /// Kafka protocol API keys, for request error injection.
    public enum API: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
        case findCoordinator = 10
        case initProducerID = 22
    }

    private let raw: RDKafkaMockCluster
    /// How many brokers were started; their ids are `1...brokerCount`.
    public let brokerCount: Int

    /// Starts `brokers` mock brokers (ids 1…N), each listening on a free loopback port.
    /// - Throws: ``KafkaError`` when librdkafka cannot start them.
    public init(brokers: Int = 3) throws(KafkaError) {
        raw = try RDKafkaMockCluster(brokers: brokers)
        brokerCount = brokers
    }

    /// `127.0.0.1:PORT,…`: the value for `bootstrap.servers`.
    public var bootstrapServers: String { raw.bootstrapServers }

    /// Creates a topic. Without this, topics are auto-created on first use with the mock's
    /// default partition count.
    /// - Throws: ``KafkaError`` (e.g. `TOPIC_ALREADY_EXISTS`).
    public func createTopic(_ name: String, partitions: Int = 3, replicationFactor: Int = 3) throws(KafkaError) {
        try check(raw.createTopic(name, partitions: partitions, replicationFactor: min(replicationFactor, brokerCount)))
    }

    /// Takes a broker down: its connections close and it refuses new ones until ``setBrokerUp(_:)``.
    public func setBrokerDown(_ broker: Int32) throws(KafkaError) { try check(raw.setBrokerDown(broker)) }

    public func setBrokerUp(_ broker: Int32) throws(KafkaError) { try check(raw.setBrokerUp(broker)) }

    /// Every broker down (the whole cluster unreachable), or up again.
    public func setAllBrokers(up: Bool) throws(KafkaError) {
        for broker in 1...Int32(brokerCount) {
            try check(up ? raw.setBrokerUp(broker) : raw.setBrokerDown(broker))
        }
    }

    /// Adds a round-trip delay to a broker's responses.
    public func setBrokerRoundTrip(_ broker: Int32, _ delay: Duration) throws(KafkaError) {
        try check(raw.setBrokerRTT(broker, milliseconds: Int32(KafkaProducerConfig.milliseconds(delay))))
    }

    /// Moves a partition's leadership to `broker`.
    public func setPartitionLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        try check(raw.setPartitionLeader(topic: topic, partition: partition, broker: broker))
    }

    /// The next `errors.count` requests of `api` (to any broker) fail with these codes, in order.
    public func pushRequestErrors(_ api: API, _ errors: [KafkaError.Code]) {
        raw.pushRequestErrors(apiKey: api.rawValue, errors)
    }

    /// Forgets pushed errors for `api` that have not been used yet.
    public func clearRequestErrors(_ api: API) { raw.clearRequestErrors(apiKey: api.rawValue) }

    /// Metadata for `topic` reports `error` from now on (`.noError` clears it).
    public func setTopicError(_ topic: String, _ error: KafkaError.Code) { raw.setTopicError(topic, error) }

    private func check(_ code: KafkaError.Code) throws(KafkaError) {
        guard code == .noError else { throw KafkaError(code: code) }
    }
}
