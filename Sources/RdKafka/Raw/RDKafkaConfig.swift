//===----------------------------------------------------------------------===//
// ThingBridge — librdkafka C layer: configuration objects
//===----------------------------------------------------------------------===//

internal import CRdKafka
import Foundation

/// Owns one `rd_kafka_conf_t` until `rd_kafka_new` takes it over.
///
/// `rd_kafka_new` frees the configuration only when it *succeeds*; when it fails, the
/// configuration is still ours. ``markConsumed()`` records the hand-over, and `deinit`
/// destroys the object only if it was never handed over.
final class RDKafkaConfig {
    let pointer: OpaquePointer
    private var isConsumed = false

    /// Makes a configuration and sets each property in order (later ones win).
    /// - Throws: ``KafkaError`` naming the key (never the value: it may be a secret) when
    ///   librdkafka refuses a key or a value.
    init(_ properties: [(key: String, value: String)]) throws(KafkaError) {
        // rd_kafka_conf_new never returns NULL (it aborts on allocation failure).
        pointer = rd_kafka_conf_new()
        for (key, value) in properties {
            try set(key, value)
        }
    }

    deinit {
        if !isConsumed { rd_kafka_conf_destroy(pointer) }
    }

    func set(_ key: String, _ value: String) throws(KafkaError) {
        var errorText = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(pointer, key, value, &errorText, errorText.count)
        guard result == RD_KAFKA_CONF_OK else {
            var reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // librdkafka quotes a bad value in its message; the value may be a secret.
            if !value.isEmpty { reason = reason.replacingOccurrences(of: value, with: "…") }
            throw KafkaError.invalidConfiguration(key, reason.isEmpty ? "rejected by librdkafka" : reason)
        }
    }

    /// Enables the event sources served by `rd_kafka_queue_poll` (bitmask of `RD_KAFKA_EVENT_*`).
    func enableEvents(_ mask: Int32) {
        rd_kafka_conf_set_events(pointer, mask)
    }

    /// Turns librdkafka's own logging off (no stderr output), for clients whose errors reach us
    /// another way (a test consumer gets them as error messages).
    func disableLogging() {
        rd_kafka_conf_set_log_cb(pointer, nil)
    }

    /// Records that `rd_kafka_new` succeeded and now owns (and will free) the configuration.
    func markConsumed() { isConsumed = true }
}

extension RDKafkaConfig {
    /// Checks properties the way `rd_kafka_new` would see them, without making a client, so a
    /// bad key is reported when the main config is read, with its file and line.
    static func validate(_ properties: [(key: String, value: String)]) throws(KafkaError) {
        _ = try RDKafkaConfig(properties)
    }
}
