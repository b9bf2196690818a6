//===----------------------------------------------------------------------===//
// ThingBridge — delivery streams: the outbox without a row per delivery
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import Synchronization

// A sink that needs no per-device order reads its deliveries straight from the events table: each
// event lists its route destinations (`events.destinations`) and carries one bit per such sink
// (`events.stream_mask`); the sink keeps a cursor (`delivery_streams.cursor`): every item of its
// stream at or below it is settled. Storing an event therefore writes no outbox rows, and a batch
// delivered writes one cursor update instead of a row update per item. What fails (a retry, a dead
// letter) or is marked one by one through the id-based API is *claimed*: it becomes a `deliveries`
// row, and from then on it is handled exactly like the rows of ordered sinks. See `Journal.md`.

/// A route destination as interned in the `destinations` table (options `""`: the sink's own).
struct StreamDestination: Sendable, Hashable {
    var sink: String
    var route: String
    var options: String
}

/// The id of a delivery read from a stream that has no row yet: bit 62 set, the event's seq and
/// the destination's id below it, so that it fits ``PendingDelivery/deliveryID`` beside the ids
/// of `deliveries` rows (which stay far below 2^62) and grows with the seq, as row ids do.
enum StreamItemID {
    static let destinationBits: Int64 = 20
    static let flag: Int64 = 1 << 62
    /// Destinations with a larger id are not streamed (their deliveries get rows).
    static let maxDestination: Int64 = (1 << destinationBits) - 1

    static func make(sequence: Int64, destination: Int64) -> Int64 {
        flag | (sequence << destinationBits) | destination
    }

    static func split(_ id: Int64) -> (sequence: Int64, destination: Int64)? {
        guard isStreamed(id) else { return nil }
        let value = id & ~flag
        return (value >> destinationBits, value & maxDestination)
    }

    static func isStreamed(_ id: Int64) -> Bool { id & flag != 0 }
}

/// The part of a batch that came from a sink's stream: the events after `after` up to and
/// including `through` were read; once the batch is settled, the cursor moves to `through`.
public struct StreamRange: Sendable, Equatable {
    public var after: Int64
    public var through: Int64
}

/// Due deliveries of one sink, read together, and where the next read starts.
public struct OutboxBatch: Sendable {
    public var sink: String
    public var items: [PendingDelivery]
    /// Where the following batch is read from (``SQLiteJournal/readBatch(sink:limit:now:after:)``).
    public var cursor: OutboxCursor
    /// The stream events this batch covers, if any.
    public var stream: StreamRange?
}

/// What the journal knows by heart about the streams: sink bits, interned destinations, and how
/// far each sink's stream is known to hold nothing more for it.
final class StreamCatalog: Sendable {
    struct Entry: Sendable {
        var destination: StreamDestination
        var options: DeliveryOptions
    }

    struct State: Sendable {
        /// Sink → its bit in `events.stream_mask`; -1: the sink has none (all 63 taken).
        var bits: [String: Int] = [:]
        var destinationIDs: [StreamDestination: Int64] = [:]
        var destinations: [Int64: Entry] = [:]
        /// Sink → a stretch of its stream, after `from` up to `through`, read and found to hold
        /// nothing for it. It lets reads skip ahead only once the sink's cursor has reached `from`
        /// (a read ahead of a batch not yet settled proves nothing about that batch). Never
        /// written to disk as such: the cursor is moved over it when convenient.
        var empty: [String: (from: Int64, through: Int64)] = [:]

        /// Knows `destination` by `id` from now on (both ways).
        mutating func intern(_ id: Int64, _ destination: StreamDestination) {
            destinationIDs[destination] = id
            destinations[id] = Entry(destination: destination, options: StreamCatalog.options(destination.options))
        }
    }

    let state = Mutex(State())

