//===----------------------------------------------------------------------===//
// ThingBridge — SQLite's C API for the journal's hot insert path
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import GRDBSQLite

/// A statement prepared (and owned, and finalized) by GRDB, driven through SQLite's C API.
///
/// Used only where one transaction runs the same few statements for every event of a batch (a
/// commit's inserts, a stream's read): binding and reading values directly avoids building a
/// `StatementArguments` array of boxed values and a `Row` per row, which was most of the
/// Swift-side cost of those. Everything else in the journal uses GRDB's API. Each use binds, steps and resets; the statement is left reset, as
/// GRDB expects to find it.
struct RawStatement {
    private let handle: SQLiteStatement
    private let connection: SQLiteConnection?

    /// SQLite copies bound text and blobs before the bind call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: Statement, in db: Database) {
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bindNull(_ index: Int32) {
        sqlite3_bind_null(handle, index)
    }

    func bind(_ index: Int32, _ value: Double) {
        sqlite3_bind_double(handle, index, value)
    }

    func bind(_ index: Int32, _ value: String) {
        // The implicit C string is never null, so "" binds an empty text, not NULL.
        sqlite3_bind_text(handle, index, value, Int32(value.utf8.count), Self.transient)
    }

    func bind(_ index: Int32, _ value: Data) {
        _ = value.withUnsafeBytes { bytes in
            // A null pointer would bind NULL: an empty blob is bound as a zero-length blob.
            if let base = bytes.baseAddress {
                sqlite3_bind_blob(handle, index, base, Int32(bytes.count), Self.transient)
            } else {
                sqlite3_bind_zeroblob(handle, index, 0)
            }
        }
    }

    /// Steps once. - Returns: Whether a row is available (read it before ``reset()``).
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = connection.map { String(cString: sqlite3_errmsg($0)) }
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    /// A text column; nil when NULL.
    func text(_ column: Int32) -> String? {
        textBytes(column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A text column's bytes, valid until the next step or reset; nil when NULL.
    func textBytes(_ column: Int32) -> UnsafeBufferPointer<UInt8>? {
        guard let bytes = sqlite3_column_text(handle, column) else { return nil }
        return UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// A blob column (empty when NULL or empty), copied.
    func blob(_ column: Int32) -> Data {
        guard let bytes = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// Resets the statement and clears its bindings for the next use.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Binds, runs to completion and resets.
    func execute(_ bind: (RawStatement) -> Void) throws {
        bind(self)
        defer { reset() }
        while try step() {}
    }
}
