//===----------------------------------------------------------------------===//
// ThingBridge — file sink (JSON Lines)
//===----------------------------------------------------------------------===//

import BridgeCore
import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends events as JSON Lines, rotating by size, and confirms only after `fsync`.
///
/// A batch is grouped by target file; each file gets one write and one `fsync`, and only then
/// are its items reported delivered. A failed write is truncated back so that no partial line
/// is left behind for the retry to follow.
public final class FileSink: Sink {
    public let name: String
    private let config: FileSinkConfig
    /// `config.path` cut into literals and placeholders once, so that naming an item's file is
    /// a few appends (it was `replacingOccurrences` and URL building for every delivery).
    private let template: [PathPiece]
    /// The folder relative paths resolve against, ending in `/`.
    private let basePrefix: String

    enum PathPiece: Equatable {
        case literal(String)
        case account, date, sink, route
    }
    private let writer: FileWriter
    private let logger: Logger

    /// - Parameters:
    ///   - name: The sink's name in the main config.
    ///   - config: Its settings.
    ///   - dataDirectory: Relative paths resolve against this folder.
    public init(name: String, config: FileSinkConfig, dataDirectory: URL, logger: Logger) {
        self.name = name
        self.config = config
        self.template = Self.pieces(of: config.path)
        let base = dataDirectory.path
        self.basePrefix = base.hasSuffix("/") ? base : base + "/"
        self.writer = FileWriter(maxFileSize: config.maxFileSize.bytes)
        var logger = logger
        logger[metadataKey: "sink"] = "\(name)"
        self.logger = logger
    }

    /// The file an item goes to: the route destination's `path` pattern when it gave one, else
    /// the sink's.
    public func path(for item: SinkItem) -> String {
        var path = ""
        let pieces = item.options.path.map(Self.pieces(of:)) ?? template
        for piece in pieces {
            switch piece {
            case .literal(let text): path += text
            case .account: path += Self.safeComponent(item.event.data.account)
            case .date: path += Self.safeComponent(String(item.event.data.receivedAt.prefix(10)))
            case .sink: path += Self.safeComponent(name)
            case .route: path += Self.safeComponent(item.route)
            }
        }
        if path.hasPrefix("/") { return path }
        return basePrefix + path
    }

    /// Splits a path pattern at `{account}`, `{date}`, `{sink}`, `{route}`.
    static func pieces(of pattern: String) -> [PathPiece] {
        let placeholders: [(String, PathPiece)] = [("{account}", .account), ("{date}", .date), ("{sink}", .sink), ("{route}", .route)]
        var pieces: [PathPiece] = []
        var literal = ""
        var rest = Substring(pattern)
        while !rest.isEmpty {
            if let (text, piece) = placeholders.first(where: { rest.hasPrefix($0.0) }) {
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = ""
                pieces.append(piece)
                rest = rest.dropFirst(text.count)
            } else {
                literal.append(rest.removeFirst())
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        return pieces
    }

    /// A value made safe to put in a path: no separators, no `..`.
    static func safeComponent(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 }) || value.isEmpty || value == "." || value == ".." else {
            return value
        }
        let cleaned = String(value.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        return cleaned == ".." || cleaned == "." || cleaned.isEmpty ? "_" : cleaned
    }

    public func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (index, item) in batch.enumerated() {
            let path = path(for: item)
            if groups[path] == nil { order.append(path) }
            groups[path, default: []].append(index)
        }
        let writes = order.map { path in
            var bytes = Data()
            for index in groups[path]! {
                // The destination's payload format (CloudEvent by default), one per line.
                let item = batch[index]
                bytes.append(item.options.format == .cloudevents ? item.eventJSON : PayloadRenderer.render(item, sink: name).bytes)
                bytes.append(0x0A)
            }
            return FileWriter.Write(path: path, bytes: bytes)
        }
        let results = await writer.perform(writes)
        var outcomes = [DeliveryOutcome](repeating: .retriable(reason: "not written"), count: batch.count)
        for (write, result) in zip(writes, results) {
            let outcome: DeliveryOutcome
            switch result {
            case .success:
                outcome = .delivered
            case .failure(let error):
                logger.warning("file write failed", metadata: ["path": "\(write.path)", "error": "\(error)"])
                outcome = .retriable(reason: "\(error)")
            }
            for index in groups[write.path]! { outcomes[index] = outcome }
        }
        return outcomes
    }

    public func close() async {
        await writer.closeAll()
    }
}

/// An I/O failure with its `errno` text.
struct FileSinkError: Error, CustomStringConvertible {
    let operation: String
    let path: String
    let code: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// Owns the open file descriptors of one file sink.
///
/// `@unchecked Sendable` is safe because every field is read and written only on `queue`, a
/// serial queue; the blocking `write`/`fsync`/`rename` calls run there too, never on the
/// cooperative thread pool.
final class FileWriter: @unchecked Sendable {
    struct Write: Sendable {
        var path: String
        var bytes: Data
    }

    private struct OpenFile {
        var descriptor: Int32
        var size: Int
    }

    private let queue = DispatchQueue(label: "thingbridge.sink.file")
    private let maxFileSize: Int
    private var openFiles: [String: OpenFile] = [:]
    private static let maxOpenFiles = 32

    init(maxFileSize: Int) { self.maxFileSize = maxFileSize }

    deinit {
        for file in openFiles.values { _ = close(file.descriptor) }
    }

