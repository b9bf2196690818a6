//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: typed errors
//===----------------------------------------------------------------------===//

/// An error from librdkafka or from this wrapper, classified so that callers can decide
/// between retrying, dead-lettering and rebuilding the client.
///
/// librdkafka reports errors as `rd_kafka_resp_err_t` codes (negative ones are its own, the
/// others are Kafka protocol codes). ``Code`` carries that number without exposing the C type;
/// ``classification`` is derived from it once, here, so that every caller agrees on what is
/// worth retrying.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// A librdkafka error code (`rd_kafka_resp_err_t`) as a value type.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The numeric `rd_kafka_resp_err_t` value.
        public let rawValue: Int32

        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// librdkafka's symbolic name without the `RD_KAFKA_RESP_ERR_` prefix, e.g.
        /// `_MSG_TIMED_OUT` or `MSG_SIZE_TOO_LARGE`. Stable: use it as a metrics label.
        public var name: String { RDKafkaErrorCodes.name(rawValue) }

        /// librdkafka's human-readable description.
        public var explanation: String { RDKafkaErrorCodes.explanation(rawValue) }

        /// Whether librdkafka knows this code (the C library may be newer than this wrapper's table).
        public var isKnown: Bool { RDKafkaErrorCodes.isKnown(rawValue) }

        public var description: String { name }
    }

    /// What a caller should do about an error.
    public enum Classification: String, Sendable {
        /// It may pass by itself: broker down, timeouts, leader elections, a full local queue.
        case retriable
        /// It will fail the same way every time for this message: too large, unknown topic
        /// (auto-create off), not authorized, invalid record.
        case permanent
        /// The client instance is unusable (an idempotent producer lost its sequence); it must be
        /// destroyed and made again. The message itself may succeed on a new client.
        case fatal
    }

    public let code: Code
    /// librdkafka's message for this occurrence (more precise than ``Code/explanation``).
    public let message: String
    public let classification: Classification
    public let file: String
    public let line: Int

    public init(
        code: Code, message: String? = nil, classification: Classification? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message ?? code.explanation
        self.classification = classification ?? RDKafkaErrorCodes.classify(code.rawValue)
        self.file = file
        self.line = line
    }

    public var isRetriable: Bool { classification == .retriable }
    public var isPermanent: Bool { classification == .permanent }
    public var isFatal: Bool { classification == .fatal }

    public var description: String { "\(code.name): \(message)" }
}

extension KafkaError {
    /// A configuration property librdkafka refused (unknown key or bad value). The value is never
    /// included: it may be a secret (`sasl.password`).
    static func invalidConfiguration(_ key: String, _ reason: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: .invalidArgument, message: "configuration '\(key)': \(reason)", classification: .permanent, file: file, line: line)
    }

    /// The producer is shutting down or shut down; the message was not (or not knowingly) delivered.
    static func shutDown(_ reason: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: .destroyed, message: reason, classification: .retriable, file: file, line: line)
    }
}
