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
/// after each commit it sees the WAL's length.
///
/// A cycle: once ``CheckpointSchedule/softLimit`` frames were written since what is already copied, the thread is
/// woken and runs a PASSIVE checkpoint on its own connection — concurrently with later commits,
/// on the core the commit path is not using. A PASSIVE checkpoint never blocks writers or
/// readers; it copies what no reader still needs. When it is done, the commits made meanwhile
/// are all that is left uncopied: if those are more than ``CheckpointSchedule/finishLimit`` frames, the thread runs
/// again for them; once at most that many are left, the next commit copies them itself (a few
/// pages and one fsync of the database file), so that the WAL is entirely in the database and
/// SQLite starts it from the beginning at the next write.
///
/// Why the finishing step: SQLite restarts the WAL only when a write begins with every frame
/// already copied. Under a steady stream of commits a background checkpoint never catches up on
/// its own (by the time it is done, the next commit has begun); waking it after every commit, as
/// an earlier version did, ran about 550 checkpoints a second at 16 busy connections, each
/// with two fsyncs that queued on the disk beside the commits' own.
///
/// Safety net: should the WAL still reach ``CheckpointSchedule/hardLimit`` frames (the thread stopped, or cannot
/// keep up, or readers held every finishing step back), the hook checkpoints inline on the
/// writer, as SQLite's own automatic checkpoint would. Durability is unchanged either way: a
/// commit is durable when the WAL is fsynced, and a checkpoint fsyncs the WAL before and the
/// database after copying.
final class WALCheckpointer: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var requested = false
    private var stopped = false
    private var finished = false
    private var connection: OpaquePointer?
    private var completed = 0
    private var inlineRuns = 0
    private var finishingRuns = 0
    private var schedule: CheckpointSchedule

    private let checkpointsCounter = Counter(label: "thingbridge_journal_checkpoints_total", dimensions: [("where", "background")])
    private let inlineCounter = Counter(label: "thingbridge_journal_checkpoints_total", dimensions: [("where", "inline")])
    private let finishingCounter = Counter(label: "thingbridge_journal_checkpoints_total", dimensions: [("where", "finishing")])

    /// Opens the checkpointer's own connection to the journal file.
    /// - Throws: ``JournalError/openFailed(_:)`` when SQLite cannot open it.
    /// - Parameters: The limits of the cycle: see ``CheckpointSchedule``.
    init(path: String, softLimit: Int32 = 250, finishLimit: Int32 = 256, hardLimit: Int32 = 16000) throws(JournalError) {
        schedule = CheckpointSchedule(softLimit: softLimit, finishLimit: finishLimit, hardLimit: hardLimit)
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

    /// Checkpoints completed by the thread, by the writer to finish a cycle, and inline by the
    /// writer at the hard limit, since start.
    var counts: (background: Int, finishing: Int, inline: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (completed, finishingRuns, inlineRuns)
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
        condition.lock()
        let step = schedule.committed(walFrames: walFrames)
        if step == .wake {
            requested = true
            condition.signal()
        }
        condition.unlock()
        guard step == .inline || step == .finish else { return }

        var log: Int32 = 0, copied: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
        condition.lock()
        if code == SQLITE_OK { schedule.writerCopied(through: copied) }
        if step == .inline { inlineRuns += 1 } else { finishingRuns += 1 }
        condition.unlock()
        (step == .inline ? inlineCounter : finishingCounter).increment()
    }

    private func run() {
        condition.lock()
        while true {
            while !requested && !stopped { condition.wait() }
            if stopped { break }
            requested = false
            condition.unlock()
            // PASSIVE: never waits for, nor blocks, the writer or readers.
            var log: Int32 = 0, copied: Int32 = 0
            let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
            condition.lock()
            schedule.threadFinished(copied: code == SQLITE_OK ? copied : nil, log: log)
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

/// When to checkpoint, decided after each commit from the WAL's length (``WALCheckpointer``'s
/// cycle). Only the decisions: no SQLite, no threads; the checkpointer holds it under its lock.
struct CheckpointSchedule: Equatable {
    enum Step: Equatable {
        case none
        /// Wake the checkpoint thread.
        case wake
        /// The writer copies the few frames left, so that the WAL can start over.
        case finish
        /// The WAL reached the hard limit: the writer checkpoints it all.
        case inline
    }

    /// WAL frames (pages) not yet copied after which the thread is woken. 250 pages (1 MiB) in
    /// the journal: at 16 busy connections, cycles of 1,000 pages (SQLite's default) gave a p99
    /// about 1.5 times as long, and of 4,000 pages two to three times as long — the checkpoint's
    /// fsync of the database file then flushes megabytes, and the commits' own fsyncs queue behind it.
    let softLimit: Int32
    /// Frames left after the thread's checkpoint that the writer copies itself to finish a cycle.
    let finishLimit: Int32
    /// WAL frames after which the writer checkpoints inline. 16,000 pages (64 MiB) in the journal.
    let hardLimit: Int32
    /// A checkpoint of the thread is asked for or running.
    private(set) var busy = false
    /// Frames of the current WAL known to be in the database (from the last checkpoint).
    private(set) var copiedThrough: Int32 = 0
    /// The WAL's length at the last commit: a shorter one means SQLite started it over.
    private var lastFrames: Int32 = 0
    /// The writer has tried to finish this cycle: not again until the thread has run again (a
    /// reader still inside the WAL can keep a finishing step from copying everything, and each
    /// try costs the commit it follows an fsync of the database file).
    private var finishTried = false

    init(softLimit: Int32, finishLimit: Int32, hardLimit: Int32) {
        self.softLimit = softLimit
        self.finishLimit = finishLimit
        self.hardLimit = hardLimit
    }

    /// A commit left the WAL `walFrames` long.
    mutating func committed(walFrames: Int32) -> Step {
        if walFrames < lastFrames {  // SQLite started the WAL over.
            copiedThrough = 0
            finishTried = false
        }
        lastFrames = walFrames
        let left = walFrames - copiedThrough
        if walFrames >= hardLimit { return .inline }
        if busy || left <= 0 { return .none }
        if left >= softLimit || (copiedThrough > 0 && left > finishLimit) {
            // A new cycle; or the commits made during the thread's checkpoint left more than the
            // writer should copy itself: the thread copies those too (each such round is shorter
            // than the one before, as a checkpoint copies faster than commits write).
            busy = true
            return .wake
        }
        if copiedThrough > 0 && !finishTried {
            finishTried = true
            return .finish
        }
        return .none
    }

    /// The writer's own checkpoint (finishing or inline) copied the WAL through frame `copied`.
    mutating func writerCopied(through copied: Int32) {
        if copied >= 0 { copiedThrough = copied }
    }

    /// The thread's checkpoint is done: it copied through `copied` (nil: it failed) of a WAL then
    /// `log` frames long.
    mutating func threadFinished(copied: Int32?, log: Int32) {
        busy = false
        finishTried = false
        // Unless the writer started the WAL over meanwhile (then these counts are of the old one).
        if let copied, copied >= 0, lastFrames >= log { copiedThrough = copied }
    }
}