    /// Runs the writes on the queue. When the calling task is cancelled (shutdown ran out of
    /// time) the caller gets failures at once, even if a write is stuck in the kernel (a FIFO
    /// with no reader, a hung network file system); the stuck write finishes or not on its own.
    func perform(_ writes: [Write]) async -> [Result<Void, FileSinkError>] {
        let waiter = ResumeOnce<[Result<Void, FileSinkError>]>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.install(continuation)
                queue.async {
                    waiter.resume(returning: writes.map { self.append($0) })
                }
            }
        } onCancel: {
            waiter.resume(returning: writes.map { .failure(FileSinkError(operation: "cancelled", path: $0.path, code: ECANCELED)) })
        }
    }

    func closeAll() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                for file in self.openFiles.values { _ = close(file.descriptor) }
                self.openFiles.removeAll()
                continuation.resume()
            }
        }
    }

    // MARK: - On `queue` only

    private func append(_ write: Write) -> Result<Void, FileSinkError> {
        do {
            var file = try openFile(write.path)
            if file.size > 0, file.size + write.bytes.count > maxFileSize {
                try rotate(write.path)
                file = try openFile(write.path)
            }
            let start = file.size
            do {
                try writeAll(write.bytes, to: file.descriptor, path: write.path)
                guard fsync(file.descriptor) == 0 else { throw FileSinkError(operation: "fsync", path: write.path, code: errno) }
            } catch {
                // Leave no partial line: the retry appends the whole batch again.
                _ = ftruncate(file.descriptor, off_t(start))
                closeFile(write.path)
                throw error
            }
            openFiles[write.path]?.size = start + write.bytes.count
            return .success(())
        } catch let error as FileSinkError {
            return .failure(error)
        } catch {
            return .failure(FileSinkError(operation: "write", path: write.path, code: EIO))
        }
    }

    private func openFile(_ path: String) throws -> OpenFile {
        if let file = openFiles[path] { return file }
        if openFiles.count >= Self.maxOpenFiles {
            for other in Array(openFiles.keys) { closeFile(other) }
        }
        let directory = (path as NSString).deletingLastPathComponent
        let existed = FileManager.default.fileExists(atPath: path)
        if !FileManager.default.fileExists(atPath: directory) {
            try makeDirectories(directory)
        }
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileSinkError(operation: "open", path: path, code: errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            _ = close(descriptor)
            throw FileSinkError(operation: "stat", path: path, code: code)
        }
        if !existed { try syncDirectory(directory) }
        var size = Int(info.st_size)
        if size > 0 {
            // A crash in the middle of a write can leave a partial last line. It was never reported
            // delivered, so it will be written again: cut it off, or the next line would be glued to it.
            let whole = try endOfLastWholeLine(descriptor, size: size, path: path)
            if whole < size {
                guard ftruncate(descriptor, off_t(whole)) == 0, fsync(descriptor) == 0 else {
                    let code = errno
                    _ = close(descriptor)
                    throw FileSinkError(operation: "truncate partial line", path: path, code: code)
                }
                size = whole
            }
        }
        let file = OpenFile(descriptor: descriptor, size: size)
        openFiles[path] = file
        return file
    }

    /// The length of the file up to and including its last newline (0 when it has none).
    private func endOfLastWholeLine(_ descriptor: Int32, size: Int, path: String) throws -> Int {
        var end = size
        var buffer = [UInt8](repeating: 0, count: 4096)
        while end > 0 {
            let start = max(0, end - buffer.count)
            let count = end - start
            let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(start)) }
            guard read == count else { throw FileSinkError(operation: "read", path: path, code: read < 0 ? errno : EIO) }
            if let index = buffer[0..<count].lastIndex(of: 0x0A) { return start + index + 1 }
            end = start
        }
        return 0
    }

    private func closeFile(_ path: String) {
        if let file = openFiles.removeValue(forKey: path) { _ = close(file.descriptor) }
    }

    /// Renames the active file to the next free `NAME.N.EXT` and syncs the folder.
    private func rotate(_ path: String) throws {
        closeFile(path)
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().path
        var index = 1
        var target: String
        repeat {
            target = ext.isEmpty ? "\(stem).\(index)" : "\(stem).\(index).\(ext)"
            index += 1
        } while FileManager.default.fileExists(atPath: target)
        guard rename(path, target) == 0 else { throw FileSinkError(operation: "rename", path: path, code: errno) }
        try syncDirectory(url.deletingLastPathComponent().path)
    }

    private func writeAll(_ bytes: Data, to descriptor: Int32, path: String) throws {
        try bytes.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard var pointer = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                let written = write(descriptor, pointer, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileSinkError(operation: "write", path: path, code: errno)
                }
                remaining -= written
                pointer += written
            }
        }
    }

    private func makeDirectories(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FileSinkError(operation: "mkdir", path: directory, code: errno == 0 ? EACCES : errno)
        }
        try syncDirectory((directory as NSString).deletingLastPathComponent)
    }

    /// Makes a new or renamed directory entry durable.
    private func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileSinkError(operation: "open directory", path: directory, code: errno) }
        defer { _ = close(descriptor) }
        guard fsync(descriptor) == 0 else { throw FileSinkError(operation: "fsync directory", path: directory, code: errno) }
    }
}

/// A continuation that is resumed at most once, by whichever of two paths comes first.
final class ResumeOnce<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, Never>?
        var early: Value?
        var isDone = false
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<Value, Never>) {
        let early: Value? = state.withLock { state in
            if let early = state.early {
                state.early = nil
                return early
            }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func resume(returning value: Value) {
        let continuation: CheckedContinuation<Value, Never>? = state.withLock { state in
            guard !state.isDone else { return nil }
            state.isDone = true
            guard let continuation = state.continuation else {
                // Cancelled before the continuation was installed: hand the value to `install`.
                state.early = value
                return nil
            }
            state.continuation = nil
            return continuation
        }
        continuation?.resume(returning: value)
    }
}
