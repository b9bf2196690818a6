//===----------------------------------------------------------------------===//
// ThingBridge — test helpers
//===----------------------------------------------------------------------===//

import Foundation

/// A fresh folder under the system temp folder, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init(_ label: String = "thingbridge") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public var path: String { url.path }

    /// A path inside the folder.
    public func appending(_ component: String) -> URL { url.appendingPathComponent(component) }

    /// Writes a text file inside the folder (creating sub-folders) and returns its URL.
    @discardableResult
    public func write(_ text: String, to relativePath: String) throws -> URL {
        let file = appending(relativePath)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `body` with a temporary folder that is removed afterwards, whether `body` throws or not.
public func withTemporaryDirectory<T>(
    _ label: String = "thingbridge", isolation: isolated (any Actor)? = #isolation, _ body: (TemporaryDirectory) async throws -> T
) async rethrows -> T {
    let directory = TemporaryDirectory(label)
    defer { directory.remove() }
    return try await body(directory)
}

/// Re-evaluates `condition` until it holds or `timeout` passes; for outcomes produced by a
/// background service (a dispatcher writing a file). Returns whether it held.
public func eventually(
    timeout: Duration = .seconds(10), poll: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: poll)
    }
    return try await condition()
}

/// Reads a JSON Lines file into objects (empty when the file does not exist).
public func readJSONLines(_ url: URL) throws -> [[String: Any]] {
    guard FileManager.default.fileExists(atPath: url.path) else { return [] }
    let text = try String(contentsOf: url, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }
}
