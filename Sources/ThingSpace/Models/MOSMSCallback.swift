//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace wire models
//===----------------------------------------------------------------------===//

import Foundation

/// A mobile-originated SMS as ThingSpace POSTs it to an `EnhancedConnectivityService` listener.
///
/// The exact REST body is not published (thingspace-api.md §3.2), so parsing is tolerant:
/// the text may be in `smsMessage`, `message`, or nested one level down in
/// `deviceResponse.<anything>.smsMessage|message`; the device identifiers come from the
/// top-level `deviceIds` (or the nested object's); `requestId`, `timestamp`,
/// `callbackCount`, `maxCallbackThreshold` and `status` are optional.
public struct MOSMSCallback: Sendable, Equatable {
    public var username: String?
    public var password: String?
    public var requestID: String?
    public var deviceIDs: [DeviceID]
    public var text: String
    /// ThingSpace's own receive time, verbatim (RFC 3339 with offset), when present.
    public var timestamp: String?
    public var callbackCount: Int?
    public var maxCallbackThreshold: Int?

    public init(
        username: String? = nil, password: String? = nil, requestID: String? = nil,
        deviceIDs: [DeviceID], text: String, timestamp: String? = nil,
        callbackCount: Int? = nil, maxCallbackThreshold: Int? = nil
    ) {
        self.username = username
        self.password = password
        self.requestID = requestID
        self.deviceIDs = deviceIDs
        self.text = text
        self.timestamp = timestamp
        self.callbackCount = callbackCount
        self.maxCallbackThreshold = maxCallbackThreshold
    }
}

/// Why a callback body could not be read as an MO SMS.
public struct CallbackParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, payload-free code, safe as a metric label.
    public let code: String
    /// A human-readable explanation (never contains the SMS text).
    public let message: String

    public static let notJSONObject = CallbackParseError(code: "not_json_object", message: "body is not a JSON object")
    public static let missingText = CallbackParseError(
        code: "missing_text",
        message: "no SMS text found in smsMessage, message or deviceResponse.*.smsMessage|message"
    )
    public static let missingDeviceIDs = CallbackParseError(
        code: "missing_device_ids", message: "no usable deviceIds ([{id, kind}] with non-empty strings)"
    )

    public var description: String { "\(code): \(message)" }
}

/// The credentials ThingSpace copies into a callback body, read before anything else.
///
/// Kept apart from ``MOSMSCallback`` so that a body can be authenticated even when the
/// rest of it cannot be parsed (it is then quarantined, not dropped).
public struct CallbackEnvelope {
    public var username: String?
    public var password: String?
    /// The decoded JSON object.
    let object: JSONObject

    /// Reads a body as a JSON object.
    /// - Throws: ``CallbackParseError/notJSONObject`` when the body is not a JSON object.
    public init(body: some Collection<UInt8>) throws(CallbackParseError) {
        guard let object = (try? JSONValue(parsing: body))?.object else { throw .notJSONObject }
        self.object = object
        self.username = object["username"]?.string
        self.password = object["password"]?.string
    }

    /// Interprets the envelope as an MO SMS callback.
    public func moSMS() throws(CallbackParseError) -> MOSMSCallback {
        var nested: JSONObject?
        if let response = object["deviceResponse"]?.object {
            // `deviceResponse` holds one service-specific object; take the first that has text.
            for key in response.keys.sorted() {
                if let inner = response[key]?.object, Self.text(in: inner) != nil {
                    nested = inner
                    break
                }
            }
        }
        guard let text = Self.text(in: object) ?? nested.flatMap(Self.text(in:)) else {
            throw .missingText
        }
        var ids = Self.deviceIDs(in: object["deviceIds"])
        if ids.isEmpty, let nested { ids = Self.deviceIDs(in: nested["deviceIds"]) }
        guard !ids.isEmpty else { throw .missingDeviceIDs }
        return MOSMSCallback(
            username: username,
            password: password,
            requestID: Self.string(object["requestId"]) ?? nested.flatMap { Self.string($0["requestId"]) },
            deviceIDs: ids,
            text: text,
            timestamp: Self.string(object["timestamp"]) ?? nested.flatMap { Self.string($0["timestamp"]) },
            callbackCount: object["callbackCount"].flatMap(Self.int),
            maxCallbackThreshold: object["maxCallbackThreshold"].flatMap(Self.int)
        )
    }

    private static func text(in object: JSONObject) -> String? {
        object["smsMessage"]?.string ?? object["message"]?.string
    }

    /// `[{"id", "kind"}]`, skipping entries without both; each identifier once.
    static func deviceIDs(in value: JSONValue?) -> [DeviceID] {
        guard let list = value?.array else { return [] }
        var result: [DeviceID] = []
        for item in list {
            guard let id = string(item["id"]), let kind = item["kind"]?.string, !kind.isEmpty else { continue }
            let device = DeviceID(kind: kind, id: id)
            if !result.contains(device) { result.append(device) }
        }
        return result
    }

    /// A non-empty string, or a number written as one (some producers send numeric ids).
    static func string(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let string): return string.isEmpty ? nil : string
        case .number(let literal): return literal
        default: return nil
        }
    }

    private static func int(_ value: JSONValue) -> Int? {
        value.int ?? value.string.flatMap { Int($0) }
    }
}
