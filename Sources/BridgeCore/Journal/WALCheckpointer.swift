//===----------------------------------------------------------------------===//
// ThingBridge — WAL checkpoints off the commit path
//===----------------------------------------------------------------------===//

import Foundation
import GRDBSQLite
import Metrics

/// Copies the journal's WAL back into the database file on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit
/// (and every callback or history page waiting on it) waits while megabytes of pages are written
/// and the database file is fsynced. It was the largest part of the ingress p99 and of a drain's
/// commit time. Here the writer connection gets a WAL hook instead of the automatic checkpoint:
/// after each commit it sees the WAL's length, and past ``softLimit`` frames it wakes this
/// thread, which runs a PASSIVE checkpoint on its own connection — concurrently with later
/// commits, on the core the commit path is not using. A PASSIVE checkpoint never blocks writers
/// or readers; it copies what no reader still needs, and the writer starts the WAL from the
/// beginning again at its next commit once everything has been copied.
///
/// Safety net: should the WAL still reach ``hardLimit`` frames (the thread stopped, or cannot
/// keep up), the hook checkpoints inline on the writer, as SQLite's own automatic checkpoint
/// would. Durability is unchanged either way: a commit is durable when the WAL is fsynced, and
/// a checkpoint fsyncs the WAL before and the database after copying.
final class WALCheckpointer: @unchecked Sendable {
    /// WAL frames (pages) after which the thread is woken. 1,000 pages (4 MiB), SQLite's default.
    /// Larger, rarer checkpoints (4,000) made a drain a few per cent faster but doubled the
    /// callbacks' p99 at 16 connections (6 → 10 ms): a big checkpoint holds the disk longer.
    let softLimit: Int32
    /// WAL frames after which the writer checkpoints inline. 16,000 pages (64 MiB).
    let hardLimit: Int32

    private let path: String
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var requested = false
    private var stopped = false
    private var finished = false
    private var connection: OpaquePointer?
    private var completed = 0
    private var inlineRuns = 0

    private let checkpointsCounter = Counter(label: "thingbridge_journal_checkpoints_total", dimensions: [("where", "background")])
    private let inlineCounter = Counter(label: "thingbridge_journal_checkpoints_total", dimensions: [("where", "inline")])

    /// Opens the checkpointer's own connection to the journal file.
    /// - Throws: ``JournalError/openFailed(_:)`` when SQLite cannot open it.
    init(path: String, softLimit: Int32 = 1000, hardLimit: Int32 = 16000) throws(JournalError) {
        self.path = path
        self.softLimit = softLimit
        self.hardLimit = hardLimit
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(code)"
            sqlite3_close(handle)  // A handle is returned even on failure; closing nil is a no-op.
            throw .openFailed("\(path): checkpoint connection: \(message)")
        }
        // The checkpoint fsyncs the WAL before copying and the database file after.
        sqlite3_exec(handle, "PRAGMA synchronous = FULL", nil, nil, nil)
        connection = handle
        let thread = Thread { [self] in run() }
        thread.name = "thingbridge.checkpoint"
        thread.start()
    }

    deinit {
        stop()
    }

    /// Replaces SQLite's automatic checkpoint on the writer connection by this checkpointer's hook.
    ///
    /// The hook holds an unretained pointer to `self`: the journal keeps the checkpointer alive for
    /// as long as the writer connection is open, and ``uninstall(from:)`` runs before it closes.
    func install(on writer: OpaquePointer) {
        sqlite3_wal_hook(writer, { context, db, name, frames in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue()
            checkpointer.committed(walFrames: frames, writer: db, schema: name)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Removes the hook (and with it any automatic checkpoint: the pool's close checkpoints).
    func uninstall(from writer: OpaquePointer) {
        sqlite3_wal_hook(writer, nil, nil)
    }

    /// Checkpoints completed by the thread, and inline by the writer, since start.
    var counts: (background: Int, inline: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (completed, inlineRuns)
    }

    /// Stops the thread and closes its connection. Idempotent.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished && connection != nil {
            condition.wait()
        }
        condition.unlock()
    }

    /// Called by SQLite on the writer's thread after each commit, with the WAL's length.
    private func committed(walFrames: Int32, writer: OpaquePointer?, schema: UnsafePointer<CChar>?) {
        if walFrames >= hardLimit {
            sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            condition.lock()
            inlineRuns += 1
            condition.unlock()
            inlineCounter.increment()
            return
        }
        guard walFrames >= softLimit else { return }
        condition.lock()
        if !requested {
            requested = true
            condition.signal()
        }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            while !requested && !stopped { condition.wait() }
            if stopped { break }
            requested = false
            condition.unlock()
            // PASSIVE: never waits for, nor blocks, the writer or readers.
            let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            condition.lock()
            if code == SQLITE_OK {
                completed += 1
                checkpointsCounter.increment()
            }
        }
        sqlite3_close_v2(connection)
        connection = nil
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}
