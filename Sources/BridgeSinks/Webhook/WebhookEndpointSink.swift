//===----------------------------------------------------------------------===//
// ThingBridge — webhook sink: one endpoint of a group
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import BridgeCore
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Delivers events to one webhook endpoint: one signed `POST` per event, the stored
/// structured-mode CloudEvent as the body (`application/cloudevents+json`).
///
/// Each endpoint of a group is its own sink (named `<group>/<endpoint>`) with its own
/// dispatcher, so its outbox rows, retries, pauses and per-device order are its own. A batch
/// goes out with up to `concurrency` requests in flight.
///
/// Outcomes: 2xx delivered; 408, 429, 5xx, timeouts and connection failures retriable (with the
/// answer's `Retry-After`); 410 Gone disables the endpoint (the event stays pending); a 3xx (not
/// followed) or any other 4xx rejected, with the status and the start of the answer's body.
///
/// Metrics, labelled by sink: `thingbridge_webhook_requests_total{class}` (2xx, 3xx, 4xx, 5xx,
/// timeout, error), `thingbridge_webhook_request_duration_seconds`,
/// `thingbridge_webhook_breaker_state` (0 closed, 1 open, 2 disabled).
public final class WebhookEndpointSink: SinkAvailabilityReporting, SinkHealthReporting {
    public let name: String
    /// The endpoint's name within its group.
    public let endpointName: String
    let url: URL
    /// `url` as the client takes it (made once, not per request).
    private let urlString: String
    let signer: WebhookSigner
    let timeout: Duration
    let concurrency: Int
    let maxRetryAfter: Duration
    /// The headers every request carries besides the signature headers.
    let fixedHeaders: HTTPHeaders
    private let client: WebhookClient
    private let breaker: Mutex<CircuitBreaker>
    /// The breaker version last written to the journal.
    private let persistedVersion = Mutex(0)
    /// When the stored state was last read (to notice an operator's enable or disable).
    private let lastRefresh = Mutex<Date?>(nil)
    /// The stored row as this sink last wrote or read it (``fingerprint(_:)``): a stored row that
    /// differs was written by someone else, an operator's `endpoints enable|disable`.
    private let knownStored = Mutex<String?>(nil)
    private let journal: SQLiteJournal?
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let metrics: Metrics
    private let closed = Mutex(false)

    /// The most of an error answer's body kept for the dead letter's reason.
    static let snippetLimit = 512

    struct Metrics {
        let duration: Timer
        let breakerState: Gauge
        let classes: [String: Counter]

        init(sink: String) {
            duration = Timer(label: "thingbridge_webhook_request_duration_seconds", dimensions: [("sink", sink)], preferredDisplayUnit: .seconds)
            breakerState = Gauge(label: "thingbridge_webhook_breaker_state", dimensions: [("sink", sink)])
            var classes: [String: Counter] = [:]
            for name in ["2xx", "3xx", "4xx", "5xx", "timeout", "error"] {
                classes[name] = Counter(label: "thingbridge_webhook_requests_total", dimensions: [("sink", sink), ("class", name)])
            }
            self.classes = classes
        }
    }

    /// - Parameters:
    ///   - group: The group's name in the main config.
    ///   - endpoint: The endpoint.
    ///   - config: The group's settings.
    ///   - client: The group's shared client.
    ///   - journal: Where the breaker state is kept; `nil` keeps it in memory only.
    ///   - now: The clock of the breaker (cool-downs, `disableAfter`); tests move it.
    init(
        group: String, endpoint: WebhookEndpointConfig, config: WebhookSinkConfig, client: WebhookClient,
        journal: SQLiteJournal?, logger: Logger, now: @escaping @Sendable () -> Date
    ) throws(JournalError) {
        name = "\(group)/\(endpoint.name)"
        endpointName = endpoint.name
        url = endpoint.url
        urlString = endpoint.url.absoluteString
        signer = WebhookSigner(secrets: endpoint.secrets)
        timeout = endpoint.timeout ?? config.timeout
        concurrency = endpoint.concurrency ?? config.concurrency
        maxRetryAfter = config.maxRetryAfter
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/cloudevents+json")
        headers.add(name: "user-agent", value: "thingbridge")
        for (key, value) in config.headers.merging(endpoint.headers, uniquingKeysWith: { _, own in own }).sorted(by: { $0.key < $1.key }) {
            headers.add(name: key, value: value)
        }
        fixedHeaders = headers
        self.client = client
        self.journal = journal
        self.now = now
        var logger = logger
        logger[metadataKey: "sink"] = "\(name)"
        self.logger = logger
        metrics = Metrics(sink: name)
        let stored = try journal?.endpointState(sink: name) ?? EndpointState(sink: name, changedAt: now())
        breaker = Mutex(CircuitBreaker(config: config.breaker, state: stored))
        lastRefresh.withLock { $0 = now() }
        let known = try journal?.endpointState(sink: name).map(Self.fingerprint)
        knownStored.withLock { $0 = known }
        metrics.breakerState.record(Self.gaugeValue(stored.condition))
        if stored.condition != .closed {
            logger.warning("endpoint starts \(stored.condition.rawValue)", metadata: ["reason": "\(stored.reason ?? "")"])
        }
    }

