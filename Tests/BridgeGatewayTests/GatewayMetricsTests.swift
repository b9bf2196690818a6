import BridgeGateway
import CoreMetrics
import Prometheus
import Testing

/// The gateway's metrics backend: histograms fine enough to read a sub-millisecond commit.
@Suite struct GatewayMetricsTests {
    @Test func aSubMillisecondCommitLandsInASubMillisecondBucket() {
        let registry = PrometheusCollectorRegistry()
        let factory = GatewayMetrics.factory(registry: registry)
        let commit = factory.makeTimer(label: "thingbridge_journal_commit_seconds", dimensions: [])
        commit.recordNanoseconds(300_000)  // 0.3 ms
        commit.recordNanoseconds(1_800_000)  // 1.8 ms
        let batch = factory.makeRecorder(label: "thingbridge_journal_commit_batch_size", dimensions: [], aggregate: true)
        batch.record(Int64(1))
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#"thingbridge_journal_commit_seconds_bucket{le="0.00025"} 0"#))
        #expect(text.contains(#"thingbridge_journal_commit_seconds_bucket{le="0.0005"} 1"#))
        #expect(text.contains(#"thingbridge_journal_commit_seconds_bucket{le="0.001"} 1"#))
        #expect(text.contains(#"thingbridge_journal_commit_seconds_bucket{le="0.0025"} 2"#))
        #expect(text.contains(#"thingbridge_journal_commit_batch_size_bucket{le="1.0"} 1"#))
    }
}