    func load(_ db: Database) throws {
        var loaded = State()
        for row in try Row.fetchAll(db, sql: "SELECT sink, bit FROM delivery_streams") {
            loaded.bits[row[0]] = row[1]
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, sink, route, options FROM destinations") {
            loaded.intern(row[0], StreamDestination(sink: row[1], route: row[2], options: row[3]))
        }
        state.withLock { $0 = loaded }
    }

    static func options(_ stored: String) -> DeliveryOptions {
        stored.isEmpty ? .default : DeliveryOptions(storedJSON: stored)
    }

    /// The destination with this id, from memory or (when interned by a newer commit) the database.
    func destination(_ id: Int64, _ db: Database) throws -> Entry? {
        if let known = state.withLock({ $0.destinations[id] }) { return known }
        guard let row = try Row.fetchOne(db, sql: "SELECT sink, route, options FROM destinations WHERE id = ?", arguments: [id]) else {
            return nil
        }
        let destination = StreamDestination(sink: row[0], route: row[1], options: row[2])
        return state.withLock {
            $0.intern(id, destination)
            return $0.destinations[id]
        }
    }

    /// How far the sink's stream is settled, given its saved cursor: the cursor, or the end of a
    /// stretch known to be empty that starts at or before it.
    func settledThrough(_ sink: String, cursor: Int64) -> Int64 {
        state.withLock { state in
            guard let empty = state.empty[sink], empty.from <= cursor else { return cursor }
            return max(cursor, empty.through)
        }
    }

    /// Nothing for `sink` after `from` up to `through`.
    func noteEmpty(_ sink: String, from: Int64, through: Int64) {
        guard through > from else { return }
        state.withLock { state in
            // Overlapping stretches join; otherwise the newest one is kept (a round's first read
            // starts at the cursor, so that is the one a later read can use).
            if let known = state.empty[sink], from <= known.through, known.from <= through {
                state.empty[sink] = (min(known.from, from), max(known.through, through))
            } else {
                state.empty[sink] = (from, through)
            }
        }
    }
}

/// Assigns stream bits and destination ids inside one ingest transaction. What it creates is
/// added to the catalog only after the transaction committed (``commit(to:)``).
struct StreamAssigner {
    private var bits: [String: Int]
    private var destinationIDs: [StreamDestination: Int64]
    private var newBits: [String: Int] = [:]
    private var newDestinations: [(Int64, StreamDestination)] = []
    /// Stream items per sink written by this transaction.
    var routed: [String: Int64] = [:]

    init(_ catalog: StreamCatalog) {
        (bits, destinationIDs) = catalog.state.withLock { ($0.bits, $0.destinationIDs) }
    }

    /// The sink's bit, creating its stream (cursor: the newest event so far) on first use;
    /// nil when all 63 bits are taken.
    mutating func bit(for sink: String, _ db: Database) throws -> Int? {
        if let bit = bits[sink] { return bit >= 0 ? bit : nil }
        var bit = try Int.fetchOne(db, sql: "SELECT bit FROM delivery_streams WHERE sink = ?", arguments: [sink])
        if bit == nil {
            let next = try Int.fetchOne(db, sql: "SELECT coalesce(max(bit) + 1, 0) FROM delivery_streams") ?? 0
            if next <= 62 {
                try db.execute(
                    sql: "INSERT INTO delivery_streams (sink, bit, cursor) VALUES (?, ?, (SELECT coalesce(max(seq), 0) FROM events))",
                    arguments: [sink, next]
                )
                bit = next
            }
        }
        bits[sink] = bit ?? -1
        newBits[sink] = bit ?? -1
        return bit
    }

