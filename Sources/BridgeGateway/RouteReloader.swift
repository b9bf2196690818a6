//===----------------------------------------------------------------------===//
// ThingBridge — hot reload of the routes folder (SIGHUP and a debounced folder watch)
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Reloads the route files on SIGHUP and when the routes folder changes.
///
/// A reload validates the new files completely (every error, as `routes check` prints them).
/// Only a valid set is put in force, atomically (``Ingest/replaceRoutes(_:)``); a set with any
/// error is not applied in part: the old set stays, every error is logged, the failure is
/// counted (`thingbridge_routes_reload_failures_total`) and shown in `/readyz` until a later
/// reload succeeds. Sinks and the unmatched policy come from the main config, which is read at
/// start only: changing it needs a restart.
///
/// The folder is watched by polling its files' names, sizes and modification times (portable,
/// and cheap for a handful of files); a change is applied once the folder has stayed the same
/// for `debounce`, so an editor's save-in-several-writes or a ConfigMap's symlink swap is read once.
public final class RouteReloader: Service, Sendable {
    /// What `/readyz` shows about the routes.
    public struct Status: Sendable, Equatable {
        /// The version in force (``RouteSet/version``).
        public var version: String
        /// How many sets have been put in force since start (1: the one loaded at start).
        public var generation: Int
        public var loadedAt: Date
        /// Why the set in force was loaded: `start`, `SIGHUP`, `routes folder changed`.
        public var reason: String
        /// The errors of the last reload, when it failed (empty once one succeeds).
        public var lastErrors: [String]
        public var lastFailureAt: Date?
        public var failures: Int
    }

    private let ingest: Ingest
    private let load: @Sendable () throws(ConfigErrors) -> RouteSet
    private let directory: URL
    private let pollInterval: Duration
    private let debounce: Duration
    private let watchSignals: Bool
    private let logger: Logger
    private let state: Mutex<Status>
    /// The folder as it was when the routes in force were loaded: the watch compares against it,
    /// so a change made between start-up and the watch's first look is not missed.
    private let loadedFingerprint: String
    private let failureCounter = Counter(label: "thingbridge_routes_reload_failures_total")
    private let versionGauge = Gauge(label: "thingbridge_routes_version")
    private let reloadCounter = Counter(label: "thingbridge_routes_reloads_total")

    /// - Parameters:
    ///   - ingest: Where the new set is put in force.
    ///   - directory: The routes folder to watch.
    ///   - pollInterval: How often the folder is looked at. Default 1 s.
    ///   - debounce: How long the folder must stay unchanged before a reload. Default 500 ms.
    ///   - watchSignals: Reload on SIGHUP (tests turn it off). Default true.
    ///   - load: Loads and validates the folder (the main config's sinks and policy).
    public init(
        ingest: Ingest, directory: URL, pollInterval: Duration = .seconds(1), debounce: Duration = .milliseconds(500),
        watchSignals: Bool = true, logger: Logger, load: @escaping @Sendable () throws(ConfigErrors) -> RouteSet
    ) {
        self.ingest = ingest
        self.directory = directory
        self.pollInterval = pollInterval
        self.debounce = debounce
        self.watchSignals = watchSignals
        self.logger = logger
        self.load = load
        let current = ingest.routeSet
        self.loadedFingerprint = Self.fingerprint(of: directory)
        self.state = Mutex(Status(version: current.version, generation: 1, loadedAt: Date(), reason: "start", lastErrors: [], lastFailureAt: nil, failures: 0))
        versionGauge.record(1)
    }

    public var status: Status { state.withLock { $0 } }

    /// Whether SIGHUP is trapped yet (from shortly after ``run()`` starts); before that, SIGHUP
    /// would have its default action.
    public var isTrappingSIGHUP: Bool { trapping.withLock { $0 } }
    private let trapping = Mutex(false)

    /// Loads the folder now and puts it in force when it is valid.
    /// - Returns: Whether the new set was applied (an unchanged valid set counts as applied).
    @discardableResult
    public func reload(reason: String) -> Bool {
        // One reload at a time (SIGHUP and the folder watch may ask together): otherwise a load
        // of the older files could finish last and replace the newer set.
        serial.withLock { _ in reloadNow(reason: reason) }
    }

    private let serial = Mutex(())

    private func reloadNow(reason: String) -> Bool {
        let started = ContinuousClock.now
        let routes: RouteSet
        do {
            routes = try load()
        } catch {
            let messages = error.errors.map(\.description)
            let failures = state.withLock { status in
                status.lastErrors = messages
                status.lastFailureAt = Date()
                status.failures += 1
                return status.failures
            }
            failureCounter.increment()
            for message in messages { logger.error("route reload: \(message)") }
            logger.error("route reload failed; the routes in force are unchanged", metadata: [
                "reason": "\(reason)", "errors": "\(messages.count)", "failures": "\(failures)", "version": "\(ingest.routeSet.version)",
            ])
            return false
        }
        let previous = ingest.routeSet.version
        ingest.replaceRoutes(routes)
        let generation = state.withLock { status in
            if routes.version != status.version {
                status.generation += 1
                status.loadedAt = Date()
                status.reason = reason
            }
            status.version = routes.version
            status.lastErrors = []
            return status.generation
        }
        versionGauge.record(generation)
        reloadCounter.increment()
        logger.info("routes reloaded", metadata: [
            "reason": "\(reason)", "routes": "\(routes.routes.count)", "version": "\(routes.version)", "previous": "\(previous)",
            "generation": "\(generation)", "took": "\(ContinuousClock.now - started)",
        ])
        return true
    }

    /// The folder's state as far as a reload cares: every file's name, size and modification time.
    func fingerprint() -> String { Self.fingerprint(of: directory) }

    static func fingerprint(of directory: URL) -> String {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return "unreadable" }
        return names.sorted().map { name in
            // Resolving symlinks follows a ConfigMap's `..data` swap to the new files.
            let path = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name)|\(size)|\(modified)"
        }.joined(separator: "\n")
    }

    public func run() async throws {
        // Graceful shutdown cancels both loops (the signal sequence ends on cancellation).
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if self.watchSignals {
                    group.addTask {
                        let signals = await UnixSignalsSequence(trapping: .sighup)
                        self.trapping.withLock { $0 = true }
                        for await _ in signals {
                            if Task.isCancelled { return }
                            self.reload(reason: "SIGHUP")
                        }
                    }
                }
                group.addTask { await self.watch() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Polls the folder; reloads once a change has settled.
    func watch() async {
        var seen = loadedFingerprint
        while !Task.isCancelled {
            do { try await Task.sleep(for: pollInterval) } catch { return }
            let now = fingerprint()
            guard now != seen else { continue }
            // Debounce: wait until the folder stops changing.
            var settled = now
            while true {
                do { try await Task.sleep(for: debounce) } catch { return }
                let again = fingerprint()
                if again == settled { break }
                settled = again
            }
            seen = settled
            reload(reason: "routes folder changed")
        }
    }
}
