//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace message → BridgeEvent
//===----------------------------------------------------------------------===//

import Crypto
import Foundation
import ThingSpace

/// Derives an event's id from what identifies the upstream message.
///
/// The id must be the same each time ThingSpace hands us the same message (callback
/// retries, re-served history pages), because it is the dedup key. In order of preference:
/// - ThingSpace's `requestId` (per message, kept across callback retries);
/// - ThingSpace's `timestamp` together with the device and the text;
/// - neither: the message cannot be recognised again, so it gets a random id and is never
///   de-duplicated (dropping a real repeat such as a second "PING" would lose data).
public enum EventID {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func make(account: String, device: DeviceID, text: String, requestID: String?, timestamp: String?) -> String {
        let material: String
        if let requestID {
            material = "r\u{1F}\(account)\u{1F}\(requestID)"
        } else if let timestamp {
            material = "t\u{1F}\(account)\u{1F}\(device.kind):\(device.id)\u{1F}\(timestamp)\u{1F}\(text)"
        } else {
            return UUID().uuidString.lowercased()
        }
        var text = material
        let digest = text.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        // Shaped like a UUID (8-4-4-4-12 hex digits) so downstream schemas that expect one accept it.
        let digits = hexDigits
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, byte) in digest.prefix(16).enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Turns ThingSpace messages into ``BridgeEvent``s.
public enum EventNormalizer {
    /// Normalizes an MO SMS.
    /// - Parameters:
    ///   - message: The parsed callback (or history entry, with `channel: .poll`).
    ///   - account: The account it arrived for.
    ///   - channel: How it arrived.
    ///   - receivedAt: When ThingBridge received it.
    public static func normalize(_ message: MOSMSCallback, account: String, channel: Channel, receivedAt: Date) -> BridgeEvent {
        // `MOSMSCallback` guarantees at least one identifier.
        let device = DeviceID.primary(of: message.deviceIDs) ?? DeviceID(kind: "unknown", id: "unknown")
        let received = Timestamps.format(receivedAt)
        let time = message.timestamp.flatMap(Timestamps.parse).map(Timestamps.format) ?? received
        let data = SMSData(
            account: account,
            device: device,
            deviceIds: message.deviceIDs,
            text: message.text,
            channel: channel,
            receivedAt: received,
            requestId: message.requestID,
            timestamp: message.timestamp,
            callbackCount: message.callbackCount
        )
        return BridgeEvent(
            id: EventID.make(
                account: account, device: device, text: message.text,
                requestID: message.requestID, timestamp: message.timestamp
            ),
            source: "/thingspace/accounts/\(account)",
            subject: device.id,
            time: time,
            data: data
        )
    }
}

/// RFC 3339 formatting and parsing.
///
/// Hand-written for the one shape ThingSpace and ThingBridge use, because Foundation's
/// formatters cost tens of microseconds per call on Linux, and every event needs two.
public enum Timestamps {
    /// `2026-11-29T02:13:56.123Z` (UTC, milliseconds).
    public static func format(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(totalMilliseconds / 1000)
        var milliseconds = Int(totalMilliseconds % 1000)
        if milliseconds < 0 {
            milliseconds += 1000
            seconds -= 1
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        // Digits written in place: no array per component.
        func put(_ value: Int, width: Int) {
            let start = out.count
            var rest = value
            for _ in 0..<width {
                out.append(UInt8(ascii: "0") + UInt8(rest % 10))
                rest /= 10
            }
            out[start..<out.count].reverse()
        }
        put(Int(parts.tm_year) + 1900, width: 4)
        out.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mon) + 1, width: 2)
        out.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mday), width: 2)
        out.append(UInt8(ascii: "T"))
        put(Int(parts.tm_hour), width: 2)
        out.append(UInt8(ascii: ":"))
        put(Int(parts.tm_min), width: 2)
        out.append(UInt8(ascii: ":"))
        put(Int(parts.tm_sec), width: 2)
        out.append(UInt8(ascii: "."))
        put(milliseconds, width: 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20,
              let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = number(8, 2), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"),
              let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < bytes.count else { return nil }
        var offsetSeconds = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, let hours = number(index + 1, 2), bytes[index + 3] == UInt8(ascii: ":"),
                  let minutes = number(index + 4, 2), hours < 24, minutes < 60
            else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let utc = timegm(&parts)
        return Date(timeIntervalSince1970: Double(utc - offsetSeconds) + fraction)
    }
}
