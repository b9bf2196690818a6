//===----------------------------------------------------------------------===//
// ThingBridge — the per-endpoint circuit breaker
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation

/// One webhook endpoint's circuit breaker, as a value: events in, decisions out. The sink keeps
/// it in a `Mutex`, asks it before sending and tells it every answer; what it stores is an
/// ``EndpointState`` (persisted by the sink after a batch that changed it).
///
/// - closed: requests flow. `failureThreshold` failed requests in a row open it; so does, when
///   `failureRate` is set, that share of failures among at least `minimumRequests` answers over
///   the last `window` (counted in memory: after a restart the window starts empty).
/// - open: no requests until `openUntil`; then exactly one (the probe, `.limited(1)` to the
///   dispatcher). The probe's success closes it; its failure opens it for another cool-down.
/// - disabled: no requests until an operator enables it. Reached by a 410 Gone, or by failing
///   for longer than `disableAfter` (measured from the first failure of the run).
///
/// Only answers that say something about the endpoint count: 408, 429, 5xx, timeouts and
/// connection failures are failures; any other answer (2xx, and also a 4xx that rejects one
/// event) shows the endpoint is up.
struct CircuitBreaker: Sendable {
    let config: WebhookBreakerConfig
    private(set) var state: EndpointState
    /// Bumped on every change of `state`, so the sink persists only when something changed.
    private(set) var version = 0
    /// Answers over the last `window`, for `failureRate` (unused when it is off).
    private var recent: AnswerWindow

    init(config: WebhookBreakerConfig, state: EndpointState) {
        self.config = config
        self.state = state
        recent = AnswerWindow(span: config.window)
    }

    /// What the dispatcher may hand over now.
    func availability(at now: Date) -> SinkAvailability {
        switch state.condition {
        case .closed: .available
        case .open: now >= (state.openUntil ?? now) ? .limited(1) : .unavailable
        case .disabled: .unavailable
        }
    }

    /// Whether another request of the current batch may start: always when closed; when open,
    /// only the one probe (`alreadyStarted == 0`) after the cool-down.
    func allowsRequest(at now: Date, alreadyStarted: Int) -> Bool {
        switch state.condition {
        case .closed: true
        case .open: alreadyStarted == 0 && now >= (state.openUntil ?? now)
        case .disabled: false
        }
    }

    /// Why a request was not sent, and when to try again (for the item's retriable outcome).
    func holdReason(at now: Date) -> (String, Duration?) {
        switch state.condition {
        case .closed:
            return ("not sent", nil)
        case .open:
            let wait = max(0, (state.openUntil ?? now).timeIntervalSince(now))
            return ("not sent: circuit open (\(state.reason ?? "failing"))", Duration.milliseconds(Int64(wait * 1000)))
        case .disabled:
            return ("not sent: endpoint disabled (\(state.reason ?? "by an operator"))", nil)
        }
    }

    // MARK: - Events

    mutating func requestSucceeded(at now: Date) {
        guard state.condition != .disabled else { return }
        if config.failureRate != nil {
            // A successful probe closes the breaker: the failures before it are forgotten here too.
            if state.condition == .open { recent.reset() }
            recent.record(failed: false, at: now)
        }
        guard state.condition != .closed || state.consecutiveFailures != 0 || state.failingSince != nil else { return }
        change(at: now) { state in
            state.condition = .closed
            state.consecutiveFailures = 0
            state.failingSince = nil
            state.openUntil = nil
            state.reason = nil
        }
    }

    mutating func requestFailed(at now: Date, reason: String) {
        guard state.condition != .disabled else { return }
        let config = config
        var rateReason: String?
        if let rate = config.failureRate {
            recent.record(failed: true, at: now)
            let (answers, failures) = recent.counts(at: now)
            if answers >= config.minimumRequests, Double(failures) >= rate * Double(answers) {
                rateReason = "\(failures) of the last \(answers) requests failed within \(Int(config.window.seconds)) s: \(reason)"
            }
        }
        let opened = state.condition == .open
        change(at: now) { state in
            state.consecutiveFailures += 1
            let since = state.failingSince ?? now
            state.failingSince = since
            if let limit = config.disableAfter, now.timeIntervalSince(since) >= limit.seconds {
                state.condition = .disabled
                state.openUntil = nil
                state.reason = "failing since \(Timestamps.format(since)): \(reason)"
            } else if state.condition == .open || state.consecutiveFailures >= config.failureThreshold || rateReason != nil {
                // A failed probe (or the threshold or the failure rate reached): another cool-down.
                state.condition = .open
                state.openUntil = now.addingTimeInterval(config.coolDown.seconds)
                state.reason = state.consecutiveFailures >= config.failureThreshold ? reason : rateReason ?? reason
            }
        }
        // The rate starts over once the breaker opens: the answers before the cool-down do not
        // judge the endpoint after its probe.
        if !opened, state.condition == .open { recent.reset() }
    }

    /// The endpoint answered 410 Gone: it asks not to be called again.
    mutating func endpointGone(at now: Date, reason: String) {
        guard state.condition != .disabled else { return }
        change(at: now) { state in
            state.condition = .disabled
            state.openUntil = nil
            state.reason = reason
        }
    }

    /// Takes over a state stored by someone else (an operator's `endpoints enable|disable`).
    mutating func adopt(_ stored: EndpointState) {
        guard stored != state else { return }
        state = stored
        version += 1
    }

    private mutating func change(at now: Date, _ update: (inout EndpointState) -> Void) {
        var next = state
        update(&next)
        next.changedAt = now
        if next != state {
            state = next
            version += 1
        }
    }
}

/// Answers and failures over a sliding span, in ten slots of a tenth of it each.
struct AnswerWindow: Sendable {
    private struct Slot: Sendable {
        var epoch = Int64.min
        var answers = 0
        var failures = 0
    }

    private let slotSeconds: Double
    private var slots = [Slot](repeating: Slot(), count: 10)

    init(span: Duration) {
        slotSeconds = max(span.seconds / 10, 0.001)
    }

    mutating func record(failed: Bool, at now: Date) {
        let epoch = self.epoch(now)
        let index = Int(epoch.magnitude % 10)
        if slots[index].epoch != epoch { slots[index] = Slot(epoch: epoch) }
        slots[index].answers += 1
        if failed { slots[index].failures += 1 }
    }

    /// Answers and failures in the slot of `now` and the nine before it.
    func counts(at now: Date) -> (answers: Int, failures: Int) {
        let current = epoch(now)
        var answers = 0, failures = 0
        for slot in slots where slot.epoch > current - 10 && slot.epoch <= current {
            answers += slot.answers
            failures += slot.failures
        }
        return (answers, failures)
    }

    mutating func reset() {
        slots = [Slot](repeating: Slot(), count: 10)
    }

    private func epoch(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / slotSeconds).rounded(.down))
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
