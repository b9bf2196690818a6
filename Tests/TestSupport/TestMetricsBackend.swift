//===----------------------------------------------------------------------===//
// ThingBridge — test helpers: the test process's metrics backend
//===----------------------------------------------------------------------===//

import Metrics
import MetricsTestKit

/// The test process's metrics backend, bootstrapped on first use (swift-metrics allows one
/// bootstrap per process, and every test target runs in one process). Metrics made before it is
/// first used go nowhere, so a test reads it before it makes what it measures. Other suites'
/// metrics land here too: a test looks only at its own labels, or at how a count grew.
public let testMetrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()
