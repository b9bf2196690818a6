//===----------------------------------------------------------------------===//
// ThingBridge — the Prometheus backend, with buckets that fit the gateway's timings
//===----------------------------------------------------------------------===//

import Prometheus

/// The metrics backend `thingbridge serve` and `demo` bootstrap.
///
/// swift-prometheus's default histogram buckets start at 5 ms (and at 5 for values): a journal
/// commit (0.2–2 ms), a webhook request to a nearby receiver (under a millisecond) and a commit
/// of one event would all fall into the first bucket, and their percentiles could not be read.
public enum GatewayMetrics {
    /// Upper bounds for every timer: 100 µs to 10 s.
    public static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Upper bounds for value histograms (`thingbridge_journal_commit_batch_size`: 1 to
    /// `maxBatch`, 2,000).
    public static let valueBuckets: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000]

    /// The callback listener's answer time (`thingbridge_callback_answer_seconds{class}`).
    public static let answerTimer = "thingbridge_callback_answer_seconds"

    /// Upper bounds for the answer time: finer between 1 and 5 ms, where a durable acknowledgement
    /// falls, with a bound at 3 ms so that the share of callbacks acknowledged within that
    /// target reads straight off the histogram.
    public static let answerBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(1500),
        .milliseconds(2), .microseconds(2500), .milliseconds(3), .milliseconds(4), .milliseconds(5),
        .microseconds(7500), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
    ]

    /// A factory writing to `registry`, with the buckets above.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        factory.durationHistogramBuckets[answerTimer] = answerBuckets
        factory.defaultValueHistogramBuckets = valueBuckets
        return factory
    }
}
