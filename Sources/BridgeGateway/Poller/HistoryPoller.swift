//===----------------------------------------------------------------------===//
// ThingBridge — the history poller (fallback channel)
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import ThingSpace

/// How an account's queued messages are collected.
public enum PollMode: String, Sendable, Decodable, CaseIterable {
    /// Callbacks are the main channel; the queue is drained at start-up, every interval, and at
    /// once when a callback could not be journaled (those messages went to the queue).
    case callbackWithPollFallback
    /// No callbacks: the queue is drained at start-up and every interval.
    case pollOnly
    /// At start-up and every interval, ask ThingSpace to push the queue (`startCallbacks`)
    /// instead of reading it.
    case startCallbacks
    /// Never read the queue (callbacks only). Messages that fail their push stay queued upstream.
    case off
}

/// Per-account poller settings (`accounts[].poller` in the main config).
public struct PollerSettings: Sendable, Equatable {
    public var mode: PollMode
    /// Time between drains. Default 5 min (30 s for `pollOnly`).
    public var interval: Duration
    /// After the last (200) page, send one more request so an upstream that keeps the last
    /// page until a follow-up call (strict mode) deletes it. Default false.
    public var acknowledgeFinalPage: Bool
    /// Stop a drain after this many pages and continue next time, so one huge backlog cannot
    /// starve shutdown. Default 10,000 (a million messages).
    public var maxPagesPerDrain: Int
    /// Drain (or ask for a push) as soon as the gateway starts, to collect what queued while it
    /// was down. Default true; turn it off only where something else drains at start-up.
    public var drainAtStart: Bool

    public init(
        mode: PollMode = .callbackWithPollFallback, interval: Duration? = nil, acknowledgeFinalPage: Bool = false,
        maxPagesPerDrain: Int = 10_000, drainAtStart: Bool = true
    ) {
        self.drainAtStart = drainAtStart
        self.mode = mode
        self.interval = interval ?? (mode == .pollOnly ? .seconds(30) : .seconds(300))
        self.acknowledgeFinalPage = acknowledgeFinalPage
        self.maxPagesPerDrain = maxPagesPerDrain
    }
}

/// What one drain did.
public struct DrainReport: Sendable, Equatable {
    public var pages = 0
    public var messages = 0
    public var stored = 0
    public var duplicates = 0
    /// Why the drain stopped early, if it did; the unacknowledged page stays queued upstream.
    public var error: String?

    public init(pages: Int = 0, messages: Int = 0, stored: Int = 0, duplicates: Int = 0, error: String? = nil) {
        self.pages = pages
        self.messages = messages
        self.stored = stored
        self.duplicates = duplicates
        self.error = error
    }
}

/// Drains one account's ThingSpace MO queue into the journal.
///
/// The ordering that keeps the promise: a page is committed to the journal *before* the request
/// that carries its `next` token is sent, because that request is what makes ThingSpace delete
/// the page. If the commit fails, or the process dies in between, the token is never sent and
/// ThingSpace serves the page again; the journal's dedup (event id from `timestamp` + device +
/// text) keeps one copy.
public final class HistoryPoller: Service {
    public let account: String
    public let settings: PollerSettings
    private let client: ThingSpaceClient
    private let ingest: Ingest
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let state = Mutex(PollerStatus())
    private let drainLock = AsyncLock()
    private let onPageCommitted: (@Sendable (CommittedPage) async -> Void)?
    private let isPaused: @Sendable () -> Bool

    /// A page that was committed, reported before its acknowledgement is sent.
    public struct CommittedPage: Sendable {
        /// 1 for the first page of a drain.
        public var number: Int
        public var messages: Int
        /// Whether a request carrying this page's token follows (false for the last page).
        public var willAcknowledge: Bool
    }

    /// What the poller has done so far, for status and tests.
    public struct PollerStatus: Sendable, Equatable {
        public var drains = 0
        public var pages = 0
        public var messages = 0
        public var stored = 0
        public var lastError: String?
        public var lastSuccess: Date?
    }