    /// The breaker's state now.
    public var state: EndpointState { breaker.withLock { $0.state } }

    // MARK: - Availability and health

    public func availability() async -> SinkAvailability {
        await refreshStoredState()
        let now = now()
        return breaker.withLock { $0.availability(at: now) }
    }

    public func health() async -> SinkHealth {
        let state = state
        var details = ["state": state.condition.rawValue, "consecutiveFailures": "\(state.consecutiveFailures)"]
        if let reason = state.reason { details["reason"] = String(reason.prefix(200)) }
        return SinkHealth(isReachable: state.condition == .closed, details: details)
    }

    /// Reads the stored state at most once a second, and takes over a change made by someone
    /// else (an operator's disable, or enable of an open or disabled endpoint).
    private func refreshStoredState() async {
        guard let journal else { return }
        let now = now()
        let due = lastRefresh.withLock { last in
            if let previous = last, now.timeIntervalSince(previous) < 1, now >= previous { return false }
            last = now
            return true
        }
        guard due else { return }
        let stored: EndpointState?
        do {
            stored = try await journal.loadEndpointState(sink: name)
        } catch {
            logger.warning("cannot read the endpoint state", metadata: ["error": "\(error)"])
            return
        }
        guard let stored else { return }
        let mark = Self.fingerprint(stored)
        guard knownStored.withLock({ $0 }) != mark else { return }
        let (previous, version) = breaker.withLock { breaker in
            let previous = breaker.state.condition
            breaker.adopt(stored)
            return (previous, breaker.version)
        }
        knownStored.withLock { $0 = mark }
        persistedVersion.withLock { $0 = version }
        metrics.breakerState.record(Self.gaugeValue(stored.condition))
        if previous != stored.condition {
            logger.notice("endpoint \(stored.condition == .disabled ? "disabled" : "enabled") by an operator", metadata: [
                "was": "\(previous.rawValue)", "reason": "\(stored.reason ?? "")",
            ])
        }
    }

    /// What identifies a stored row's content (dates to the millisecond: they go through a REAL).
    static func fingerprint(_ state: EndpointState) -> String {
        "\(state.condition.rawValue)|\(state.consecutiveFailures)|\(state.reason ?? "")|\(Int64((state.changedAt.timeIntervalSince1970 * 1000).rounded()))"
    }

    // MARK: - Delivery

