//===----------------------------------------------------------------------===//
// ThingBridge — stored circuit-breaker state of webhook endpoints
//===----------------------------------------------------------------------===//

import Foundation
import GRDB

/// The stored state of one webhook endpoint's circuit breaker (table `webhook_endpoints`).
///
/// Written by the endpoint's sink on every transition, and by `thingbridge endpoints
/// enable|disable`; read by the sink at start-up and, while it runs, to notice an operator's change.
public struct EndpointState: Sendable, Equatable {
    public enum Condition: String, Sendable, Equatable {
        /// Deliveries flow.
        case closed
        /// Failing: no deliveries until `openUntil`, then one probe.
        case open
        /// Stopped until an operator enables it (410 Gone, or failing for longer than allowed).
        case disabled
    }

    /// The endpoint's sink name, `<group>/<endpoint>`.
    public var sink: String
    public var condition: Condition
    /// Failed requests in a row (reset by a success).
    public var consecutiveFailures: Int
    /// When the current run of failures began; `nil` when the last request succeeded.
    public var failingSince: Date?
    /// While open: when the next probe may go.
    public var openUntil: Date?
    /// Why it opened or was disabled (status and a short reason; never secrets or payloads).
    public var reason: String?
    public var changedAt: Date

    public init(
        sink: String, condition: Condition = .closed, consecutiveFailures: Int = 0, failingSince: Date? = nil,
        openUntil: Date? = nil, reason: String? = nil, changedAt: Date = Date()
    ) {
        self.sink = sink
        self.condition = condition
        self.consecutiveFailures = consecutiveFailures
        self.failingSince = failingSince
        self.openUntil = openUntil
        self.reason = reason
        self.changedAt = changedAt
    }
}

extension SQLiteJournal {
    /// The stored state of one endpoint; `nil` when none was ever stored (closed, no failures).
    public func endpointState(sink: String) throws(JournalError) -> EndpointState? {
        do {
            return try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM webhook_endpoints WHERE sink = ?", arguments: [sink]).map(Self.endpointState(from:))
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// ``endpointState(sink:)`` off the caller's thread.
    public func loadEndpointState(sink: String) async throws(JournalError) -> EndpointState? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM webhook_endpoints WHERE sink = ?", arguments: [sink]).map(Self.endpointState(from:))
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Every stored endpoint state, by sink name.
    public func endpointStates() async throws(JournalError) -> [EndpointState] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM webhook_endpoints ORDER BY sink").map(Self.endpointState(from:))
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Stores an endpoint's state (fsynced: an operator's disable, or an open breaker, must
    /// not come back closed after a power cut).
    /// - Parameter overridingDisabled: Whether a stored `disabled` may be replaced by another
    ///   condition. True for an operator's `enable`; false for the running sink, so that the
    ///   failure count it writes after a batch cannot undo an operator's `disable` made meanwhile.
    /// - Returns: Whether the row was written.
    @discardableResult
    public func saveEndpointState(_ state: EndpointState, overridingDisabled: Bool = true) async throws(JournalError) -> Bool {
        do {
            return try await write(.full) { db in
                try db.execute(
                    sql: """
                    INSERT INTO webhook_endpoints (sink, state, consecutive_failures, failing_since, open_until, reason, changed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (sink) DO UPDATE SET
                        state = excluded.state, consecutive_failures = excluded.consecutive_failures,
                        failing_since = excluded.failing_since, open_until = excluded.open_until,
                        reason = excluded.reason, changed_at = excluded.changed_at
                    WHERE ? OR webhook_endpoints.state != 'disabled' OR excluded.state = 'disabled'
                    """,
                    arguments: [
                        state.sink, state.condition.rawValue, state.consecutiveFailures, state.failingSince?.timeIntervalSince1970,
                        state.openUntil?.timeIntervalSince1970, state.reason, state.changedAt.timeIntervalSince1970, overridingDisabled,
                    ]
                )
                return db.changesCount > 0
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    private static func endpointState(from row: Row) -> EndpointState {
        EndpointState(
            sink: row["sink"], condition: EndpointState.Condition(rawValue: row["state"]) ?? .closed,
            consecutiveFailures: row["consecutive_failures"],
            failingSince: (row["failing_since"] as Double?).map(Date.init(timeIntervalSince1970:)),
            openUntil: (row["open_until"] as Double?).map(Date.init(timeIntervalSince1970:)),
            reason: row["reason"], changedAt: Date(timeIntervalSince1970: row["changed_at"])
        )
    }
}
