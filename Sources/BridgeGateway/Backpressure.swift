//===----------------------------------------------------------------------===//
// ThingBridge — back-pressure: stop taking more than the sinks can deliver
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// `journal.backpressure` in the main config.
public struct BackpressureSettings: Sendable, Equatable {
    /// Back-pressure turns on when this many deliveries are pending (all sinks together). Default 100,000.
    public var highWater: Int
    /// …and off again when the backlog is down to this. Default 80,000.
    public var lowWater: Int
    /// Back-pressure also turns on when the data folder's file system has less free space than this. Default 512 MiB.
    public var minFreeDisk: ByteSize
    /// How often the backlog and the disk are checked. Default 1 s; with millions pending, at
    /// most every 20 times the backlog count's own time (about 2 s per million).
    public var checkInterval: Duration
    /// `Retry-After` on the 503s while it is on. Default 30 s.
    public var retryAfter: Duration

    public init(
        highWater: Int = 100_000, lowWater: Int = 80_000, minFreeDisk: ByteSize = .mebibytes(512),
        checkInterval: Duration = .seconds(1), retryAfter: Duration = .seconds(30)
    ) {
        self.highWater = highWater
        self.lowWater = lowWater
        self.minFreeDisk = minFreeDisk
        self.checkInterval = checkInterval
        self.retryAfter = retryAfter
    }
}

/// Watches the backlog and the free disk space and says whether the gateway should take more.
///
/// While back-pressure is on, callbacks get 503 with `Retry-After` (ThingSpace keeps those
/// messages queued), the poller pauses, and `/readyz` says not ready. Hysteresis (high and low
/// water) keeps it from flapping.
public final class BackpressureMonitor: Service {
    public struct Status: Sendable, Equatable {
        public var isOn = false
        public var reason: String?
        public var backlog = 0
        public var freeDiskBytes: Int?
    }

    public let settings: BackpressureSettings
    private let journal: SQLiteJournal
    private let dataDirectory: String
    private let logger: Logger
    private let state = Mutex(Status())
    private let onRelease: @Sendable () -> Void

    /// - Parameter onRelease: Called when back-pressure turns off (the gateway wakes its pollers).
    public init(settings: BackpressureSettings, journal: SQLiteJournal, dataDirectory: String, logger: Logger, onRelease: @escaping @Sendable () -> Void = {}) {
        self.settings = settings
        self.journal = journal
        self.dataDirectory = dataDirectory
        self.logger = logger
        self.onRelease = onRelease
    }

    public var status: Status { state.withLock { $0 } }
    public var isOn: Bool { state.withLock { $0.isOn } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let started = ContinuousClock.now
                await self.check()
                // Counting the backlog walks the outbox's index: about 0.1 s per million pending
                // deliveries. After a long outage, check less often rather than spend a core on
                // it: the wait is at least 20 times the count's time (≤ 5% of a core).
                let took = ContinuousClock.now - started
                try? await Task.sleep(for: max(self.settings.checkInterval, took * 20))
            }
        }
    }

    /// Reads the backlog and the disk once and updates the state.
    public func check() async {
        let pending = (try? await journal.pendingBySink()) ?? [:]
        let backlog = pending.values.reduce(0, +)
        for (sink, count) in pending { Gauge(label: "thingbridge_backlog", dimensions: [("sink", sink)]).record(count) }
        let free = Self.freeBytes(at: dataDirectory)
        if let free { Gauge(label: "thingbridge_disk_free_bytes").record(free) }
        let diskLow = free.map { $0 < settings.minFreeDisk.bytes } ?? false
        let (changed, now) = state.withLock { status -> (Bool, Status) in
            let wasOn = status.isOn
            if backlog >= settings.highWater {
                status.isOn = true
                status.reason = "backlog \(backlog) ≥ highWater \(settings.highWater)"
            } else if diskLow {
                status.isOn = true
                status.reason = "free disk \(free ?? 0) bytes < minFreeDisk \(settings.minFreeDisk.bytes)"
            } else if status.isOn, backlog <= settings.lowWater {
                status.isOn = false
                status.reason = nil
            }
            status.backlog = backlog
            status.freeDiskBytes = free
            return (wasOn != status.isOn, status)
        }
        Gauge(label: "thingbridge_backpressure").record(now.isOn ? 1 : 0)
        guard changed else { return }
        if now.isOn {
            logger.warning("back-pressure ON: answering callbacks 503 and pausing the poller; ThingSpace keeps the messages queued", metadata: ["reason": "\(now.reason ?? "")"])
        } else {
            logger.notice("back-pressure off: taking messages again", metadata: ["backlog": "\(backlog)"])
            onRelease()
        }
    }

    static func freeBytes(at path: String) -> Int? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }
}
