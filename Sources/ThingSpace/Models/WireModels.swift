//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace REST wire models (thingspace-api.md §1–§5)
//===----------------------------------------------------------------------===//

/// `POST /api/ts/v1/oauth2/token` answer.
public struct OAuthToken: Sendable, Codable, Equatable {
    public var accessToken: String
    public var tokenType: String
    /// Seconds until expiry, as ThingSpace counts them (3600 for a new token).
    public var expiresIn: Int
    public var scope: String?

    public init(accessToken: String, tokenType: String = "Bearer", expiresIn: Int, scope: String? = nil) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.scope = scope
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case accessToken = "access_token", tokenType = "token_type", expiresIn = "expires_in", scope
    }
}

/// OAuth-style error body from the token endpoint (`invalid_client`, …).
public struct OAuthErrorBody: Sendable, Codable, Equatable {
    public var error: String
    public var errorDescription: String?

    public init(error: String, errorDescription: String? = nil) {
        self.error = error
        self.errorDescription = errorDescription
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case error, errorDescription = "error_description" }
}

/// WSO2 gateway fault for bearer problems: `{"fault":{"code":"900901","message":"Invalid Credentials",...}}`.
public struct GatewayFaultBody: Sendable, Codable, Equatable {
    public struct Fault: Sendable, Codable, Equatable {
        public var code: String
        public var message: String
        public var description: String?

        public init(code: String, message: String, description: String? = nil) {
            self.code = code
            self.message = message
            self.description = description
        }
    }

    public var fault: Fault

    public init(fault: Fault) { self.fault = fault }

    /// Bearer expired or wrong.
    public static let invalidCredentials = GatewayFaultBody(fault: .init(code: "900901", message: "Invalid Credentials", description: "Access failure for API: /api/m2m, version: v1 status: (900901) - Invalid Credentials. Make sure you have given the correct access token"))
    /// No bearer at all.
    public static let missingCredentials = GatewayFaultBody(fault: .init(code: "900902", message: "Missing Credentials", description: "Required OAuth credentials not provided"))
}

/// The synchronous error envelope: `{"errorCode": "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", "errorMessage": "..."}`.
public struct ErrorEnvelope: Sendable, Codable, Equatable {
    public var errorCode: String
    public var errorMessage: String

    public init(errorCode: String, errorMessage: String) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
    }

    /// The code without its service prefix (`REQUEST_FAILED.SessionToken.Expired`): match on this,
    /// the prefix and the message are not stable.
    public var detail: String {
        guard let dot = errorCode.firstIndex(of: "."), errorCode[..<dot].contains(where: \.isLowercase) else { return errorCode }
        return String(errorCode[errorCode.index(after: dot)...])
    }
}

/// `POST /api/m2m/v1/session/login` body.
public struct LoginRequest: Sendable, Codable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// `POST /api/m2m/v1/session/login` and `/logout` answer.
public struct SessionTokenBody: Sendable, Codable, Equatable {
    public var sessionToken: String

    public init(sessionToken: String) { self.sessionToken = sessionToken }
}

/// One queued MO SMS in a history page.
public struct SMSMessage: Sendable, Codable, Equatable {
    public var deviceIds: [DeviceID]
    public var message: String
    /// RFC 3339 with offset, when ThingSpace received it.
    public var timestamp: String?

    public init(deviceIds: [DeviceID], message: String, timestamp: String?) {
        self.deviceIds = deviceIds
        self.message = message
        self.timestamp = timestamp
    }
}

/// `GET /api/m2m/v1/sms/{account}/history` body (200 last page, 202 more to come).
public struct SMSHistoryPage: Sendable, Codable, Equatable {
    public var messages: [SMSMessage]
    public var hasMoreData: Bool

    public init(messages: [SMSMessage], hasMoreData: Bool) {
        self.messages = messages
        self.hasMoreData = hasMoreData
    }
}

extension SMSHistoryPage {
    /// Reads a history page with ``JSONValue`` (a page is the drain's hot path; `JSONDecoder`
    /// was a sixth of a drain's CPU). Same contract as the `Decodable` conformance:
    /// `messages` and `hasMoreData` are required, each message needs `deviceIds` and `message`.
    public init(json bytes: some Collection<UInt8>) throws(JSONParseError) {
        let document = try JSONValue(parsing: bytes)
        guard let list = document["messages"]?.array else { throw JSONParseError(offset: 0, reason: "no 'messages' array") }
        guard let more = document["hasMoreData"]?.bool else { throw JSONParseError(offset: 0, reason: "no 'hasMoreData' boolean") }
        var messages: [SMSMessage] = []
        messages.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            guard let text = entry["message"]?.string, let ids = entry["deviceIds"]?.array else {
                throw JSONParseError(offset: 0, reason: "message \(index) lacks 'message' or 'deviceIds'")
            }
            var deviceIds: [DeviceID] = []
            deviceIds.reserveCapacity(ids.count)
            for id in ids {
                guard let kind = id["kind"]?.string, let value = id["id"]?.string else {
                    throw JSONParseError(offset: 0, reason: "message \(index) has a device id without 'kind' and 'id'")
                }
                deviceIds.append(DeviceID(kind: kind, id: value))
            }
            let timestamp: String?
            switch entry["timestamp"] {
            case nil, .null?: timestamp = nil
            case .string(let value)?: timestamp = value
            default: throw JSONParseError(offset: 0, reason: "message \(index) has a 'timestamp' that is not a string")
            }
            messages.append(SMSMessage(deviceIds: deviceIds, message: text, timestamp: timestamp))
        }
        self.init(messages: messages, hasMoreData: more)
    }
}

