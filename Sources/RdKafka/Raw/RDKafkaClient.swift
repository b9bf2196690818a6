//===----------------------------------------------------------------------===//
// ThingBridge — librdkafka C layer: the client handle (`rd_kafka_t`)
//===----------------------------------------------------------------------===//

internal import CRdKafka
import Foundation
import Synchronization

/// What `rd_kafka_queue_poll` handed out, copied into Swift values (the C event is destroyed
/// before this is returned).
enum RDKafkaEvent: Sendable {
    struct DeliveryReport: Sendable {
        /// The integer correlation id given at produce time (the message's opaque).
        var id: UInt64
        var code: KafkaError.Code
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    case deliveryReports([DeliveryReport])
    /// A client-level error. When `isFatal`, `code` is the underlying cause from `rd_kafka_fatal_error`.
    case error(code: KafkaError.Code, message: String, isFatal: Bool)
    /// A log line; `level` is syslog's (0 emergency … 7 debug).
    case log(level: Int32, facility: String, message: String)
    /// librdkafka's statistics JSON (`statistics.interval.ms`).
    case statistics(String)
    /// An event type this wrapper does not handle; logged and skipped, never a crash.
    case unhandled(type: Int32)
}

/// The one owner of an `rd_kafka_t` (and, for a producer, of its main queue reference).
///
/// `deinit` releases the queue reference, then destroys the handle (for a consumer it first
/// closes it). `rd_kafka_destroy` blocks until librdkafka's threads are gone, so the last
/// reference should be dropped off the cooperative pool (``KafkaProducer`` drops it on its poll
/// thread).
///
/// `@unchecked Sendable` is safe because the stored state is immutable pointers and a
/// `Mutex`-guarded table of topic handles, and the librdkafka calls made through them (produce,
/// queue poll, flush, purge, metadata, outq_len, consumer poll, topic_new) are documented as
/// thread-safe on one handle; the handle outlives every call because every call goes through this
/// object, which is only freed after the last reference.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind: Sendable { case producer, consumer }

    let kind: Kind
    private let handle: OpaquePointer
    /// Producer: `rd_kafka_queue_get_main`, a reference we hold (destroyed in deinit). Logs,
    /// errors, statistics and delivery reports all arrive here.
    private let mainQueue: OpaquePointer?
    /// Producer: a topic handle per topic produced to (`rd_kafka_topic_new`, one reference each,
    /// destroyed in deinit before the client), so that a message names its topic by handle instead
    /// of librdkafka looking the name up, under its lock, for every message.
    private let topics = Mutex<[String: OpaquePointer]>([:])

    private init(kind: Kind, handle: OpaquePointer, mainQueue: OpaquePointer?) {
        self.kind = kind
        self.handle = handle
        self.mainQueue = mainQueue
    }

    deinit {
        for topic in topics.withLock({ Array($0.values) }) { rd_kafka_topic_destroy(topic) }
        if let mainQueue { rd_kafka_queue_destroy(mainQueue) }
        if kind == .consumer { _ = rd_kafka_consumer_close(handle) }
        rd_kafka_destroy(handle)
    }

    // MARK: - Making clients

