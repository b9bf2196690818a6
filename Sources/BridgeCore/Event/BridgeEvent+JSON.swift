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
