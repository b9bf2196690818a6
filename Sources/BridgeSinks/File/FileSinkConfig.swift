//===----------------------------------------------------------------------===//
// ThingBridge — file sink configuration
//===----------------------------------------------------------------------===//

import BridgeCore

/// A sink that appends one CloudEvent per line (JSON Lines) to files.
///
/// ```yaml
/// sinks:
///   archive:
///     type: file
///     path: "events/{account}/{date}.jsonl"
///     maxFileSize: 64MiB
/// ```
public struct FileSinkConfig: Sendable, Decodable, Equatable {
    /// The file path pattern. Placeholders: `{account}`, `{date}` (UTC `yyyy-MM-dd` of the
    /// event's receive time), `{sink}`, `{route}`. A relative path resolves against the data
    /// folder. Default `"{sink}/{date}.jsonl"`.
    public var path: String
    /// When appending would make the active file larger than this, it is rotated first:
    /// renamed to `NAME.1.jsonl` (`.2`, … the next free number) and a new file started.
    /// Default 64 MiB.
    public var maxFileSize: ByteSize

    public init(path: String = "{sink}/{date}.jsonl", maxFileSize: ByteSize = .mebibytes(64)) {
        self.path = path
        self.maxFileSize = maxFileSize
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case path, maxFileSize }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = FileSinkConfig()
        self.path = try container.decodeIfPresent(String.self, forKey: .path) ?? defaults.path
        self.maxFileSize = try container.decodeIfPresent(ByteSize.self, forKey: .maxFileSize) ?? defaults.maxFileSize
        if path.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .path, in: container, debugDescription: "the path must not be empty")
        }
        if maxFileSize.bytes < 1024 {
            throw DecodingError.dataCorruptedError(forKey: .maxFileSize, in: container, debugDescription: "maxFileSize must be at least 1KiB")
        }
    }
}
