//===----------------------------------------------------------------------===//
// ThingBridge — a first-come, first-served lock for async code
//===----------------------------------------------------------------------===//

import Synchronization

/// Serializes async critical sections (e.g. history drains of one account: two interleaved
/// drains would acknowledge each other's pages).
///
/// Waiters are resumed in arrival order, after the internal lock is released.
final class AsyncLock: Sendable {
    private struct State {
        var isLocked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Runs `body` while holding the lock.
    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.isLocked {
                    state.waiters.append(continuation)
                    return false
                }
                state.isLocked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.isLocked = false
                return nil
            }
            // Ownership passes straight to the next waiter; the lock stays taken.
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