    /// The destination's id, interning it on first use; nil when it is too large to stream.
    mutating func destinationID(_ destination: StreamDestination, _ db: Database) throws -> Int64? {
        var id = destinationIDs[destination]
        if id == nil {
            id = try Int64.fetchOne(
                db, sql: "SELECT id FROM destinations WHERE sink = ? AND route = ? AND options = ?",
                arguments: [destination.sink, destination.route, destination.options]
            )
            if id == nil {
                try db.execute(
                    sql: "INSERT INTO destinations (sink, route, options) VALUES (?, ?, ?)",
                    arguments: [destination.sink, destination.route, destination.options]
                )
                id = db.lastInsertedRowID
            }
            destinationIDs[destination] = id
            newDestinations.append((id!, destination))
        }
        guard let id, id <= StreamItemID.maxDestination else { return nil }
        return id
    }

    /// Adds the stream items' count to each sink's `routed`, in the same transaction.
    func recordRouted(_ db: Database) throws {
        for (sink, count) in routed {
            // Cached: this runs in every ingest commit.
            try db.cachedStatement(sql: "UPDATE delivery_streams SET routed = routed + ? WHERE sink = ?").execute(arguments: [count, sink])
        }
    }

    /// What this (committed) transaction created, for the catalog.
    var created: (bits: [String: Int], destinations: [(Int64, StreamDestination)]) { (newBits, newDestinations) }
}

extension StreamCatalog {
    func add(_ created: (bits: [String: Int], destinations: [(Int64, StreamDestination)])) {
        guard !created.bits.isEmpty || !created.destinations.isEmpty else { return }
        state.withLock {
            $0.bits.merge(created.bits) { _, new in new }
            for (id, destination) in created.destinations { $0.intern(id, destination) }
        }
    }
}

extension SQLiteJournal {
    /// Reads up to `limit` events of the sink's stream after `start` (inside a read transaction).
    /// - Returns: The items and the last seq read (the snapshot's newest event when fewer than
    ///   `limit` events were found: nothing between is for this sink).
    func readStream(_ db: Database, sink: String, bit: Int, start: Int64, claimedThrough: Int64, limit: Int) throws -> (items: [PendingDelivery], through: Int64) {
        let statement = RawStatement(try db.cachedStatement(sql: """
            SELECT seq, id, subject, body, destinations FROM events
            WHERE seq > ? AND (stream_mask & ?) != 0 ORDER BY seq LIMIT ?
            """), in: db)
        statement.bind(1, start)
        statement.bind(2, Int64(1) << Int64(bit))
        statement.bind(3, Int64(limit))
        defer { statement.reset() }
        var items: [PendingDelivery] = []
        items.reserveCapacity(limit)
        var events = 0
        var last = start
        // Most events of a stretch name the same destination: the last one found is kept at hand.
        var known: (id: Int64, entry: StreamCatalog.Entry?)?
        var ids: [Int64] = []
        while try statement.step() {
            events += 1
            let sequence = statement.int64(0)
            last = sequence
            // `destinations`: destination ids, comma-separated (read from the row's bytes).
            guard let list = statement.textBytes(4) else { continue }
            ids.removeAll(keepingCapacity: true)
            var value: Int64 = 0, digits = 0
            for byte in list {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    value = value &* 10 &+ Int64(byte - UInt8(ascii: "0"))
                    digits += 1
                } else {
                    if digits > 0 { ids.append(value) }
                    value = 0
                    digits = 0
                }
            }
            if digits > 0 { ids.append(value) }
            var body: Data?, eventID = "", subject = ""
            for id in ids {
                if known?.id != id { known = (id, try streamCatalog.destination(id, db)) }
                guard let entry = known?.entry, entry.destination.sink == sink else { continue }
                // A stream item claimed ahead of the cursor has a row of its own: that one counts.
                if sequence <= claimedThrough, try Self.claimedRow(db, sequence: sequence, destination: entry.destination) != nil { continue }
                if body == nil {
                    body = statement.blob(3)
                    eventID = statement.text(1) ?? ""
                    subject = statement.text(2) ?? ""
                }
                items.append(PendingDelivery(
                    deliveryID: StreamItemID.make(sequence: sequence, destination: id), sink: sink, route: entry.destination.route,
                    attempts: 0, eventID: eventID, eventJSON: body ?? Data(), subject: subject, nextAttemptAt: 0, options: entry.options
                ))
            }
        }
        if events < limit {
            last = max(last, try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM events")) ?? 0)
        }
        return (items, last)
    }

