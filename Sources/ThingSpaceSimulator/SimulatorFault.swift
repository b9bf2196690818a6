//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: fault injection
//===----------------------------------------------------------------------===//

import Foundation

/// A misbehaviour of ThingSpace or of the network that a test switches on.
///
/// Faults are consumed as they fire (`count`s go down) or end with their time window, which
/// is measured on the simulator's clock, so ``ThingSpaceSimulator/advanceClock(by:)`` ends
/// a window without sleeping. Injecting a fault of a kind that is already active replaces
/// it, except ``httpError(status:pathPrefix:count:)``, which adds a rule.
public enum SimulatorFault: Sendable, Equatable {
    /// Pushes fail as if the listener had failed: the listener is *not* called, the attempt
    /// counts in `pushFailed`, the message goes to the queue.
    case callbackFailure(FaultSpan)
    /// Pushes time out *after* reaching the listener: the listener is called and receives
    /// the body, but its answer is treated as too late, so the attempt counts in
    /// `pushFailed` and the message is queued anyway. That is the dangerous half of a real
    /// timeout (the gateway has the message *and* ThingSpace queues it again); it is
    /// simulated at once, without waiting for ``SimulatorConfig/callbackTimeout``.
    case callbackTimeout(FaultSpan)
    /// Each of the next `count` successfully pushed messages is POSTed a second time, with
    /// the identical body (same `requestId`), counted in `duplicatesPushed`.
    case duplicatePushes(count: Int)
    /// The next `count` messages are delivered in reverse order. The reversal applies within
    /// one batch: one ``ThingSpaceSimulator/sendMO(_:)`` call or one `startCallbacks`
    /// flush (a batch of one cannot be reordered, but still uses up the budget).
    case outOfOrder(count: Int)
    /// The next `count` requests whose path starts with `pathPrefix` (e.g. `/api/m2m/v1/sms`)
    /// are answered with `status` before any other processing: 429 comes with
    /// `Retry-After: 1` and the WSO2 throttling fault (900800), 5xx with an error envelope
    /// `UnifiedWebService.REQUEST_FAILED.UnexpectedError`. Control paths are never affected.
    case httpError(status: Int, pathPrefix: String, count: Int)
    /// Every issued bearer token becomes invalid now (401 `900901`); the next token
    /// request issues a new one.
    case expireBearerTokens
    /// Every open session expires now (400 `SessionToken.Expired`).
    case expireSessions
}

/// How long a callback fault lasts.
public enum FaultSpan: Sendable, Equatable {
    /// The next `n` push attempts.
    case next(Int)
    /// Every push attempt during this much simulator time from now.
    case duration(Duration)
}

/// The faults active right now (`GET /simulator/faults`).
public struct FaultSnapshot: Sendable, Codable, Equatable {
    public struct Span: Sendable, Codable, Equatable {
        /// Push attempts left, for a count-based fault.
        public var remaining: Int?
        /// Simulator seconds left, for a window.
        public var secondsLeft: Double?
    }

    public struct HTTPErrorRule: Sendable, Codable, Equatable {
        public var status: Int
        public var pathPrefix: String
        public var remaining: Int
    }

    public var callbackFailure: Span?
    public var callbackTimeout: Span?
    public var duplicatePushes: Int
    public var outOfOrder: Int
    public var httpErrors: [HTTPErrorRule]

    public init(callbackFailure: Span? = nil, callbackTimeout: Span? = nil, duplicatePushes: Int = 0, outOfOrder: Int = 0, httpErrors: [HTTPErrorRule] = []) {
        self.callbackFailure = callbackFailure
        self.callbackTimeout = callbackTimeout
        self.duplicatePushes = duplicatePushes
        self.outOfOrder = outOfOrder
        self.httpErrors = httpErrors
    }
}

/// The fault bookkeeping inside ``SimulatorState``.
struct FaultState: Sendable {
    enum Budget: Sendable {
        case count(Int)
        case until(Date)
    }

    struct HTTPErrorRule: Sendable {
        var status: Int
        var pathPrefix: String
        var remaining: Int
    }

    var callbackFailure: Budget?
    var callbackTimeout: Budget?
    var duplicatePushes = 0
    var outOfOrder = 0
    var httpErrors: [HTTPErrorRule] = []

    /// Uses one unit of a callback budget; `nil`s the budget once it is spent or over.
    static func take(_ budget: inout Budget?, now: Date) -> Bool {
        switch budget {
        case nil:
            return false
        case .count(let n):
            guard n > 0 else { budget = nil; return false }
            budget = n == 1 ? nil : .count(n - 1)
            return true
        case .until(let end):
            guard now < end else { budget = nil; return false }
            return true
        }
    }

    /// The injected status for a request path, if a rule matches (and uses it up).
    mutating func takeHTTPError(path: String) -> Int? {
        guard let index = httpErrors.firstIndex(where: { path.hasPrefix($0.pathPrefix) }) else { return nil }
        let status = httpErrors[index].status
        httpErrors[index].remaining -= 1
        if httpErrors[index].remaining <= 0 { httpErrors.remove(at: index) }
        return status
    }

    /// How many of a batch of `n` messages to reverse.
    mutating func takeReorder(_ n: Int) -> Int {
        let taken = min(n, outOfOrder)
        outOfOrder -= taken
        return taken
    }

    mutating func takeDuplicate() -> Bool {
        guard duplicatePushes > 0 else { return false }
        duplicatePushes -= 1
        return true
    }

    func snapshot(now: Date) -> FaultSnapshot {
        func span(_ budget: Budget?) -> FaultSnapshot.Span? {
            switch budget {
            case nil: return nil
            case .count(let n): return .init(remaining: n)
            case .until(let end):
                let left = end.timeIntervalSince(now)
                return left > 0 ? .init(secondsLeft: left) : nil
            }
        }
        return FaultSnapshot(
            callbackFailure: span(callbackFailure), callbackTimeout: span(callbackTimeout),
            duplicatePushes: duplicatePushes, outOfOrder: outOfOrder,
            httpErrors: httpErrors.map { .init(status: $0.status, pathPrefix: $0.pathPrefix, remaining: $0.remaining) }
        )
    }
}
