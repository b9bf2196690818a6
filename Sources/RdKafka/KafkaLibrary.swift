//===----------------------------------------------------------------------===//
// ThingBridge — Kafka wrapper: public facts about librdkafka
//===----------------------------------------------------------------------===//

/// The librdkafka that ThingBridge is linked against (Debian `librdkafka-dev`).
///
/// The Kafka sink (producer, delivery reports, mock cluster for tests) is built on this target.
public enum KafkaLibrary {
    /// The version string, e.g. `2.0.2`.
    public static var version: String { RDKafkaLibrary.versionString }

    /// The version as (major, minor, revision).
    public static var versionComponents: (major: Int, minor: Int, revision: Int) {
        let number = RDKafkaLibrary.versionNumber
        return ((number >> 24) & 0xFF, (number >> 16) & 0xFF, (number >> 8) & 0xFF)
    }
}
