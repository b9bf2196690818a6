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
    public static func make(account: String, device: DeviceID, text: String, requestID: String?, timestamp: String?) -> String {
        let material: String
        if let requestID {
            material = "r\u{1F}\(account)\u{1F}\(requestID)"
        } else if let timestamp {
            material = "t\u{1F}\(account)\u{1F}\(device.kind):\(device.id)\u{1F}\(timestamp)\u{1F}\(text)"
        } else {
            return UUID().uuidString.lowercased()
        }
        let digest = SHA256.hash(data: Data(material.utf8))
        let hex = digest.prefix(16).map { String(format: "%02x", $0) }.joined()
        // Shape it like a UUID so downstream schemas that expect one accept it.
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
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
public enum Timestamps {
    /// `2026-11-29T02:13:56.123Z`
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    /// Parses RFC 3339 with or without fractional seconds and with `Z` or an offset.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}
