//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: messages, headers, delivery reports, metadata
//===----------------------------------------------------------------------===//

import Foundation

/// One Kafka record header. Names may repeat; the value may be absent (a null header).
public struct KafkaHeader: Sendable, Equatable {
    public var name: String
    public var value: Data?

    public init(name: String, value: Data?) {
        self.name = name
        self.value = value
    }

    /// A header with a UTF-8 text value.
    public init(name: String, string: String) {
        self.init(name: name, value: Data(utf8Of: string))
    }

    /// The value as UTF-8 text, when there is one.
    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// A message to produce.
public struct KafkaProducerMessage: Sendable {
    public var topic: String
    /// `nil` (default): librdkafka's partitioner picks one from the key (`consistent_random`:
    /// the same key always goes to the same partition; no key, a random one).
    public var partition: Int32?
    public var key: Data?
    public var value: Data
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: Data? = nil, value: Data, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker put a message it acknowledged.
public struct KafkaDeliveryReport: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// The outcome for one produced message: its delivery report, or why it was not delivered.
public typealias KafkaDeliveryResult = Result<KafkaDeliveryReport, KafkaError>

/// A message read back by a ``KafkaConsumer``.
public struct KafkaConsumerMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: Data?
    public var value: Data?
    public var headers: [KafkaHeader]

    /// The first header with this name.
    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }
}

/// The cluster as one broker described it (`rd_kafka_metadata`).
public struct KafkaMetadata: Sendable {
    public struct Broker: Sendable, Equatable {
        public var id: Int32
        public var host: String
        public var port: Int
    }

    public struct Topic: Sendable {
        public var name: String
        /// The topic's error, if the broker reported one (e.g. unknown topic).
        public var error: KafkaError.Code?
        public var partitions: [Partition]
    }

    public struct Partition: Sendable {
        public var id: Int32
        /// The leader broker's id (-1 when there is none).
        public var leader: Int32
        public var error: KafkaError.Code?
    }

    /// The broker that answered.
    public var originatingBrokerID: Int32
    public var brokers: [Broker]
    public var topics: [Topic]

    public func topic(_ name: String) -> Topic? { topics.first { $0.name == name } }
}

extension Data {
    /// The UTF-8 bytes of `string`, copied at once (`Data(string.utf8)` goes through the generic
    /// sequence initializer, with a dynamic cast and a loop, for every header of every record).
    public init(utf8Of string: String) {
        var string = string
        self = string.withUTF8 { Data(buffer: $0) }
    }
}
