//===----------------------------------------------------------------------===//
// ThingBridge — journal errors
//===----------------------------------------------------------------------===//

/// A journal operation that failed. Ingress answers 503 on it, so ThingSpace queues the message.
public struct JournalError: Error, Sendable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case openFailed = "open_failed"
        case migrationFailed = "migration_failed"
        case writeFailed = "write_failed"
        case readFailed = "read_failed"
    }

    private let _code: Code
    /// A description of the underlying SQLite error (no payloads).
    public let reason: String
    public let file: String
    public let line: Int

    private init(_ code: Code, reason: String, file: String, line: Int) {
        self._code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// A stable code, safe as a metric label.
    public var code: String { _code.rawValue }

    public static func openFailed(_ reason: String, file: String = #fileID, line: Int = #line) -> JournalError {
        JournalError(.openFailed, reason: reason, file: file, line: line)
    }

    public static func migrationFailed(_ reason: String, file: String = #fileID, line: Int = #line) -> JournalError {
        JournalError(.migrationFailed, reason: reason, file: file, line: line)
    }

    public static func writeFailed(_ reason: String, file: String = #fileID, line: Int = #line) -> JournalError {
        JournalError(.writeFailed, reason: reason, file: file, line: line)
    }

    public static func readFailed(_ reason: String, file: String = #fileID, line: Int = #line) -> JournalError {
        JournalError(.readFailed, reason: reason, file: file, line: line)
    }

    public var description: String { "journal \(code): \(reason)" }
}
