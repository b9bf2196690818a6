//===----------------------------------------------------------------------===//
// ThingBridge — journal schema and migrations
//===----------------------------------------------------------------------===//

import GRDB

/// The journal's schema, versioned by GRDB's migrator (table `grdb_migrations`).
///
/// Migrations are append-only: a released migration is never edited, a change is a new one.
enum JournalSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-events-deliveries-dedup-quarantine") { db in
            // One row per distinct upstream message. `id` is the CloudEvents id (and its dedup key,
            // see `dedup_keys`); `body` is the structured-mode CloudEvent exactly as sinks receive it.
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL,
                    account TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    received_at TEXT NOT NULL,
                    deliveries INTEGER NOT NULL,
                    seen_count INTEGER NOT NULL DEFAULT 1,
                    body BLOB NOT NULL
                );
                """)
            // The outbox: one row per (event, route, sink). state: pending | delivered | dead.
            try db.execute(sql: """
                CREATE TABLE deliveries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_seq INTEGER NOT NULL REFERENCES events(seq),
                    sink TEXT NOT NULL,
                    route TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL,
                    last_error TEXT,
                    delivered_at TEXT,
                    dead_at REAL
                );
                CREATE INDEX deliveries_due ON deliveries (sink, next_attempt_at, id) WHERE state = 'pending';
                CREATE INDEX deliveries_event ON deliveries (event_seq);
                CREATE INDEX deliveries_dead ON deliveries (sink, dead_at) WHERE state = 'dead';
                CREATE INDEX deliveries_device ON deliveries (sink, subject, id) WHERE state = 'pending';
                """)
            // Every failed attempt of a delivery, for the dead-letter history. Kept with the delivery.
            try db.execute(sql: """
                CREATE TABLE delivery_attempts (
                    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                    at REAL NOT NULL,
                    outcome TEXT NOT NULL,
                    error TEXT NOT NULL
                );
                CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
                """)
            // Dedup keys seen within the dedup window: `r|<event id>` for messages with a request id,
            // `t|<UTC time>|<event id>` for those recognised by timestamp (time first, so that a
            // history page's keys are neighbours in the index). A key older than the window no
            // longer makes a new arrival a duplicate, and is pruned.
            try db.execute(sql: """
                CREATE TABLE dedup_keys (
                    key TEXT PRIMARY KEY,
                    event_seq INTEGER NOT NULL,
                    first_seen REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX dedup_keys_age ON dedup_keys (first_seen);
                """)
            // Bodies from authenticated callers that could not be parsed. Kept until purged.
            try db.execute(sql: """
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    account TEXT NOT NULL,
                    received_at TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    body BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-integer-dedup-keys-ordered-deliveries") { db in
            // Only deliveries to sinks that keep per-device order are in the per-device index:
            // with many devices each insert lands on a different index page, which doubled the
            // pages a commit writes for sinks that never use it.
            try db.execute(sql: """
                ALTER TABLE deliveries ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
                DROP INDEX deliveries_device;
                CREATE INDEX deliveries_device ON deliveries (sink, subject, id) WHERE state = 'pending' AND ordered = 1;
                """)
            // Dedup keys as two integers cut from the event id (see `DedupKey`) instead of text:
            // the index is an eighth of the size and a commit dirties fewer pages of it.
            try db.execute(sql: """
                CREATE TABLE dedup (
                    key INTEGER PRIMARY KEY,
                    id_hash INTEGER NOT NULL,
                    event_seq INTEGER NOT NULL,
                    first_seen REAL NOT NULL
                );
                CREATE INDEX dedup_age ON dedup (first_seen);
                """)
            // Carry over the keys of the v1 table (`r|<id>` and `t|<time>|<id>`).
            let rows = try Row.fetchCursor(db, sql: "SELECT key, event_seq, first_seen FROM dedup_keys ORDER BY first_seen")
            while let row = try rows.next() {
                let text: String = row["key"]
                let parts = text.split(separator: "|", omittingEmptySubsequences: false)
                let key: DedupKey?
                switch (parts.first, parts.count) {
                case ("r", 2): key = DedupKey(id: String(parts[1]), time: nil)
                case ("t", 3): key = DedupKey(id: String(parts[2]), time: String(parts[1]))
                default: key = nil
                }
                guard let key else { continue }
                let probe = try key.probe { slot in
                    try Row.fetchOne(db, sql: "SELECT id_hash, event_seq, first_seen FROM dedup WHERE key = ?", arguments: [slot])
                        .map { (idHash: $0["id_hash"], sequence: $0["event_seq"], firstSeen: $0["first_seen"]) }
                }
                if case .free(let slot) = probe {
                    try db.execute(
                        sql: "INSERT INTO dedup (key, id_hash, event_seq, first_seen) VALUES (?, ?, ?, ?)",
                        arguments: [slot, key.idHash, row["event_seq"] as Int64, row["first_seen"] as Double]
                    )
                }
            }
            try db.execute(sql: "DROP TABLE dedup_keys")
        }
        migrator.registerMigration("v3-routes-version-destination-options") { db in
            // Which route set routed each event (`RouteSet.version`, a digest of the route files),
            // so that after a hot reload every event says which rules decided its deliveries.
            // Per delivery, the route destination's options (payload format, template, topic,
            // key, path) as JSON, fixed at routing time; NULL means the sink's own config.
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN routes_version TEXT;
                ALTER TABLE deliveries ADD COLUMN options TEXT;
                """)
        }
        migrator.registerMigration("v4-webhook-endpoint-state") { db in
            // The circuit-breaker state of each webhook endpoint (sink name `<group>/<endpoint>`),
            // so that an open breaker, a failure streak and an operator's disable survive a
            // restart. A missing row means closed with no failures. state: closed | open | disabled.
            try db.execute(sql: """
                CREATE TABLE webhook_endpoints (
                    sink TEXT PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'disabled')),
                    consecutive_failures INTEGER NOT NULL DEFAULT 0,
                    failing_since REAL,
                    open_until REAL,
                    reason TEXT,
                    changed_at REAL NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v5-delivery-streams") { db in
            // Deliveries to sinks without per-device order are no longer written as outbox rows
            // when an event is stored. The event lists its destinations (`destinations`: ids of
            // the table below, comma-separated) and has one bit per such sink in `stream_mask`;
            // each sink reads the events after its cursor in `delivery_streams` (its *stream*).
            // Only what fails, is dead-lettered or is marked one by one becomes a `deliveries`
            // row. Rows written before this migration stay rows and are delivered as before.
            // `routed` and `settled` count the sink's stream items (pending = routed - settled);
            // `delivered` those delivered straight from the stream; `claimed_through` is the
            // highest seq of a stream item that got a row of its own ahead of the cursor.
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN stream_mask INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN destinations TEXT;
                CREATE TABLE delivery_streams (
                    sink TEXT PRIMARY KEY,
                    bit INTEGER NOT NULL UNIQUE CHECK (bit BETWEEN 0 AND 62),
                    cursor INTEGER NOT NULL,
                    routed INTEGER NOT NULL DEFAULT 0,
                    settled INTEGER NOT NULL DEFAULT 0,
                    delivered INTEGER NOT NULL DEFAULT 0,
                    claimed_through INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE destinations (
                    id INTEGER PRIMARY KEY,
                    sink TEXT NOT NULL,
                    route TEXT NOT NULL,
                    options TEXT NOT NULL DEFAULT ''
                );
                CREATE UNIQUE INDEX destinations_key ON destinations (sink, route, options);
                """)
        }
        return migrator
    }
}
