//===----------------------------------------------------------------------===//
// ThingBridge — the durable journal (SQLite, WAL)
//===----------------------------------------------------------------------===//

import Foundation
import GRDB

/// An event and the deliveries the router chose for it, written together.
public struct JournalEntry: Sendable {
    public var event: BridgeEvent
    public var deliveries: [RoutedDelivery]
    /// The version of the route set that chose the deliveries (``RouteSet/version``).
    public var routesVersion: String?

    public init(event: BridgeEvent, deliveries: [RoutedDelivery], routesVersion: String? = nil) {
        self.event = event
        self.deliveries = deliveries
        self.routesVersion = routesVersion
    }
}

/// What ``SQLiteJournal/append(_:)`` did with one entry.
public enum AppendOutcome: Sendable, Equatable {
    /// Newly stored with its deliveries, durable on return.
    case stored(sequence: Int64)
    /// An event with the same id was already stored; nothing new was written.
    case duplicate(sequence: Int64)
}

/// A delivery due to be handed to its sink.
public struct PendingDelivery: Sendable {
    public var deliveryID: Int64
    public var sink: String
    public var route: String
    /// Attempts made so far (0 for the first).
    public var attempts: Int
    public var eventID: String
    /// The stored CloudEvent, structured-mode JSON.
    public var eventJSON: Data
    /// The subject (device), for per-device ordering.
    public var subject: String
    /// When it became due (unix seconds): with the id, its place in the outbox's order.
    public var nextAttemptAt: Double
    /// The route destination's options, as stored when the event was routed.
    public var options: DeliveryOptions = .default

    /// Whether it was read from the sink's stream and has no `deliveries` row (yet).
    public var isStreamed: Bool { StreamItemID.isStreamed(deliveryID) }
}

/// A place in a sink's outbox: in its rows, in the order due rows are read (next attempt, id), and
/// in its stream (the last event seq read). ``SQLiteJournal/readBatch(sink:limit:now:after:)``
/// reads what comes after it, so a dispatcher can read its next batch while the previous one is
/// still at the sink.
public struct OutboxCursor: Sendable, Equatable {
    public var nextAttemptAt: Double
    public var deliveryID: Int64
    /// The last stream event read; nil: from the sink's saved cursor.
    public var streamSequence: Int64?

    public init(nextAttemptAt: Double, deliveryID: Int64, streamSequence: Int64? = nil) {
        self.nextAttemptAt = nextAttemptAt
        self.deliveryID = deliveryID
        self.streamSequence = streamSequence
    }
}

/// A failed delivery attempt, for ``SQLiteJournal/markFailed(_:)``.
public struct DeliveryFailure: Sendable {
    public var deliveryID: Int64
    public var reason: String
    /// When to try again; `nil` dead-letters it.
    public var retryAt: Date?

    public init(deliveryID: Int64, reason: String, retryAt: Date?) {
        self.deliveryID = deliveryID
        self.reason = reason
        self.retryAt = retryAt
    }
}

/// Counters read from the journal, for `status` and readiness.
public struct JournalStats: Sendable, Equatable {
    public var events: Int
    /// Distinct events by the channel that first brought them (`callback`, `poll`).
    public var eventsByChannel: [String: Int]
    public var unmatchedEvents: Int
    public var duplicatesSeen: Int
    public var pendingBySink: [String: Int]
    public var deliveredBySink: [String: Int]
    public var deadBySink: [String: Int]
    public var quarantined: Int
}

/// The durable journal: SQLite in WAL mode, `synchronous = FULL`.
///
/// Every write is one transaction; when ``append(_:)`` returns, the events are on disk
/// (SQLite has fsynced the WAL), so the upstream may be acknowledged. The schema is in
/// ``JournalSchema``; the design note is `BridgeCore.docc/Journal.md`.
///
/// SQLite calls run on GRDB's own dispatch queues, never on Swift's cooperative pool.
public final class SQLiteJournal: Sendable {
    public let path: String
    /// How long an event id is remembered for dedup. Default 7 days.
    public let dedupWindow: Duration
    /// Sinks whose deliveries keep per-device order: only their pending rows are in the
    /// per-device index (`deliveries.ordered = 1`), so other sinks do not pay for it.
    public let orderedSinks: Set<String>
    let pool: DatabasePool
    let groupCommit: GroupCommit<EncodedEntry>
    /// Runs the WAL checkpoints on a thread of its own, off the commit path (`nil`: SQLite's
    /// automatic checkpoint, inside commits; only for comparison in benchmarks).
    let checkpointer: WALCheckpointer?
    /// Sink bits and interned destinations of the delivery streams (`SQLiteJournal+Streams.swift`).
    let streamCatalog: StreamCatalog

