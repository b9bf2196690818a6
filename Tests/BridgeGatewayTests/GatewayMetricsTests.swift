import BridgeGateway
import CoreMetrics
import MetricsTestKit
import Prometheus
import Testing
import TestSupport

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

/// The callback answer time: the gateway's own acknowledgement time, read off its histogram.
@Suite(.timeLimit(.minutes(2)))
struct CallbackAnswerTimeTests {
    @Test func theAnswerTimeHasABoundAtThreeMilliseconds() {
        let registry = PrometheusCollectorRegistry()
        let factory = GatewayMetrics.factory(registry: registry)
        let answered = factory.makeTimer(label: GatewayMetrics.answerTimer, dimensions: [("class", "2xx")])
        answered.recordNanoseconds(2_800_000)  // within 3 ms
        answered.recordNanoseconds(3_200_000)  // not
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#"thingbridge_callback_answer_seconds_bucket{class="2xx",le="0.0025"} 0"#))
        #expect(text.contains(#"thingbridge_callback_answer_seconds_bucket{class="2xx",le="0.003"} 1"#))
        #expect(text.contains(#"thingbridge_callback_answer_seconds_bucket{class="2xx",le="0.004"} 2"#))
    }

    @Test func everyCallbackAnswerIsTimedUnderItsClass() async throws {
        // Read before the gateway makes its timers: metrics made earlier would go nowhere.
        let metrics = testMetrics
        try await GatewayHarness.with { gateway in
            func answers(_ answerClass: String) -> [Int64] {
                (try? metrics.expectTimer(GatewayMetrics.answerTimer, [("class", answerClass)]).values) ?? []
            }
            // Other suites run alongside and post callbacks too: count what these requests added.
            let acknowledged = answers("2xx").count, refused = answers("4xx").count
            let good = try await gateway.post(GatewayHarness.callbackBody(requestID: "timed-1"))
            let wrong = try await gateway.post(GatewayHarness.callbackBody(password: "not-it", requestID: "timed-2"))
            #expect(good.status == 200)
            #expect(wrong.status == 401)
            #expect(answers("2xx").count >= acknowledged + 1)
            #expect(answers("4xx").count >= refused + 1)
            // A real duration: after the head was read, well before the client gave up.
            let recent = answers("2xx").suffix(1) + answers("4xx").suffix(1)
            #expect(recent.allSatisfy { $0 > 0 && $0 < 10_000_000_000 })
        }
    }
}
