//===----------------------------------------------------------------------===//
// ThingBridge — run services around a body of work
//===----------------------------------------------------------------------===//

import Logging
import ServiceLifecycle

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts them down gracefully,
/// whether `body` throws or not.
///
/// For tests, benchmarks and tools that need a live gateway or simulator for a while.
/// - Parameters:
///   - services: Started in order; shut down in reverse order.
///   - ready: Awaited before `body` starts (e.g. until a listener is bound).
///   - body: Runs in the caller's isolation.
public func withServices<T>(
    _ services: [any Service], logger: Logger,
    isolation: isolated (any Actor)? = #isolation,
    ready: () async -> Void = {},
    _ body: () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        await ready()
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
