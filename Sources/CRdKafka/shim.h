#ifndef THINGBRIDGE_CRDKAFKA_SHIM_H
#define THINGBRIDGE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/*
 * Swift does not import C variadic functions (rd_kafka_producev), so this one fixed-arity
 * wrapper calls it for the Swift wrapper (Sources/RdKafka/Raw/RDKafkaClient.swift).
 *
 * Ownership: the key and value are copied by librdkafka (RD_KAFKA_MSG_F_COPY), so the caller's
 * buffers may go away as soon as this returns. `headers` (may be NULL) is taken over by the
 * message only when the call succeeds (RD_KAFKA_RESP_ERR_NO_ERROR); on any error the caller
 * still owns it and must rd_kafka_headers_destroy() it. `opaque` is an integer id, never a
 * pointer to memory: it comes back in the delivery report as rkmessage->_private. `rkt` is a
 * topic handle the caller holds (rd_kafka_topic_new); producev takes no reference of its own to
 * keep, so the handle must outlive the call only.
 */
static inline rd_kafka_resp_err_t thingbridge_produce(
    rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
    const void *key, size_t key_len, const void *value, size_t value_len,
    rd_kafka_headers_t *headers, void *opaque)
{
    if (headers == NULL) {
        return rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(
        rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

#endif
