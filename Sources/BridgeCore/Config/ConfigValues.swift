//===----------------------------------------------------------------------===//
// ThingBridge — small value types used in config files
//===----------------------------------------------------------------------===//

import Foundation

/// A size in bytes, written as a whole number or with a unit: `512`, `64KiB`, `16MiB`, `1GiB`, `10MB`.
public struct ByteSize: Sendable, Hashable, Decodable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public static func kibibytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1024) }
    public static func mebibytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1024 * 1024) }

    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard let value = Int(digits) else { return nil }
        let factors: [String: Int] = [
            "": 1, "B": 1, "KB": 1000, "MB": 1_000_000, "GB": 1_000_000_000,
            "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
        ]
        guard let factor = factors[unit] else { return nil }
        self.bytes = value * factor
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = ByteSize(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected a size such as 65536, 64KiB or 16MiB, found '\(text)'"
            ))
        }
        self = size
    }

    public var description: String { "\(bytes) bytes" }
}

/// A duration written with a unit: `250ms`, `5s`, `2m`, `1h`, `7d`.
public struct ConfigDuration: Sendable, Hashable, Decodable, CustomStringConvertible {
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value >= 0 else { return nil }
        let seconds: Double
        switch unit {
        case "ms": seconds = value / 1000
        case "s": seconds = value
        case "m": seconds = value * 60
        case "h": seconds = value * 3600
        case "d": seconds = value * 86400
        default: return nil
        }
        self.duration = .milliseconds(Int64((seconds * 1000).rounded()))
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = ConfigDuration(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected a duration such as 250ms, 5s, 2m or 1h, found '\(text)'"
            ))
        }
        self = value
    }

    public var description: String { "\(duration)" }
}

/// A `host:port` listen address; port 0 asks the system for a free port.
public struct ListenAddress: Sendable, Hashable, Decodable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port` or `:port` (all interfaces).
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = ListenAddress(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected HOST:PORT such as 0.0.0.0:8080 or 127.0.0.1:0, found '\(text)'"
            ))
        }
        self = value
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
