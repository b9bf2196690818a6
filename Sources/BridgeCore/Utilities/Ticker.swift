//===----------------------------------------------------------------------===//
// ThingBridge — a periodic wake-up
//===----------------------------------------------------------------------===//

/// Calls `tick` every `interval` until the returned task is cancelled.
///
/// Used to wake loops that otherwise wait for a signal (a dispatcher looking for due retries,
/// a poller's schedule); the owner cancels it when its loop ends.
public func startTicker(every interval: Duration, _ tick: @escaping @Sendable () -> Void) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            tick()
        }
    }
}
