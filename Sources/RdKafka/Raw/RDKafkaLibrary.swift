//===----------------------------------------------------------------------===//
// ThingBridge — librdkafka C layer: library facts
//===----------------------------------------------------------------------===//

internal import CRdKafka

/// Facts about the linked librdkafka. The only place outside `Raw/` that needs them is logging.
enum RDKafkaLibrary {
    /// `rd_kafka_version_str()`, e.g. `2.0.2`. The C string is static; it is copied, never freed.
    static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// `rd_kafka_version()`: `0xMMmmrrxx`.
    static var versionNumber: Int { Int(rd_kafka_version()) }
}
