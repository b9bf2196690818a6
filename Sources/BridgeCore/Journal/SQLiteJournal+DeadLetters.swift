//===----------------------------------------------------------------------===//
// ThingBridge — dead letters: list, show, replay, purge
//===----------------------------------------------------------------------===//

import Foundation
import GRDB

/// A delivery that will not be retried: its sink rejected it, or its retries ran out.
public struct DeadLetter: Sendable, Equatable {
    /// The delivery's id: what `dlq show|replay|purge --id` take.
    public var id: Int64
    public var eventID: String
    public var sink: String
    public var route: String
    /// The device (the event's subject).
    public var subject: String
    public var account: String
    public var attempts: Int
    public var reason: String
    public var deadAt: Date?
    public var receivedAt: String
}

/// One failed attempt of a delivery.
public struct DeliveryAttempt: Sendable, Equatable {
    public var at: Date
    /// `retry` (will be tried again) or `dead`.
    public var outcome: String
    public var error: String
}

/// Which dead letters a `dlq` command works on. Every condition given must hold.
public struct DeadLetterFilter: Sendable, Equatable {
    public var ids: [Int64]?
    public var sink: String?
    public var route: String?
    /// A glob on the device (the event's subject), e.g. `70228*`.
    public var device: String?
    /// Dead-lettered at or after.
    public var since: Date?
    /// Dead-lettered before.
    public var until: Date?

    public init(ids: [Int64]? = nil, sink: String? = nil, route: String? = nil, device: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.ids = ids
        self.sink = sink
        self.route = route
        self.device = device
        self.since = since
        self.until = until
    }

    /// The SQL condition on `deliveries d` (state dead) and its arguments.
    var sql: (String, StatementArguments) {
        var conditions = ["d.state = 'dead'"]
        var arguments = StatementArguments()
        if let ids {
            conditions.append("d.id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(ids)
        }
        if let sink {
            conditions.append("d.sink = ?")
            arguments += [sink]
        }
        if let route {
            conditions.append("d.route = ?")
            arguments += [route]
        }
        if let device {
            conditions.append("d.subject GLOB ?")
            arguments += [device]
        }
        if let since {
            conditions.append("d.dead_at >= ?")
            arguments += [since.timeIntervalSince1970]
        }
        if let until {
            conditions.append("d.dead_at < ?")
            arguments += [until.timeIntervalSince1970]
        }
        return (conditions.joined(separator: " AND "), arguments)
    }
}

extension SQLiteJournal {
    /// Dead letters matching `filter`, oldest first.
    public func deadLetters(_ filter: DeadLetterFilter = DeadLetterFilter(), limit: Int = 1000) async throws(JournalError) -> [DeadLetter] {
        let (condition, arguments) = filter.sql
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                    SELECT d.id, e.id AS event_id, d.sink, d.route, d.subject, e.account, d.attempts, d.last_error, d.dead_at, e.received_at
                    FROM deliveries d JOIN events e ON e.seq = d.event_seq
                    WHERE \(condition) ORDER BY d.dead_at, d.id LIMIT \(max(1, limit))
                    """,
                    arguments: arguments
                ).map(Self.deadLetter(from:))
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// One dead letter with its event and the history of its attempts.
    public func deadLetter(id: Int64) async throws(JournalError) -> (letter: DeadLetter, eventJSON: Data, attempts: [DeliveryAttempt])? {
        do {
            return try await pool.read { db in
                guard let row = try Row.fetchOne(
                    db,
                    sql: """
                    SELECT d.id, e.id AS event_id, d.sink, d.route, d.subject, e.account, d.attempts, d.last_error, d.dead_at,
                           e.received_at, e.body
                    FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = ? AND d.state = 'dead'
                    """,
                    arguments: [id]
                ) else { return nil }
                let attempts = try Row.fetchAll(
                    db, sql: "SELECT at, outcome, error FROM delivery_attempts WHERE delivery_id = ? ORDER BY at", arguments: [id]
                ).map { DeliveryAttempt(at: Date(timeIntervalSince1970: $0["at"]), outcome: $0["outcome"], error: $0["error"]) }
                return (Self.deadLetter(from: row), row["body"], attempts)
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Puts matching dead letters back in the outbox, due now, with a fresh retry budget.
    ///
    /// Events that no route matched (sink `_deadletter`, from `routing.unmatched: deadLetter`)
    /// are not replayed: no sink would take them, and they would stay pending for ever.
    /// - Returns: How many were replayed.
    @discardableResult
    public func replayDeadLetters(_ filter: DeadLetterFilter) async throws(JournalError) -> Int {
        let (condition, arguments) = filter.sql
        let now = Date().timeIntervalSince1970
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: """
                    UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, dead_at = NULL
                    WHERE id IN (SELECT d.id FROM deliveries d WHERE \(condition) AND d.sink != '\(RouteSet.deadLetterSinkName)')
                    """,
                    arguments: [now] + arguments
                )
                return db.changesCount
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// Deletes matching dead letters (and their attempt history). The events stay.
    /// - Returns: How many were purged.
    @discardableResult
    public func purgeDeadLetters(_ filter: DeadLetterFilter) async throws(JournalError) -> Int {
        let (condition, arguments) = filter.sql
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT d.id FROM deliveries d WHERE \(condition))",
                    arguments: arguments
                )
                try db.execute(sql: "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE \(condition))", arguments: arguments)
                return db.changesCount
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    private static func deadLetter(from row: Row) -> DeadLetter {
        DeadLetter(
            id: row["id"], eventID: row["event_id"], sink: row["sink"], route: row["route"], subject: row["subject"],
            account: row["account"], attempts: row["attempts"], reason: row["last_error"] ?? "",
            deadAt: (row["dead_at"] as Double?).map(Date.init(timeIntervalSince1970:)), receivedAt: row["received_at"]
        )
    }
}
