//===----------------------------------------------------------------------===//
// ThingBridge — the per-endpoint circuit breaker
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation

/// One webhook endpoint's circuit breaker, as a value: events in, decisions out. The sink keeps
/// it in a `Mutex`, asks it before sending and tells it every answer; what it stores is an
/// ``EndpointState`` (persisted by the sink after a batch that changed it).
///
/// - closed: requests flow. `failureThreshold` failed requests in a row open it.
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

    init(config: WebhookBreakerConfig, state: EndpointState) {
        self.config = config
        self.state = state
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
        change(at: now) { state in
            state.consecutiveFailures += 1
            let since = state.failingSince ?? now
            state.failingSince = since
            if let limit = config.disableAfter, now.timeIntervalSince(since) >= limit.seconds {
                state.condition = .disabled
                state.openUntil = nil
                state.reason = "failing since \(Timestamps.format(since)): \(reason)"
            } else if state.condition == .open || state.consecutiveFailures >= config.failureThreshold {
                // A failed probe (or the threshold reached): another cool-down.
                state.condition = .open
                state.openUntil = now.addingTimeInterval(config.coolDown.seconds)
                state.reason = reason
            }
        }
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

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