    /// The `deliveries` row a stream item was claimed as, if it was.
    static func claimedRow(_ db: Database, sequence: Int64, destination: StreamDestination) throws -> Int64? {
        try Int64.fetchOne(
            db, sql: "SELECT id FROM deliveries WHERE event_seq = ? AND sink = ? AND route = ? AND coalesce(options, '') = ?",
            arguments: [sequence, destination.sink, destination.route, destination.options]
        )
    }

    /// Gives a stream item a `deliveries` row (state pending, no attempt yet), or finds the one it
    /// has, so that the id-based updates apply to it. Inside a write transaction.
    /// - Returns: The row's id; nil when the event is gone.
    func claim(_ db: Database, streamID: Int64) throws -> Int64? {
        guard let (sequence, destinationID) = StreamItemID.split(streamID),
              let entry = try streamCatalog.destination(destinationID, db) else { return nil }
        let destination = entry.destination
        if let existing = try Self.claimedRow(db, sequence: sequence, destination: destination) { return existing }
        guard let subject = try String.fetchOne(db, sql: "SELECT subject FROM events WHERE seq = ?", arguments: [sequence]) else { return nil }
        try db.cachedStatement(sql: """
            INSERT INTO deliveries (event_seq, sink, route, subject, next_attempt_at, ordered, options, state)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')
            """).execute(arguments: [
                sequence, destination.sink, destination.route, subject, Date().timeIntervalSince1970,
                orderedSinks.contains(destination.sink) ? 1 : 0, destination.options.isEmpty ? nil : destination.options,
            ])
        let row = db.lastInsertedRowID
        try db.cachedStatement(sql: """
            UPDATE delivery_streams SET settled = settled + 1, claimed_through = max(claimed_through, ?) WHERE sink = ?
            """).execute(arguments: [sequence, destination.sink])
        return row
    }

    /// Turns the pending items of a sink's stream into rows (a sink that now keeps per-device
    /// order reads rows only). At open.
    func materializeStream(sink: String) throws {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT bit, cursor, claimed_through FROM delivery_streams WHERE sink = ?", arguments: [sink]) else { return }
            var start: Int64 = row[1]
            while true {
                let (items, through) = try readStream(db, sink: sink, bit: row[0], start: start, claimedThrough: row[2], limit: 10_000)
                for item in items { _ = try claim(db, streamID: item.deliveryID) }
                try db.execute(sql: "UPDATE delivery_streams SET cursor = max(cursor, ?) WHERE sink = ?", arguments: [through, sink])
                if through == start { break }
                start = through
            }
        }
    }

    /// Writes the positions up to which idle streams were found empty as their cursors (so a
    /// restart does not read those events again). Called by retention.
    public func saveStreamPositions() async throws(JournalError) {
        let positions = streamCatalog.state.withLock { $0.empty }
        guard !positions.isEmpty else { return }
        do {
            try await write(.deferred) { db in
                // Only where the cursor has reached the empty stretch: what lies before it may
                // still be unsettled.
                for (sink, empty) in positions {
                    try db.execute(
                        sql: "UPDATE delivery_streams SET cursor = ? WHERE sink = ? AND cursor >= ? AND cursor < ?",
                        arguments: [empty.through, sink, empty.from, empty.through]
                    )
                }
            }
        } catch {
            throw .writeFailed("\(error)")
        }
    }

    /// Pending stream items per sink (`routed - settled`), read in O(sinks).
    static func streamPending(_ db: Database) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT sink, routed - settled FROM delivery_streams") {
            let count: Int = row[1]
            if count != 0 { result[row[0]] = count }
        }
        return result
    }
}