    /// `rd_kafka_new`. On success it takes over `config` (and frees it when the handle is
    /// destroyed); on failure the configuration stays ours and `RDKafkaConfig.deinit` frees it.
    static func newHandle(_ type: rd_kafka_type_t, _ config: RDKafkaConfig) throws(KafkaError) -> OpaquePointer {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, config.pointer, &errorText, errorText.count) else {
            let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(code: .invalidArgument, message: "cannot create the Kafka client: \(reason)", classification: .permanent)
        }
        config.markConsumed()
        return handle
    }

    /// A producer whose delivery reports, errors, logs and statistics are all events on its main
    /// queue, served by ``pollEvent(timeoutMilliseconds:)`` (no C callbacks).
    static func makeProducer(properties: [(key: String, value: String)]) throws(KafkaError) -> RDKafkaClient {
        let config = try RDKafkaConfig(properties + [("log.queue", "true")])
        config.enableEvents(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_STATS)
        let handle = try newHandle(RD_KAFKA_PRODUCER, config)
        // A new reference to the main queue; released in deinit before the handle is destroyed.
        let queue = rd_kafka_queue_get_main(handle)
        // NULL: forward logs to the main queue (needs log.queue=true, set above).
        _ = rd_kafka_set_log_queue(handle, nil)
        return RDKafkaClient(kind: .producer, handle: handle, mainQueue: queue)
    }

    /// A consumer for reading back (tests, checks). Its main queue is forwarded to the consumer
    /// queue, so ``consumerPoll(timeoutMilliseconds:)`` serves everything; its own logging is off
    /// (errors arrive as error messages).
    static func makeConsumer(properties: [(key: String, value: String)]) throws(KafkaError) -> RDKafkaClient {
        let config = try RDKafkaConfig(properties)
        config.disableLogging()
        let handle = try newHandle(RD_KAFKA_CONSUMER, config)
        _ = rd_kafka_poll_set_consumer(handle)
        return RDKafkaClient(kind: .consumer, handle: handle, mainQueue: nil)
    }

    // MARK: - Producing

    /// `rd_kafka_producev` (through `thingbridge_produce` in shim.h). Non-blocking: the message is
    /// queued, and its outcome arrives later as a delivery report carrying `id`.
    ///
    /// - Returns: `.noError` when queued, else why not (e.g. `_QUEUE_FULL`, `_UNKNOWN_TOPIC`,
    ///   `MSG_SIZE_TOO_LARGE`); then no delivery report will come for it.
    func produce(_ message: KafkaProducerMessage, id: UInt64) -> KafkaError.Code {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            // Ours until produce succeeds; then the message owns it (freed with the message).
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                // rd_kafka_header_add copies name and value.
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        // The id travels as the pointer's bit pattern: no object is retained, nothing to free.
        let opaque = UnsafeMutableRawPointer(bitPattern: UInt(id))
        // -1 is RD_KAFKA_PARTITION_UA: let the partitioner choose from the key.
        let partition = message.partition ?? -1
        guard let topic = topicHandle(message.topic) else {
            if let headers { rd_kafka_headers_destroy(headers) }
            return KafkaError.Code(rd_kafka_last_error())
        }
        let code = message.value.withUnsafeBytes { value in
            withOptionalBytes(message.key) { key in
                // RD_KAFKA_MSG_F_COPY (in the shim): librdkafka copies key and value before it
                // returns, so these buffers need not outlive the call.
                thingbridge_produce(
                    handle, topic, partition, key?.baseAddress, key?.count ?? 0,
                    value.baseAddress, value.count, headers, opaque
                )
            }
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, let headers {
            // Not taken over on failure: still ours to free.
            rd_kafka_headers_destroy(headers)
        }
        return KafkaError.Code(code)
    }

    /// The topic's handle, made on first use and kept until the client goes; nil when librdkafka
    /// refuses the name (its reason in `rd_kafka_last_error`).
    ///
    /// A topic met for the first time is also asked for its metadata, off the caller's thread:
    /// otherwise librdkafka holds its first records until the next topic scan (up to a second)
    /// before it knows the partitions.
    private func topicHandle(_ name: String) -> OpaquePointer? {
        let (topic, isNew) = topics.withLock { topics -> (OpaquePointer?, Bool) in
            if let known = topics[name] { return (known, false) }
            guard let made = rd_kafka_topic_new(handle, name, nil) else { return (nil, false) }
            topics[name] = made
            return (made, true)
        }
        if isNew {
            // Holds the client until the answer (or the timeout): it is not destroyed meanwhile.
            Blocking.async { [self] in _ = metadata(topic: name, timeoutMilliseconds: 5000) }
        }
        return topic
    }

    /// Serves the main queue once: `rd_kafka_queue_poll`, blocking up to the timeout.
    /// Call it from a dedicated thread, never from the cooperative pool.
    func pollEvent(timeoutMilliseconds: Int32) -> RDKafkaEvent? {
        guard let mainQueue, let event = rd_kafka_queue_poll(mainQueue, timeoutMilliseconds) else { return nil }
        // Every event handed out is ours to destroy; what we keep is copied first.
        defer { rd_kafka_event_destroy(event) }
        let type = rd_kafka_event_type(event)
        switch type {
        case RD_KAFKA_EVENT_DR:
            var reports: [RDKafkaEvent.DeliveryReport] = []
            reports.reserveCapacity(rd_kafka_event_message_count(event))
            // The messages belong to the event and die with it.
            // The reports of one event are mostly of one topic: its name is made once.
            var lastTopic: (handle: OpaquePointer, name: String)?
            while let message = rd_kafka_event_message_next(event) {
                let topic: String
                if let rkt = message.pointee.rkt {
                    if let lastTopic, lastTopic.handle == rkt {
                        topic = lastTopic.name
                    } else {
                        topic = String(cString: rd_kafka_topic_name(rkt))
                        lastTopic = (rkt, topic)
                    }
                } else {
                    topic = ""
                }
                reports.append(RDKafkaEvent.DeliveryReport(
                    id: UInt64(UInt(bitPattern: message.pointee._private)),
                    code: KafkaError.Code(message.pointee.err),
                    topic: topic,
                    partition: message.pointee.partition,
                    offset: message.pointee.offset
                ))
            }
            return .deliveryReports(reports)
        case RD_KAFKA_EVENT_ERROR:
            var code = KafkaError.Code(rd_kafka_event_error(event))
            var text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? code.explanation
            let isFatal = rd_kafka_event_error_is_fatal(event) != 0
            if isFatal {
                var reason = [CChar](repeating: 0, count: 512)
                let cause = rd_kafka_fatal_error(handle, &reason, reason.count)
                if cause != RD_KAFKA_RESP_ERR_NO_ERROR {
                    code = KafkaError.Code(cause)
                    text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            return .error(code: code, message: text, isFatal: isFatal)
        case RD_KAFKA_EVENT_LOG:
            var facility: UnsafePointer<CChar>?
            var text: UnsafePointer<CChar>?
            var level: Int32 = 0
            guard rd_kafka_event_log(event, &facility, &text, &level) == 0 else { return .unhandled(type: type) }
            return .log(level: level, facility: facility.map { String(cString: $0) } ?? "", message: text.map { String(cString: $0) } ?? "")
        case RD_KAFKA_EVENT_STATS:
            return .statistics(rd_kafka_event_stats(event).map { String(cString: $0) } ?? "{}")
        default:
            return .unhandled(type: type)
        }
    }

    /// Wakes a thread blocked in ``pollEvent(timeoutMilliseconds:)`` (`rd_kafka_queue_yield`).
    func wakePoller() {
        if let mainQueue { rd_kafka_queue_yield(mainQueue) }
    }

    /// `rd_kafka_flush`: waits (blocking) until every queued message has its delivery report
    /// *consumed* — with event delivery reports this does not serve the queue itself, so the
    /// poll loop must keep running meanwhile.
    func flush(timeoutMilliseconds: Int32) -> KafkaError.Code {
        KafkaError.Code(rd_kafka_flush(handle, timeoutMilliseconds))
    }

    /// `rd_kafka_purge` of queued and in-flight messages: each gets a delivery report with
    /// `_PURGE_QUEUE`/`_PURGE_INFLIGHT`. In-flight ones may still have reached the broker
    /// (at-least-once: they are sent again later).
    func purge() {
        _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
    }

    /// `rd_kafka_outq_len`: messages and requests not yet sent or acknowledged, plus delivery
    /// reports not yet served.
    var outQueueLength: Int { Int(rd_kafka_outq_len(handle)) }

    // MARK: - Metadata

    /// `rd_kafka_metadata` (blocking, up to the timeout): the brokers, and either one topic or the
    /// topics the client knows.
    func metadata(topic: String?, timeoutMilliseconds: Int32) -> Result<KafkaMetadata, KafkaError> {
        // A topic handle is a reference we take here and release below.
        let topicHandle = topic.map { rd_kafka_topic_new(handle, $0, nil) } ?? nil
        defer { if let topicHandle { rd_kafka_topic_destroy(topicHandle) } }
        var result: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(handle, 0, topicHandle, &result, timeoutMilliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let result else {
            return .failure(KafkaError(code: KafkaError.Code(code)))
        }
        // The metadata is ours to free once copied.
        defer { rd_kafka_metadata_destroy(result) }
        let metadata = result.pointee
        let brokers = (0..<Int(metadata.broker_cnt)).map { index in
            let broker = metadata.brokers[index]
            return KafkaMetadata.Broker(id: broker.id, host: broker.host.map { String(cString: $0) } ?? "", port: Int(broker.port))
        }
        let topics = (0..<Int(metadata.topic_cnt)).map { index in
            let topic = metadata.topics[index]
            let partitions = (0..<Int(topic.partition_cnt)).map { partitionIndex in
                let partition = topic.partitions[partitionIndex]
                return KafkaMetadata.Partition(
                    id: partition.id, leader: partition.leader,
                    error: partition.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.Code(partition.err)
                )
            }
            return KafkaMetadata.Topic(
                name: topic.topic.map { String(cString: $0) } ?? "",
                error: topic.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.Code(topic.err),
                partitions: partitions
            )
        }
        return .success(KafkaMetadata(originatingBrokerID: metadata.orig_broker_id, brokers: brokers, topics: topics))
    }

    // MARK: - Consuming

    /// `rd_kafka_query_watermark_offsets` (blocking): the partition's low and high watermarks
    /// (the high one is the offset the next record will get).
    func watermarks(topic: String, partition: Int32, timeoutMilliseconds: Int32) -> Result<(low: Int64, high: Int64), KafkaError> {
        var low: Int64 = 0
        var high: Int64 = 0
        let code = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(code: KafkaError.Code(code))) }
        return .success((low, high))
    }

    /// `rd_kafka_assign`: reads these partitions from these offsets, without joining a group.
    /// `offset` -2 is `RD_KAFKA_OFFSET_BEGINNING`, -1 `RD_KAFKA_OFFSET_END`.
    func assign(_ partitions: [(topic: String, partition: Int32, offset: Int64)]) throws(KafkaError) {
        // The list is ours; rd_kafka_assign copies it.
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for entry in partitions {
            rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition).pointee.offset = entry.offset
        }
        let code = rd_kafka_assign(handle, list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: KafkaError.Code(code)) }
    }

    /// `rd_kafka_consumer_poll` (blocking up to the timeout). `nil` when nothing arrived.
    func consumerPoll(timeoutMilliseconds: Int32) -> Result<KafkaConsumerMessage, KafkaError>? {
        guard let message = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        // The message (and its headers) is ours until destroyed; everything kept is copied.
        defer { rd_kafka_message_destroy(message) }
        let raw = message.pointee
        guard raw.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_message_errstr(message).map { String(cString: $0) }
            return .failure(KafkaError(code: KafkaError.Code(raw.err), message: text))
        }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        // The header list belongs to the message; not freed separately.
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            while true {
                var name: UnsafePointer<CChar>?
                var value: UnsafeRawPointer?
                var size = 0
                guard rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: value.map { Data(bytes: $0, count: size) }))
                index += 1
            }
        }
        return .success(KafkaConsumerMessage(
            topic: raw.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: raw.partition,
            offset: raw.offset,
            key: raw.key.map { Data(bytes: $0, count: raw.key_len) },
            value: raw.payload.map { Data(bytes: $0, count: raw.len) },
            headers: headers
        ))
    }
}

/// Calls `body` with the bytes of `data`, or with `nil` when there is no data.
private func withOptionalBytes<R>(_ data: Data?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let data else { return body(nil) }
    return data.withUnsafeBytes { body($0) }
}
