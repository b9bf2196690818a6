//===----------------------------------------------------------------------===//
// ThingBridge — the CloudEvent's JSON, written by hand
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

extension BridgeEvent {
    /// The event as structured-mode CloudEvents JSON: keys sorted, no insignificant whitespace,
    /// `/` not escaped, non-ASCII as UTF-8.
    ///
    /// Written by hand because `JSONEncoder` was a third of the cost of journaling a page; the
    /// output is byte-for-byte what `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes`
    /// produces (a test holds the two together).
    func writeJSON(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONOut.key("data", first: true, into: &out)
        data.writeJSON(into: &out)
        JSONOut.field("datacontenttype", datacontenttype, into: &out)
        JSONOut.field("id", id, into: &out)
        JSONOut.field("source", source, into: &out)
        JSONOut.field("specversion", specversion, into: &out)
        JSONOut.field("subject", subject, into: &out)
        JSONOut.field("time", time, into: &out)
        JSONOut.field("type", type, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension SMSData {
    func writeJSON(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONOut.key("account", first: true, into: &out)
        JSONOut.string(account, into: &out)
        if let callbackCount {
            JSONOut.key("callbackCount", into: &out)
            out.append(contentsOf: Array(String(callbackCount).utf8))
        }
        JSONOut.field("channel", channel.rawValue, into: &out)
        JSONOut.key("device", into: &out)
        JSONOut.device(device, into: &out)
        JSONOut.key("deviceIds", into: &out)
        out.append(UInt8(ascii: "["))
        for (index, id) in deviceIds.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONOut.device(id, into: &out)
        }
        out.append(UInt8(ascii: "]"))
        JSONOut.field("receivedAt", receivedAt, into: &out)
        if let requestId { JSONOut.field("requestId", requestId, into: &out) }
        JSONOut.field("text", text, into: &out)
        if let timestamp { JSONOut.field("timestamp", timestamp, into: &out) }
        out.append(UInt8(ascii: "}"))
    }
}

/// Minimal JSON writing helpers.
enum JSONOut {
    static func key(_ name: String, first: Bool = false, into out: inout [UInt8]) {
        if !first { out.append(UInt8(ascii: ",")) }
        string(name, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    static func field(_ name: String, _ value: String, into out: inout [UInt8]) {
        key(name, into: &out)
        string(value, into: &out)
    }

    static func device(_ device: DeviceID, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        key("id", first: true, into: &out)
        string(device.id, into: &out)
        field("kind", device.kind, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`.
    static func string(_ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            // Copy runs of bytes that need no escaping in one go; escape the rest one by one.
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                default:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
                }
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}