extension SMSHistoryPage {
    /// The page as JSON, written by hand: byte for byte what `JSONEncoder` writes with
    /// `.sortedKeys, .withoutEscapingSlashes` (a test holds the two together). The simulator
    /// serves pages with it, on the drain benchmark's hot path.
    package func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + messages.count * 160)
        out.append(UInt8(ascii: "{"))
        JSONOut.key("hasMoreData", first: true, into: &out)
        out.append(contentsOf: hasMoreData ? Array("true".utf8) : Array("false".utf8))
        JSONOut.key("messages", into: &out)
        out.append(UInt8(ascii: "["))
        for (index, message) in messages.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            JSONOut.key("deviceIds", first: true, into: &out)
            out.append(UInt8(ascii: "["))
            for (position, id) in message.deviceIds.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                JSONOut.device(id, into: &out)
            }
            out.append(UInt8(ascii: "]"))
            JSONOut.field("message", message.message, into: &out)
            if let timestamp = message.timestamp { JSONOut.field("timestamp", timestamp, into: &out) }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: "}")])
        return out
    }
}

/// `{"success": true}` (startCallbacks).
public struct SuccessBody: Sendable, Codable, Equatable {
    public var success: Bool

    public init(success: Bool) { self.success = success }
}

/// `POST /api/m2m/v1/callbacks/{account}` body. Note: the request says `name`, answers say `serviceName`.
public struct RegisterCallbackRequest: Sendable, Codable, Equatable {
    public var name: String
    public var url: String
    public var username: String?
    public var password: String?

    public init(name: String, url: String, username: String? = nil, password: String? = nil) {
        self.name = name
        self.url = url
        self.username = username
        self.password = password
    }
}

/// Answer to register and deregister.
public struct CallbackActionResult: Sendable, Codable, Equatable {
    public var accountName: String
    public var serviceName: String

    public init(accountName: String, serviceName: String) {
        self.accountName = accountName
        self.serviceName = serviceName
    }
}

/// One entry of `GET /api/m2m/v1/callbacks/{account}`.
public struct CallbackListener: Sendable, Codable, Equatable {
    public var accountName: String
    public var serviceName: String
    public var url: String
    public var username: String?
    public var password: String?

    public init(accountName: String, serviceName: String, url: String, username: String? = nil, password: String? = nil) {
        self.accountName = accountName
        self.serviceName = serviceName
        self.url = url
        self.username = username
        self.password = password
    }
}

/// `POST /api/m2m/v1/sms` body (MT send).
public struct SendSMSRequest: Sendable, Codable, Equatable {
    public var accountName: String
    public var smsMessage: String
    public var deviceIds: [DeviceID]?
    public var groupName: String?
    public var servicePlan: String?
    public var dataEncoding: String?
    public var timeToLive: String?

    public init(accountName: String, smsMessage: String, deviceIds: [DeviceID]? = nil, groupName: String? = nil,
                servicePlan: String? = nil, dataEncoding: String? = nil, timeToLive: String? = nil) {
        self.accountName = accountName
        self.smsMessage = smsMessage
        self.deviceIds = deviceIds
        self.groupName = groupName
        self.servicePlan = servicePlan
        self.dataEncoding = dataEncoding
        self.timeToLive = timeToLive
    }
}

/// `{"requestId": "..."}` (MT send).
public struct RequestIDBody: Sendable, Codable, Equatable {
    public var requestId: String

    public init(requestId: String) { self.requestId = requestId }
}

/// The MO SMS callback body ThingSpace POSTs (best reconstruction, thingspace-api.md §3.2).
/// Used by the simulator to push, and by tests; the gateway parses tolerantly with ``CallbackEnvelope``.
public struct MOSMSCallbackBody: Sendable, Codable, Equatable {
    public var username: String
    public var password: String
    public var requestId: String
    public var deviceIds: [DeviceID]
    public var smsMessage: String
    public var timestamp: String?
    public var callbackCount: Int
    public var maxCallbackThreshold: Int

    public init(username: String, password: String, requestId: String, deviceIds: [DeviceID], smsMessage: String,
                timestamp: String?, callbackCount: Int = 1, maxCallbackThreshold: Int = 4) {
        self.username = username
        self.password = password
        self.requestId = requestId
        self.deviceIds = deviceIds
        self.smsMessage = smsMessage
        self.timestamp = timestamp
        self.callbackCount = callbackCount
        self.maxCallbackThreshold = maxCallbackThreshold
    }
}

/// The service names ThingBridge uses (thingspace-api.md §1.6).
public enum CallbackServiceName {
    /// MO SMS from devices.
    public static let enhancedConnectivity = "EnhancedConnectivityService"
    /// MT SMS delivery confirmations.
    public static let smsDeliveryConfirmation = "SMSDeliveryConfirmation"
}
