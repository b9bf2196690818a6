//===----------------------------------------------------------------------===//
// ThingBridge — the normalized event
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// How an event reached ThingBridge.
public enum Channel: String, Sendable, Codable, CaseIterable {
    /// ThingSpace POSTed it to our callback listener.
    case callback
    /// The history poller read it from the account's queue.
    case poll
}

/// One MO SMS, normalized: a CloudEvents 1.0 event in structured mode.
///
/// This is the unit that the journal stores, the router matches and every sink receives.
/// Field names are the CloudEvents attribute names, so `JSONEncoder` output *is* the
/// structured-mode JSON representation.
public struct BridgeEvent: Sendable, Codable, Equatable {
    public static let smsType = "com.verizon.thingspace.sms.mo"

    public var specversion: String = "1.0"
    /// Stable for the same upstream message (see ``EventID``), so it is also the dedup key.
    public var id: String
    /// `/thingspace/accounts/{account}`.
    public var source: String
    public var type: String = BridgeEvent.smsType
    /// The device's primary identifier (see ``DeviceID/primary(of:)``).
    public var subject: String
    /// ThingSpace's timestamp when it gave one, else the time ThingBridge received the message (UTC, RFC 3339).
    public var time: String
    public var datacontenttype: String = "application/json"
    public var data: SMSData

    public init(id: String, source: String, subject: String, time: String, data: SMSData) {
        self.id = id
        self.source = source
        self.subject = subject
        self.time = time
        self.data = data
    }

    /// The event as one line of structured-mode CloudEvents JSON (keys sorted, no trailing newline).
    public func jsonData() throws -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        writeJSON(into: &bytes)
        return Data(bytes)
    }

    public static func decode(_ data: Data) throws -> BridgeEvent {
        // Member by member, without a JSON tree; a document this does not take (wrong shape,
        // bad JSON) is read again as a tree, for the precise error (or the same event).
        if let event = data.withUnsafeBytes({ Self.read($0) }) { return event }
        return try BridgeEvent(json: JSONValue(parsing: data))
    }

    /// Reads a structured-mode event as ``jsonData()`` writes it (the journal's `body`), with the
    /// same requirements as the `Decodable` conformance. Every delivery reads its event back, so
    /// this avoids `JSONDecoder`, which was the dispatcher's largest cost.
    init(json: JSONValue) throws(EventDecodingError) {
        func string(_ value: JSONValue?, _ name: String) throws(EventDecodingError) -> String {
            guard let string = value?.string else { throw EventDecodingError(field: name) }
            return string
        }
        func optionalString(_ value: JSONValue?, _ name: String) throws(EventDecodingError) -> String? {
            switch value {
            case nil, .null?: return nil
            case .string(let string)?: return string
            default: throw EventDecodingError(field: name)
            }
        }
        func device(_ value: JSONValue?, _ name: String) throws(EventDecodingError) -> DeviceID {
            DeviceID(kind: try string(value?["kind"], name + ".kind"), id: try string(value?["id"], name + ".id"))
        }
        guard let data = json["data"], data.object != nil else { throw EventDecodingError(field: "data") }
        guard let channel = Channel(rawValue: try string(data["channel"], "data.channel")) else {
            throw EventDecodingError(field: "data.channel")
        }
        guard let list = data["deviceIds"]?.array else { throw EventDecodingError(field: "data.deviceIds") }
        var deviceIds: [DeviceID] = []
        deviceIds.reserveCapacity(list.count)
        for entry in list { deviceIds.append(try device(entry, "data.deviceIds")) }
        let callbackCount: Int?
        switch data["callbackCount"] {
        case nil, .null?: callbackCount = nil
        case let value?:
            guard let count = value.int else { throw EventDecodingError(field: "data.callbackCount") }
            callbackCount = count
        }
        let payload = SMSData(
            account: try string(data["account"], "data.account"), device: try device(data["device"], "data.device"),
            deviceIds: deviceIds, text: try string(data["text"], "data.text"), channel: channel,
            receivedAt: try string(data["receivedAt"], "data.receivedAt"),
            requestId: try optionalString(data["requestId"], "data.requestId"),
            timestamp: try optionalString(data["timestamp"], "data.timestamp"), callbackCount: callbackCount
        )
        self.init(
            id: try string(json["id"], "id"), source: try string(json["source"], "source"),
            subject: try string(json["subject"], "subject"), time: try string(json["time"], "time"), data: payload
        )
        specversion = try string(json["specversion"], "specversion")
        type = try string(json["type"], "type")
        datacontenttype = try string(json["datacontenttype"], "datacontenttype")
    }

    /// Foundation's encoding of an event: the reference that ``jsonData()`` is tested against.
    public static func foundationJSON(_ event: BridgeEvent) throws -> Data { try encoder.encode(event) }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// A stored event lacks a field or has one of the wrong type.
public struct EventDecodingError: Error, CustomStringConvertible {
    public var field: String
    public var description: String { "event JSON: missing or invalid '\(field)'" }
}

/// The `data` of an MO SMS event.
public struct SMSData: Sendable, Codable, Equatable {
    /// The ThingSpace account name (leading zeros kept).
    public var account: String
    /// The primary identifier, also the event's `subject`.
    public var device: DeviceID
    /// Every identifier ThingSpace gave for the sender, kinds lower-cased.
    public var deviceIds: [DeviceID]
    /// The SMS text, exactly as received.
    public var text: String
    public var channel: Channel
    /// When ThingBridge received it (UTC, RFC 3339 with milliseconds).
    public var receivedAt: String
    /// ThingSpace's request id, when the callback carried one.
    public var requestId: String?
    /// ThingSpace's timestamp, verbatim, when present.
    public var timestamp: String?
    /// Which delivery attempt of ThingSpace's this was, when the callback said so.
    public var callbackCount: Int?

    public init(
        account: String, device: DeviceID, deviceIds: [DeviceID], text: String, channel: Channel,
        receivedAt: String, requestId: String? = nil, timestamp: String? = nil, callbackCount: Int? = nil
    ) {
        self.account = account
        self.device = device
        self.deviceIds = deviceIds
        self.text = text
        self.channel = channel
        self.receivedAt = receivedAt
        self.requestId = requestId
        self.timestamp = timestamp
        self.callbackCount = callbackCount
    }
}