    public func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
        guard !batch.isEmpty else { return [] }
        // `concurrency` workers (not a task per request), each taking the batch's next item
        // until none is left or the breaker has opened meanwhile.
        let next = Mutex(0)
        let claim: @Sendable () -> Int? = { [self] in
            next.withLock { next -> Int? in
                guard next < batch.count, !Task.isCancelled else { return nil }
                let started = next
                let at = now()
                guard breaker.withLock({ $0.allowsRequest(at: at, alreadyStarted: started) }) else { return nil }
                next += 1
                return started
            }
        }
        var outcomes = [DeliveryOutcome?](repeating: nil, count: batch.count)
        await withTaskGroup(of: [(Int, DeliveryOutcome)].self) { group in
            for _ in 0..<min(concurrency, batch.count) {
                group.addTask {
                    var done: [(Int, DeliveryOutcome)] = []
                    while let index = claim() {
                        done.append((index, await self.send(batch[index])))
                    }
                    return done
                }
            }
            for await done in group {
                for (index, outcome) in done { outcomes[index] = outcome }
            }
        }
        let (reason, retryAfter) = breaker.withLock { $0.holdReason(at: now()) }
        await persistIfChanged()
        return outcomes.map { $0 ?? .retriable(reason: reason, retryAfter: retryAfter) }
    }

    /// Sends one event and classifies the answer; tells the breaker.
    func send(_ item: SinkItem) async -> DeliveryOutcome {
        let id = WebhookSigner.messageID(eventID: item.event.id, route: item.route, sink: name)
        // The signature's timestamp is the wall clock's (receivers check it against theirs).
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: urlString)
        request.method = .POST
        request.headers = fixedHeaders
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        // The route destination's format (`data`, a template) when it gives one; else the
        // stored CloudEvent as it is. What is signed is exactly what is sent.
        var body = item.eventJSON
        if item.options.format != .cloudevents {
            let payload = PayloadRenderer.render(item, sink: name)
            body = payload.bytes
            request.headers.replaceOrAdd(name: "content-type", value: payload.contentType)
        }
        request.headers.add(name: "webhook-signature", value: signer.signature(id: id, timestamp: timestamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        let started = ContinuousClock.now
        let outcome: DeliveryOutcome
        let failure: String?
        var gone = false
        do {
            let response = try await client.http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let status = Int(response.status.code)
            switch status {
            case 200..<300:
                // Read to the end, so the connection goes back to the pool.
                for try await _ in response.body {}
                metrics.classes["2xx"]?.increment()
                outcome = .delivered
                failure = nil
            default:
                let snippet = await Self.snippet(of: response.body)
                let text = "HTTP \(status)\(snippet.isEmpty ? "" : ": \(snippet)")"
                switch status {
                case 408, 429, 500..<600:
                    metrics.classes[status == 408 || status == 429 ? "4xx" : "5xx"]?.increment()
                    let retryAfter = response.headers.first(name: "retry-after").flatMap { Self.retryAfter($0, now: Date(), cap: maxRetryAfter) }
                    outcome = .retriable(reason: text, retryAfter: retryAfter)
                    failure = text
                case 410:
                    metrics.classes["4xx"]?.increment()
                    // The event is not rejected: it waits, with the endpoint's other pending
                    // events, until an operator enables the endpoint again (or replays elsewhere).
                    outcome = .retriable(reason: "\(text) (endpoint disabled)")
                    failure = nil
                    gone = true
                case 300..<400:
                    metrics.classes["3xx"]?.increment()
                    let location = response.headers.first(name: "location").map { " to \(String($0.prefix(200)))" } ?? ""
                    outcome = .rejected(reason: "HTTP \(status) redirect\(location) not followed (followRedirects is off)")
                    failure = nil
                default:
                    metrics.classes["4xx"]?.increment()
                    outcome = .rejected(reason: text)
                    failure = nil
                }
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            metrics.classes["timeout"]?.increment()
            let text = error == .connectTimeout ? "connect timeout" : "no answer within \(timeout)"
            outcome = .retriable(reason: text)
            failure = text
        } catch is CancellationError {
            // Shutdown: not the endpoint's fault.
            return .retriable(reason: "cancelled at shutdown")
        } catch {
            if Task.isCancelled { return .retriable(reason: "cancelled at shutdown") }
            metrics.classes["error"]?.increment()
            let text = "request failed: \(error)"
            outcome = .retriable(reason: text)
            failure = text
        }
        metrics.duration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
        let at = now()
        let (condition, changed): (EndpointState.Condition, Bool) = breaker.withLock { breaker in
            let before = breaker.state.condition
            if gone {
                breaker.endpointGone(at: at, reason: "HTTP 410 Gone")
            } else if let failure {
                breaker.requestFailed(at: at, reason: failure)
            } else {
                breaker.requestSucceeded(at: at)
            }
            return (breaker.state.condition, breaker.state.condition != before)
        }
        if changed { metrics.breakerState.record(Self.gaugeValue(condition)) }
        return outcome
    }

    /// Writes the breaker's state when it changed since the last write.
    private func persistIfChanged() async {
        let (state, version) = breaker.withLock { ($0.state, $0.version) }
        guard persistedVersion.withLock({ $0 }) != version else { return }
        if let journal {
            do {
                // Not written over an operator's disable: the next refresh adopts that instead.
                if try await journal.saveEndpointState(state, overridingDisabled: false) {
                    knownStored.withLock { $0 = Self.fingerprint(state) }
                }
            } catch {
                logger.warning("cannot store the endpoint state", metadata: ["error": "\(error)"])
                return
            }
        }
        persistedVersion.withLock { $0 = version }
        if state.condition != .closed, state.consecutiveFailures > 0 {
            logger.warning("endpoint \(state.condition.rawValue)", metadata: [
                "failures": "\(state.consecutiveFailures)", "reason": "\(state.reason ?? "")",
                "until": "\(state.openUntil.map(Timestamps.format) ?? "-")",
            ])
        }
    }

    public func close() async {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        await persistIfChanged()
        await client.release()
    }

    // MARK: - Answers

    /// The start of an error answer's body, as printable text (at most ``snippetLimit`` bytes
    /// are kept; at most 64 KiB are read, so that the connection can be reused).
    static func snippet(of body: HTTPClientResponse.Body) async -> String {
        var kept: [UInt8] = []
        var read = 0
        do {
            for try await chunk in body {
                read += chunk.readableBytes
                if kept.count < snippetLimit {
                    kept += chunk.readableBytesView.prefix(snippetLimit - kept.count)
                }
                if read > 65536 { break }
            }
        } catch {
            // What was read is enough for a reason.
        }
        let text = String(decoding: kept, as: UTF8.self)
        let printable = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return printable.trimmingCharacters(in: .whitespaces)
    }

    /// A `Retry-After` value (seconds, or an HTTP date) as a wait from `now`, at most `cap`;
    /// nil when it cannot be read.
    static func retryAfter(_ value: String, now: Date, cap: Duration) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        let seconds: Double
        if let number = Int(text) {
            seconds = Double(max(0, number))
        } else if let date = httpDate(text) {
            seconds = max(0, date.timeIntervalSince(now))
        } else {
            return nil
        }
        return min(.milliseconds(Int64(min(seconds, 1e9) * 1000)), cap)
    }

    /// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 requires senders to use.
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    static func gaugeValue(_ condition: EndpointState.Condition) -> Int {
        switch condition {
        case .closed: 0
        case .open: 1
        case .disabled: 2
        }
    }
}