    /// - Parameters:
    ///   - isPaused: Checked before every request; true while back-pressure is on. The poller
    ///     then stops (a committed but unacknowledged page is served again later).
    ///   - onPageCommitted: Called after each page is committed and before the request that
    ///     acknowledges it (observability; tests use it to inject faults mid-drain).
    public init(
        account: String, settings: PollerSettings, client: ThingSpaceClient, ingest: Ingest, logger: Logger,
        isPaused: @escaping @Sendable () -> Bool = { false },
        onPageCommitted: (@Sendable (CommittedPage) async -> Void)? = nil
    ) {
        self.onPageCommitted = onPageCommitted
        self.isPaused = isPaused
        self.account = account
        self.settings = settings
        self.client = client
        self.ingest = ingest
        var logger = logger
        logger[metadataKey: "account"] = "\(account)"
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var status: PollerStatus { state.withLock { $0 } }

    /// Asks for a drain as soon as possible (coalesced with one already pending).
    public func requestDrain() { wake.yield() }

    public func run() async throws {
        guard settings.mode != .off else { return }
        let ticker = startTicker(every: settings.interval) { [wake] in wake.yield() }
        defer { ticker.cancel() }
        if settings.drainAtStart { wake.yield() }  // start-up: collect what queued while we were down
        for await _ in wakeups.cancelOnGracefulShutdown() {
            switch settings.mode {
            case .startCallbacks:
                await askForPush()
            case .callbackWithPollFallback, .pollOnly:
                _ = await drain()
            case .off:
                return
            }
        }
    }

    /// Reads the queue page by page until it is empty (or an error stops it).
    ///
    /// Drains of one poller never overlap: a second caller waits for the first to finish.
    @discardableResult
    public func drain() async -> DrainReport {
        await drainLock.withLock { await drainNow() }
    }

    private func drainNow() async -> DrainReport {
        var report = DrainReport()
        var token: String?
        var sentFinalAck = false
        let started = ContinuousClock.now
        while report.pages < settings.maxPagesPerDrain {
            if isPaused() {
                report.error = "paused: back-pressure is on"
                logger.info("history drain paused by back-pressure; ThingSpace keeps the rest queued", metadata: ["pages": "\(report.pages)"])
                break
            }
            let result: HistoryPageResult
            do {
                result = try await client.historyPage(account: account, next: token)
            } catch {
                report.error = error.description
                Counter(label: "thingbridge_poller_errors_total", dimensions: [("code", error.code)]).increment()
                logger.error("history request failed; the unacknowledged page stays queued upstream", metadata: ["error": "\(error)"])
                break
            }
            report.pages += 1
            let messages = result.page.messages.map { message in
                MOSMSCallback(deviceIDs: message.deviceIds, text: message.message, timestamp: message.timestamp)
            }
            report.messages += messages.count
            if !messages.isEmpty {
                do {
                    // Commit first. Only then may the token that acknowledges this page be sent.
                    let results = try await ingest.ingest(messages, account: account, channel: .poll)
                    for item in results {
                        if case .stored = item.outcome { report.stored += 1 } else { report.duplicates += 1 }
                    }
                } catch {
                    report.error = error.description
                    logger.error("journal commit failed; page not acknowledged, ThingSpace will serve it again", metadata: ["error": "\(error)"])
                    break
                }
                Counter(label: "thingbridge_received_total", dimensions: [("channel", "poll")]).increment(by: messages.count)
                await onPageCommitted?(CommittedPage(number: report.pages, messages: messages.count, willAcknowledge: result.nextToken != nil))
            }
            if let next = result.nextToken {
                token = next
                continue
            }
            // The last page (200). In strict upstream mode it is deleted by the next call.
            if settings.acknowledgeFinalPage, !messages.isEmpty, !sentFinalAck {
                sentFinalAck = true
                token = nil
                continue
            }
            break
        }
        let elapsed = ContinuousClock.now - started
        state.withLock { status in
            status.drains += 1
            status.pages += report.pages
            status.messages += report.messages
            status.stored += report.stored
            status.lastError = report.error
            if report.error == nil { status.lastSuccess = Date() }
        }
        if report.messages > 0 || report.error != nil {
            logger.info("history drained", metadata: [
                "pages": "\(report.pages)", "messages": "\(report.messages)", "stored": "\(report.stored)",
                "duplicates": "\(report.duplicates)", "elapsed": "\(elapsed)",
            ])
        }
        return report
    }

    private func askForPush() async {
        do {
            try await client.startCallbacks(account: account)
            state.withLock {
                $0.lastError = nil
                $0.lastSuccess = Date()
            }
            logger.info("asked ThingSpace to push the queued messages (startCallbacks)")
        } catch {
            state.withLock { $0.lastError = error.description }
            Counter(label: "thingbridge_poller_errors_total", dimensions: [("code", error.code)]).increment()
            logger.error("startCallbacks failed", metadata: ["error": "\(error)"])
        }
    }
}
