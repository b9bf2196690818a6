//===----------------------------------------------------------------------===//
// ThingBridge — librdkafka C layer: error codes and their classification
//===----------------------------------------------------------------------===//

internal import CRdKafka

/// `rd_kafka_resp_err_t` facts: names, descriptions, and what each code means for a caller.
enum RDKafkaErrorCodes {
    /// The codes this librdkafka knows (`rd_kafka_get_err_descs`): a static table, read once.
    private static let known: Set<Int32> = {
        var descriptions: UnsafePointer<rd_kafka_err_desc>?
        var count = 0
        rd_kafka_get_err_descs(&descriptions, &count)
        guard let descriptions else { return [] }
        var codes = Set<Int32>()
        for index in 0..<count where descriptions[index].name != nil {
            codes.insert(descriptions[index].code.rawValue)
        }
        return codes
    }()

    static func isKnown(_ code: Int32) -> Bool { known.contains(code) }

    /// `rd_kafka_err2name`: a static string for known codes. For an unknown code librdkafka
    /// formats `ERR_<n>?` into a thread-local buffer; it is copied at once either way.
    static func name(_ code: Int32) -> String {
        String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)))
    }

    /// `rd_kafka_err2str`: static (or thread-local, for unknown codes) text, copied.
    static func explanation(_ code: Int32) -> String {
        String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: code)))
    }

    /// What a caller of a *producer* should do about a code.
    ///
    /// Permanent: the same message fails the same way every time (dead-letter it). Fatal: the
    /// client is unusable (rebuild it). Everything else — including codes this table does not
    /// know — is retriable: a retry policy with a maximum ends it in a dead letter anyway, while
    /// calling a transient failure permanent would lose the chance to deliver.
    static func classify(_ code: Int32) -> KafkaError.Classification {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,            // larger than message.max.bytes (local or broker)
             RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,
             RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
             RD_KAFKA_RESP_ERR_INVALID_MSG,                   // corrupt record
             RD_KAFKA_RESP_ERR_INVALID_RECORD,
             RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP,
             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,         // topic absent and auto-create off
             RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
             RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
             RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,               // invalid topic name
             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
             RD_KAFKA_RESP_ERR_POLICY_VIOLATION,
             RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT,
             RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE,
             RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS,
             RD_KAFKA_RESP_ERR__INVALID_ARG,
             RD_KAFKA_RESP_ERR__BAD_MSG,
             RD_KAFKA_RESP_ERR__KEY_SERIALIZATION,
             RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION:
            return .permanent
        case RD_KAFKA_RESP_ERR__FATAL,
             RD_KAFKA_RESP_ERR__FENCED,
             RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
             RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
             RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
             RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
            return .fatal
        default:
            return .retriable
        }
    }
}

// The codes callers name. Each is the C constant's value, so the public surface needs no C type.
extension KafkaError.Code {
    public static let noError = Self(RD_KAFKA_RESP_ERR_NO_ERROR)
    /// `_MSG_TIMED_OUT`: not delivered within `message.timeout.ms`.
    public static let messageTimedOut = Self(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
    /// `_TRANSPORT`: a broker connection failed.
    public static let transport = Self(RD_KAFKA_RESP_ERR__TRANSPORT)
    /// `_ALL_BROKERS_DOWN`.
    public static let allBrokersDown = Self(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    /// `_QUEUE_FULL`: the local producer queue is full (`queue.buffering.max.*`).
    public static let queueFull = Self(RD_KAFKA_RESP_ERR__QUEUE_FULL)
    /// `_TIMED_OUT`: a local operation (flush, metadata) timed out.
    public static let timedOut = Self(RD_KAFKA_RESP_ERR__TIMED_OUT)
    /// `_DESTROY`: the client is being destroyed.
    public static let destroyed = Self(RD_KAFKA_RESP_ERR__DESTROY)
    /// `_INVALID_ARG`.
    public static let invalidArgument = Self(RD_KAFKA_RESP_ERR__INVALID_ARG)
    /// `_UNKNOWN_TOPIC`: librdkafka found no such topic in the cluster metadata.
    public static let unknownTopic = Self(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
    /// `_PURGE_QUEUE` / `_PURGE_INFLIGHT`: purged at shutdown before it was confirmed.
    public static let purgedQueued = Self(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
    public static let purgedInFlight = Self(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
    /// `_FATAL`: the producer is unusable.
    public static let fatal = Self(RD_KAFKA_RESP_ERR__FATAL)
    /// `_PARTITION_EOF` (consumer).
    public static let partitionEOF = Self(RD_KAFKA_RESP_ERR__PARTITION_EOF)
    public static let unknownTopicOrPartition = Self(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    public static let leaderNotAvailable = Self(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
    public static let notLeaderForPartition = Self(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
    public static let requestTimedOut = Self(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
    public static let messageSizeTooLarge = Self(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
    public static let notEnoughReplicas = Self(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
    public static let topicAuthorizationFailed = Self(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
    public static let clusterAuthorizationFailed = Self(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
    public static let invalidRecord = Self(RD_KAFKA_RESP_ERR_INVALID_RECORD)
    public static let outOfOrderSequenceNumber = Self(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER)

    init(_ code: rd_kafka_resp_err_t) { self.init(rawValue: code.rawValue) }
}