    /// Opens (creating if needed) the journal at `path` and brings its schema up to date.
    /// - Parameters:
    ///   - dedupWindow: How long an arrival with the same event id counts as a duplicate.
    ///   - orderedSinks: Sinks configured with per-device ordering (see ``readBatch(sink:limit:now:after:)``).
    ///   - backgroundCheckpoints: Checkpoint the WAL on a thread of its own (``WALCheckpointer``),
    ///     not inside commits. Always on in the gateway; off only to compare, in benchmarks.
    /// - Throws: ``JournalError`` when the file cannot be opened or migrated.
    public init(path: String, dedupWindow: Duration = .seconds(7 * 86400), orderedSinks: Set<String> = [], backgroundCheckpoints: Bool = true) throws(JournalError) {
        self.path = path
        self.dedupWindow = dedupWindow
        self.orderedSinks = orderedSinks
        var configuration = Configuration()
        configuration.label = "thingbridge.journal"
        configuration.busyMode = .timeout(5)
        // Readers: one per dispatcher read at a time plus admin/status; more only cost memory.
        configuration.maximumReaderCount = 3
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // The writer's page cache is 8 MiB, readers' (outbox reads, stats) 2 MiB each. Both are
            // ceilings, reached as the journal grows: with a 32 MiB cache on every connection,
            // memory grew with the backlog. Why not more for the writer: when an insert splits a
            // B-tree page (the dedup keys are random: several commits a second under load),
            // SQLite moves a page through page number 262,145 (the pending-byte page) while
            // reordering the new pages, and at commit it walks its whole page cache to drop pages
            // past the end of the file. That walk is on the commit path and grows with the cache:
            // measured with uprobes at 16 busy connections, 221 µs per walk with 32 MiB cached,
            // 37 µs with 8 MiB. The pages a commit needs (the indexes' upper levels, the tails of
            // the appended tables) fit in 8 MiB; a drain ran at the same rate with 8 and 32 MiB.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -2048" : "PRAGMA cache_size = -8192")
            // No automatic checkpoint inside commits: see `WALCheckpointer`, installed on the writer below.
        }
        do {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true
            )
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw .openFailed("\(path): \(error)")
        }
        let streamCatalog = StreamCatalog()
        self.streamCatalog = streamCatalog
        groupCommit = GroupCommit { [pool, dedupWindow, orderedSinks] rows throws(JournalError) in
            try Self.commit(rows, pool: pool, streams: streamCatalog, orderedSinks: orderedSinks, dedupWindow: dedupWindow)
        }
        do {
            // Freed pages (after retention) go back to the file system in steps. This can only be
            // chosen while the database has no tables, so only a new journal gets it.
            try pool.writeWithoutTransaction { db in
                if try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0 {
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                    try db.execute(sql: "VACUUM")
                }
            }
            try JournalSchema.migrator.migrate(pool)
        } catch {
            throw .migrationFailed("\(path): \(error)")
        }
        checkpointer = backgroundCheckpoints ? try WALCheckpointer(path: path) : nil
        // FULL: the WAL is fsynced at every commit. Never weaken this: acknowledgements depend on it.
        // It must be set here, on the pool's one writer connection, and not in `prepareDatabase`:
        // GRDB's DatabasePool runs `PRAGMA synchronous = NORMAL` when it enables WAL, after
        // `prepareDatabase`, which would leave commits unsynced (durable across a process crash,
        // not across a power cut). Checked, so that a future GRDB cannot quietly undo it.
        do {
            let mode = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
            guard mode == 2 else { throw JournalError.openFailed("\(path): PRAGMA synchronous is \(mode ?? -1), expected 2 (FULL)") }
            try pool.writeWithoutTransaction { [checkpointer] db in
                if let checkpointer {
                    guard let writer = db.sqliteConnection else { throw JournalError.openFailed("\(path): no writer connection") }
                    checkpointer.install(on: writer)
                } else {
                    // SQLite's automatic checkpoint every ~16 MiB of WAL, inside the commit that crosses it.
                    try db.execute(sql: "PRAGMA wal_autocheckpoint = 4000")
                }
            }
            // A sink that keeps per-device order reads rows only: what its stream still holds
            // (it kept no order when those events were stored) becomes rows first.
            let streamed = try pool.read { [streamCatalog] db in
                try streamCatalog.load(db)
                return try Self.streamPending(db)
            }
            for sink in orderedSinks where streamed[sink] != nil {
                try materializeStream(sink: sink)
            }
            // A sink's ordering may have changed since the rows were written: re-flag what is pending.
            let ordered = Array(orderedSinks)
            let list = ordered.map { _ in "?" }.joined(separator: ", ")  // SQLite takes `IN ()` as false
            try pool.write { db in
                try db.execute(
                    sql: "UPDATE deliveries SET ordered = (sink IN (\(list))) WHERE state = 'pending' AND ordered != (sink IN (\(list)))",
                    arguments: StatementArguments(ordered + ordered)
                )
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .openFailed("\(path): \(error)")
        }
    }

    /// A journal dropped without ``close()`` (tests, a start-up that failed) still stops its
    /// checkpoint thread and closes that thread's connection.
    deinit {
        checkpointer?.stop()
    }

    /// WAL checkpoints run since open: by the checkpoint thread; by the writer to copy the few
    /// frames left after one (so that the WAL starts over); and inline by the writer (the
    /// safety net, when the WAL reached its hard limit). All 0 without background checkpoints.
    public var checkpointCounts: (background: Int, finishing: Int, inline: Int) {
        checkpointer?.counts ?? (0, 0, 0)
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL: every commit fsyncs the WAL).
    public func synchronousMode() throws(JournalError) -> Int {
        do {
            return try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Closes the database. Further calls fail.
    public func close() throws(JournalError) {
        do {
            // The hook points at the checkpointer: removed before it stops. The pool's close
            // checkpoints what is left and removes the WAL.
            if let checkpointer {
                pool.writeWithoutTransaction { db in
                    if let writer = db.sqliteConnection { checkpointer.uninstall(from: writer) }
                }
                checkpointer.stop()
            }
            try pool.close()
        } catch {
            throw .writeFailed("close: \(error)")
        }
    }

    // MARK: - Ingest

    /// Stores events and their deliveries durably; duplicates are recognised.
    ///
    /// Concurrent callers share transactions (group commit, see ``GroupCommit``): one fsync for
    /// many callbacks, and no added wait for a caller that is alone.
    /// - Returns: One outcome per entry, in order, once they are on disk.
    /// - Throws: ``JournalError`` when the transaction did not commit; nothing of it is stored then.
    public func append(_ entries: [JournalEntry]) async throws(JournalError) -> [AppendOutcome] {
        guard !entries.isEmpty else { return [] }
        // Encoded here, on the caller's task: the committer's thread is the one serial part.
        var encoded: [EncodedEntry] = []
        encoded.reserveCapacity(entries.count)
        for entry in entries {
            do {
                encoded.append(EncodedEntry(entry: entry, body: try entry.event.jsonData()))
            } catch {
                throw .writeFailed("encode event \(entry.event.id): \(error)")
            }
        }
        return try await groupCommit.append(encoded)
    }

    /// Transactions committed by ``append(_:)`` since the journal was opened.
    public var transactionsCommitted: Int { groupCommit.transactions }

    /// An entry with its event's stored JSON.
    struct EncodedEntry: Sendable {
        var entry: JournalEntry
        var body: Data
    }

    /// Stores entries in one transaction (on the group commit's queue: it blocks).
    static func commit(
        _ rows: [EncodedEntry], pool: DatabasePool, streams catalog: StreamCatalog, orderedSinks: Set<String>, dedupWindow: Duration
    ) throws(JournalError) -> [AppendOutcome] {
        let now = Date().timeIntervalSince1970
        let windowStart = now - Double(dedupWindow.components.seconds)
        do {
            let (outcomes, created) = try pool.writeWithoutTransaction { db in
                try transaction(db, .full) { db in
                    // Prepared once per connection and reused, and driven through SQLite's C API
                    // (`RawStatement`): per event this is the whole cost of a commit besides SQLite's.
                    let findKey = RawStatement(try db.cachedStatement(sql: "SELECT id_hash, event_seq, first_seen FROM dedup WHERE key = ?"), in: db)
                    let countSeen = RawStatement(try db.cachedStatement(sql: "UPDATE events SET seen_count = seen_count + 1 WHERE seq = ?"), in: db)
                    let insertEvent = RawStatement(try db.cachedStatement(sql: """
                        INSERT INTO events (id, account, subject, channel, received_at, deliveries, body, routes_version, stream_mask, destinations)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """), in: db)
                    var streams = StreamAssigner(catalog)
                    // REPLACE: a slot whose key expired from the window is taken over by the new arrival.
                    let insertKey = RawStatement(try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO dedup (key, id_hash, event_seq, first_seen) VALUES (?, ?, ?, ?)
                        """), in: db)
                    let insertDelivery = RawStatement(try db.cachedStatement(sql: """
                        INSERT INTO deliveries (event_seq, sink, route, subject, next_attempt_at, ordered, options, state, dead_at, last_error)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """), in: db)
                    var outcomes: [AppendOutcome] = []
                    outcomes.reserveCapacity(rows.count)
                    for row in rows {
                        let entry = row.entry, body = row.body
                        let event = entry.event
                        // Where the event's dedup key goes, when it has one and a slot was found.
                        var keySlot: (key: DedupKey, slot: Int64)?
                        if let key = DedupKey(event: event) {
                            let probe = try key.probe { slot in
                                findKey.bind(1, slot)
                                defer { findKey.reset() }
                                guard try findKey.step() else { return nil }
                                return (idHash: findKey.int64(0), sequence: findKey.int64(1), firstSeen: findKey.double(2))
                            }
                            switch probe {
                            case .found(let slot, let existing, let firstSeen):
                                if firstSeen >= windowStart {
                                    try countSeen.execute { $0.bind(1, existing) }
                                    outcomes.append(.duplicate(sequence: existing))
                                    continue
                                }
                                // Seen before the window: a new arrival, stored again (its key starts afresh).
                                keySlot = (key, slot)
                            case .free(let slot):
                                keySlot = (key, slot)
                            case .exhausted:
                                keySlot = nil
                            }
                        }
                        // Deliveries to sinks without per-device order go to the sinks' streams (no
                        // row: a bit and a destination id on the event); the others get rows below.
                        var mask: Int64 = 0
                        var destinations = ""
                        var rowDeliveries: [RoutedDelivery] = []
                        for delivery in entry.deliveries {
                            if !delivery.isDeadLetter, !orderedSinks.contains(delivery.sink),
                               let bit = try streams.bit(for: delivery.sink, db),
                               let id = try streams.destinationID(StreamDestination(sink: delivery.sink, route: delivery.route, options: delivery.storedOptions ?? ""), db) {
                                mask |= Int64(1) << Int64(bit)
                                if !destinations.isEmpty { destinations += "," }
                                destinations += String(id)
                                streams.routed[delivery.sink, default: 0] += 1
                            } else {
                                rowDeliveries.append(delivery)
                            }
                        }
                        try insertEvent.execute {
                            $0.bind(1, event.id)
                            $0.bind(2, event.data.account)
                            $0.bind(3, event.subject)
                            $0.bind(4, event.data.channel.rawValue)
                            $0.bind(5, event.data.receivedAt)
                            $0.bind(6, Int64(entry.deliveries.count))
                            $0.bind(7, body)
                            if let version = entry.routesVersion { $0.bind(8, version) } else { $0.bindNull(8) }
                            $0.bind(9, mask)
                            if destinations.isEmpty { $0.bindNull(10) } else { $0.bind(10, destinations) }
                        }
                        let sequence = db.lastInsertedRowID
                        if let keySlot {
                            try insertKey.execute {
                                $0.bind(1, keySlot.slot)
                                $0.bind(2, keySlot.key.idHash)
                                $0.bind(3, sequence)
                                $0.bind(4, now)
                            }
                        }
                        for delivery in rowDeliveries {
                            try insertDelivery.execute {
                                $0.bind(1, sequence)
                                $0.bind(2, delivery.sink)
                                $0.bind(3, delivery.route)
                                $0.bind(4, event.subject)
                                $0.bind(5, now)
                                $0.bind(6, Int64(orderedSinks.contains(delivery.sink) ? 1 : 0))
                                if let options = delivery.storedOptions { $0.bind(7, options) } else { $0.bindNull(7) }
                                // The unmatched policy `deadLetter`: stored dead, handed to no sink.
                                if delivery.isDeadLetter {
                                    $0.bind(8, "dead")
                                    $0.bind(9, now)
                                    $0.bind(10, "no route matched (routing.unmatched: deadLetter)")
                                } else {
                                    $0.bind(8, "pending")
                                    $0.bindNull(9)
                                    $0.bindNull(10)
                                }
                            }
                        }
                        outcomes.append(.stored(sequence: sequence))
                    }
                    try streams.recordRouted(db)
                    return (outcomes, streams.created)
                }
            }
            catalog.add(created)
            return outcomes
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// How a write transaction is made durable.
    enum Durability {
        /// The WAL is fsynced at commit (`synchronous = FULL`): for what is acknowledged upstream.
        case full
        /// Written to the WAL but not fsynced at commit (`synchronous = NORMAL`); the next `full`
        /// commit's fsync covers it. For bookkeeping whose loss in a power cut only repeats work
        /// (a delivered mark: the item is delivered again). Never for ingest.
        case deferred
    }

    /// One write transaction with the given durability. The writer connection is set back to
    /// FULL afterwards, and every `full` write sets FULL again before it starts.
    func write<T: Sendable>(_ durability: Durability, _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db in try Self.transaction(db, durability, updates) }
    }

    /// One write transaction on the writer connection `db`, with the given durability.
    static func transaction<T>(_ db: Database, _ durability: Durability, _ updates: (Database) throws -> T) throws -> T {
        // Prepared once per connection (a commit is often a single callback: compiling the
        // pragma each time was a measurable share of it).
        let full = try db.cachedStatement(sql: "PRAGMA synchronous = FULL")
        switch durability {
        case .full:
            try full.execute()
        case .deferred:
            try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
        }
        defer { if durability == .deferred { try? full.execute() } }
        var result: T?
        try db.inTransaction(.immediate) {
            result = try updates(db)
            return .commit
        }
        guard let result else { throw JournalError.writeFailed("transaction returned nothing") }
        return result
    }

    /// Keeps a body that could not be parsed, with the reason, until an operator purges it.
    /// - Returns: The quarantine entry's id.
    public func quarantine(account: String, reason: String, body: Data, receivedAt: Date) async throws(JournalError) -> Int64 {
        let received = Timestamps.format(receivedAt)
        do {
            // Acknowledged upstream (202) once this returns: FULL, like an ingest commit.
            return try await write(.full) { db in
                try db.execute(
                    sql: "INSERT INTO quarantine (account, received_at, reason, body) VALUES (?, ?, ?, ?)",
                    arguments: [account, received, reason, body]
                )
                return db.lastInsertedRowID
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    // MARK: - Outbox

    /// The deliveries of a sink that are due now (``readBatch(sink:limit:now:after:)``'s items).
    public func dueDeliveries(
        sink: String, limit: Int, now: Date = Date(), after cursor: OutboxCursor? = nil
    ) async throws(JournalError) -> [PendingDelivery] {
        try await readBatch(sink: sink, limit: limit, now: now, after: cursor).items
    }

    /// The next due deliveries of a sink: first its due rows (retries, replays, the deliveries of
    /// ordered sinks), earliest due first, then the events of its stream in the order they were
    /// stored (see `SQLiteJournal+Streams.swift`). Settle the batch with ``settle(_:delivered:failures:)``.
    ///
    /// The rows are read in the due index's own order (`sink, next_attempt_at, id`), so the query
    /// stops after `limit` rows: ordering by `id` alone made SQLite sort every due row (and read
    /// its event) for each batch, which at a backlog of a million after an outage took seconds.
    /// - Parameters:
    ///   - limit: At most this many rows, and at most this many stream events (an event routed to
    ///     the sink by two routes gives two items).
    ///   - after: Where the previous batch ended (read it before that one was settled); nil: from
    ///     the start of the rows and the sink's saved stream cursor.
    ///
    /// A sink among the journal's `orderedSinks` (per-device order) gets only each device's oldest
    /// pending delivery, so a device's next event is not handed to the sink before the previous one
    /// is delivered or dead-lettered (a retrying delivery holds back the device's later ones, not
    /// other devices), found with the per-device index. Such a sink has rows only, no stream.
    public func readBatch(
        sink: String, limit: Int, now: Date = Date(), after cursor: OutboxCursor? = nil
    ) async throws(JournalError) -> OutboxBatch {
        let cutoff = now.timeIntervalSince1970
        let ordered = orderedSinks.contains(sink)
        let sql = Self.dueSQL(perDeviceOrder: ordered)
        let after = cursor ?? OutboxCursor(nextAttemptAt: -Double.greatestFiniteMagnitude, deliveryID: 0)
        do {
            let batch = try await pool.read { db in
                let statement = try db.cachedStatement(sql: sql)
                statement.arguments = [sink, cutoff, after.nextAttemptAt, after.deliveryID, limit]
                var due: [PendingDelivery] = []
                due.reserveCapacity(limit)
                // Columns by position (see `dueSQL`): cheaper than by name, per row of a big batch.
                // Options repeat (one text per route destination): each text is decoded once per batch.
                var decodedOptions: [String: DeliveryOptions] = [:]
                let rows = try Row.fetchCursor(statement)
                while let row = try rows.next() {
                    var options = DeliveryOptions.default
                    if let text: String = row[7] {
                        if let known = decodedOptions[text] {
                            options = known
                        } else {
                            options = DeliveryOptions(storedJSON: text)
                            decodedOptions[text] = options
                        }
                    }
                    due.append(PendingDelivery(
                        deliveryID: row[0], sink: sink, route: row[1], attempts: row[2],
                        eventID: row[4], eventJSON: row[5], subject: row[3], nextAttemptAt: row[6], options: options
                    ))
                }
                var next = after
                if let last = due.last {
                    next.nextAttemptAt = last.nextAttemptAt
                    next.deliveryID = last.deliveryID
                }
                var range: StreamRange?
                // An ordered sink's stream was turned into rows at open, and nothing is streamed to it.
                if due.count < limit, !ordered,
                   let stream = try Row.fetchOne(
                       db.cachedStatement(sql: "SELECT bit, cursor, claimed_through FROM delivery_streams WHERE sink = ?"), arguments: [sink]
                   ) {
                    let saved: Int64 = stream[1]
                    let start = max(self.streamCatalog.settledThrough(sink, cursor: saved), after.streamSequence ?? saved)
                    let (items, through) = try self.readStream(
                        db, sink: sink, bit: stream[0], start: start, claimedThrough: stream[2], limit: limit - due.count
                    )
                    due.append(contentsOf: items)
                    next.streamSequence = through
                    if items.isEmpty {
                        // Nothing for this sink after `start` up to `through`: once the cursor is at
                        // `start`, later reads begin at `through`.
                        self.streamCatalog.noteEmpty(sink, from: start, through: through)
                    } else {
                        range = StreamRange(after: start, through: through)
                    }
                }
                return OutboxBatch(sink: sink, items: due, cursor: next, stream: range)
            }
            return batch
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// The outbox query: arguments sink, now (unix seconds), the cursor's next_attempt_at and id
    /// (rows after it in the query's order), limit. Columns: id, route, attempts, subject,
    /// event id, body, next_attempt_at, options.
    static func dueSQL(perDeviceOrder: Bool) -> String {
        let orderCondition = perDeviceOrder
            ? "AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.sink = d.sink AND p.subject = d.subject AND p.state = 'pending' AND p.ordered = 1 AND p.id < d.id)"
            : ""
        return """
            SELECT d.id, d.route, d.attempts, d.subject, e.id AS event_id, e.body, d.next_attempt_at, d.options
            FROM deliveries d JOIN events e ON e.seq = d.event_seq
            WHERE d.sink = ? AND d.state = 'pending' AND d.next_attempt_at <= ? AND (d.next_attempt_at, d.id) > (?, ?) \(orderCondition)
            ORDER BY d.next_attempt_at, d.id LIMIT ?
            """
    }

    /// Marks deliveries done. Called only after the sink confirmed them.
    ///
    /// A stream item (``PendingDelivery/isStreamed``) marked this way gets a row of its own;
    /// dispatchers settle whole batches with ``settle(_:delivered:failures:)`` instead, which
    /// moves the stream's cursor and writes no rows for what was delivered.
    public func markDelivered(_ ids: [Int64], at date: Date = Date()) async throws(JournalError) {
        guard !ids.isEmpty else { return }
        do {
            // Not fsynced: losing this mark in a power cut delivers the items again (at least once).
            try await write(.deferred) { db in try self.markDelivered(db, ids, at: date) }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// Records failed attempts in one transaction: each is retried at its `retryAt`, or
    /// dead-lettered when it has none; every attempt goes to the delivery's history.
    /// Not fsynced on its own (see ``Durability/deferred``): lost in a power cut, the attempt is
    /// simply made again. A stream item gets a row of its own, which keeps its schedule.
    public func markFailed(_ failures: [DeliveryFailure]) async throws(JournalError) {
        guard !failures.isEmpty else { return }
        do {
            try await write(.deferred) { db in try self.markFailed(db, failures) }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// Records what the sink made of a batch from ``readBatch(sink:limit:now:after:)``,
    /// in one transaction: rows delivered or failed as with ``markDelivered(_:at:)`` and
    /// ``markFailed(_:)``; failed stream items become rows; the stream's cursor moves to the end
    /// of the batch's stream range, and its delivered items are only counted.
    ///
    /// The cursor moves only over settled items: a batch read after one that was not settled
    /// (its settlement failed) is refused, and both are read and delivered again.
    /// - Throws: ``JournalError`` when nothing was recorded (the items will be delivered again).
    public func settle(_ batch: OutboxBatch, delivered: [Int64], failures: [DeliveryFailure], at date: Date = Date()) async throws(JournalError) {
        var rows: [Int64] = []
        var streamedDelivered = 0
        for id in delivered {
            if StreamItemID.isStreamed(id) { streamedDelivered += 1 } else { rows.append(id) }
        }
        let (sink, range, catalog) = (batch.sink, batch.stream, streamCatalog)
        let (rowIDs, streamCount) = (rows, streamedDelivered)
        guard !rowIDs.isEmpty || !failures.isEmpty || range != nil else { return }
        do {
            try await write(.deferred) { db in
                try self.markDelivered(db, rowIDs, at: date)
                try self.markFailed(db, failures)
                guard let range else { return }
                let cursor = try Int64.fetchOne(db.cachedStatement(sql: "SELECT cursor FROM delivery_streams WHERE sink = ?"), arguments: [sink]) ?? 0
                guard range.after <= catalog.settledThrough(sink, cursor: cursor) else {
                    throw JournalError.writeFailed("stream of \(sink): a batch after \(range.after) cannot be settled while only \(cursor) is")
                }
                try db.cachedStatement(sql: """
                    UPDATE delivery_streams SET cursor = max(cursor, ?), settled = settled + ?, delivered = delivered + ? WHERE sink = ?
                    """).execute(arguments: [range.through, streamCount, streamCount, sink])
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    private func markDelivered(_ db: Database, _ ids: [Int64], at date: Date) throws {
        guard !ids.isEmpty else { return }
        // Thousands per batch for a Kafka sink: bound through the C API (see `RawStatement`).
        let update = RawStatement(try db.cachedStatement(
            sql: "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?"
        ), in: db)
        let when = Timestamps.format(date)
        for id in ids {
            guard let row = StreamItemID.isStreamed(id) ? try claim(db, streamID: id) : id else { continue }
            try update.execute {
                $0.bind(1, when)
                $0.bind(2, row)
            }
        }
    }

    private func markFailed(_ db: Database, _ failures: [DeliveryFailure]) throws {
        guard !failures.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        let retry = try db.cachedStatement(sql: "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?")
        let dead = try db.cachedStatement(sql: "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?, dead_at = ? WHERE id = ?")
        for failure in failures {
            guard let row = StreamItemID.isStreamed(failure.deliveryID) ? try claim(db, streamID: failure.deliveryID) : failure.deliveryID else { continue }
            if let retryAt = failure.retryAt {
                try retry.execute(arguments: [failure.reason, retryAt.timeIntervalSince1970, row])
            } else {
                try dead.execute(arguments: [failure.reason, now, row])
            }
            try Self.recordAttempt(db, delivery: row, outcome: failure.retryAt == nil ? "dead" : "retry", error: failure.reason)
        }
    }

    /// Records a failed attempt and when to try again.
    public func markRetry(_ id: Int64, error reason: String, retryAt: Date) async throws(JournalError) {
        try await markFailed([DeliveryFailure(deliveryID: id, reason: reason, retryAt: retryAt)])
    }

    /// Moves a delivery to the dead letters with the reason.
    public func markDead(_ id: Int64, error reason: String) async throws(JournalError) {
        try await markFailed([DeliveryFailure(deliveryID: id, reason: reason, retryAt: nil)])
    }

    /// Keeps the history of a delivery's failed attempts (for `dlq show`).
    static func recordAttempt(_ db: Database, delivery: Int64, outcome: String, error: String) throws {
        // Cached: a failed batch records one attempt per delivery in one transaction.
        try db.cachedStatement(sql: "INSERT INTO delivery_attempts (delivery_id, at, outcome, error) VALUES (?, ?, ?, ?)")
            .execute(arguments: [delivery, Date().timeIntervalSince1970, outcome, String(error.prefix(2000))])
    }

    // MARK: - Maintenance

    /// Deletes events received before `cutoff` whose every delivery is done (delivered, or behind
    /// the cursor of the sink's stream), with
    /// their deliveries and attempt history, in chunks. Events with a pending delivery or a dead
    /// letter stay. Events no route matched count as done.
    /// - Returns: How many events were removed.
    @discardableResult
    public func pruneDeliveredEvents(receivedBefore cutoff: Date, chunk: Int = 5000) async throws(JournalError) -> Int {
        let before = Timestamps.format(cutoff)
        var total = 0
        do {
            while true {
                let removed = try await pool.write { db -> Int in
                    let seqs = try Int64.fetchAll(
                        db,
                        sql: """
                        SELECT seq FROM events e WHERE e.received_at < ?
                        AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_seq = e.seq AND x.state != 'delivered')
                        AND NOT EXISTS (
                            SELECT 1 FROM delivery_streams s WHERE (e.stream_mask >> s.bit) & 1 = 1 AND e.seq > s.cursor
                            AND NOT (e.seq <= s.claimed_through AND EXISTS (SELECT 1 FROM deliveries c WHERE c.event_seq = e.seq AND c.sink = s.sink))
                        )
                        ORDER BY seq LIMIT ?
                        """,
                        arguments: [before, chunk]
                    )
                    guard !seqs.isEmpty else { return 0 }
                    let list = seqs.map(String.init).joined(separator: ",")
                    try db.execute(sql: "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq IN (\(list)))")
                    try db.execute(sql: "DELETE FROM deliveries WHERE event_seq IN (\(list))")
                    try db.execute(sql: "DELETE FROM events WHERE seq IN (\(list))")
                    return seqs.count
                }
                total += removed
                if removed < chunk { break }
            }
            if total > 0 {
                try await pool.write { db in try db.execute(sql: "PRAGMA incremental_vacuum(2000)") }
            }
            return total
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// Forgets dedup keys older than the dedup window.
    /// - Returns: How many keys were removed.
    @discardableResult
    public func pruneDedupKeys(now: Date = Date()) async throws(JournalError) -> Int {
        let cutoff = now.timeIntervalSince1970 - Double(dedupWindow.components.seconds)
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM dedup WHERE first_seen < ?", arguments: [cutoff])
                return db.changesCount
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    // MARK: - Inspection

    /// Counts for `status`, tests and readiness.
    public func stats() async throws(JournalError) -> JournalStats {
        do {
            return try await pool.read { db in
                // One pass over the events (this was four: on a journal of millions, each a full scan).
                var events = 0, unmatched = 0, duplicates = 0
                var byChannel: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT channel, count(*), sum(deliveries = 0), sum(seen_count - 1) FROM events GROUP BY channel
                    """) {
                    let count: Int = row[1]
                    byChannel[row[0]] = count
                    events += count
                    unmatched += row[2] as Int
                    duplicates += row[3] as Int
                }
                let quarantined = try Int.fetchOne(db, sql: "SELECT count(*) FROM quarantine") ?? 0
                var pending: [String: Int] = [:], delivered: [String: Int] = [:], dead: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT sink, state, count(*) AS n FROM deliveries GROUP BY sink, state") {
                    let sink: String = row["sink"], state: String = row["state"], count: Int = row["n"]
                    switch state {
                    case "pending": pending[sink] = count
                    case "delivered": delivered[sink] = count
                    default: dead[sink] = count
                    }
                }
                // Stream items: pending until settled; delivered straight from the stream.
                for row in try Row.fetchAll(db, sql: "SELECT sink, routed - settled, delivered FROM delivery_streams") {
                    let sink: String = row[0], waiting: Int = row[1], done: Int = row[2]
                    if waiting != 0 { pending[sink, default: 0] += waiting }
                    if done != 0 { delivered[sink, default: 0] += done }
                }
                return JournalStats(
                    events: events, eventsByChannel: byChannel, unmatchedEvents: unmatched, duplicatesSeen: duplicates,
                    pendingBySink: pending, deliveredBySink: delivered, deadBySink: dead, quarantined: quarantined
                )
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Pending deliveries per sink (the backlog): the streams' counters, and the pending rows
    /// (retries, ordered sinks) counted through the outbox's partial index.
    public func pendingBySink() async throws(JournalError) -> [String: Int] {
        do {
            return try await pool.read { db in
                var result = try Self.streamPending(db)
                for row in try Row.fetchAll(db, sql: "SELECT sink, count(*) AS n FROM deliveries WHERE state = 'pending' GROUP BY sink") {
                    result[row["sink"], default: 0] += row["n"] as Int
                }
                return result
            }
        } catch {
            throw .readFailed("\(error)")
        }
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    public func isHealthy() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
