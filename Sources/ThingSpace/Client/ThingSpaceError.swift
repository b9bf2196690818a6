//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace client errors
//===----------------------------------------------------------------------===//

/// A ThingSpace call that failed, classified for the caller.
public struct ThingSpaceError: Error, Sendable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case transport
        case credentialsRejected = "credentials_rejected"
        case loginSuspended = "login_suspended"
        case upstreamUnavailable = "upstream_unavailable"
        case requestFailed = "request_failed"
        case unexpectedResponse = "unexpected_response"
    }

    private let _code: Code
    /// The HTTP status, when there was an answer.
    public let status: Int?
    /// ThingSpace's error code (`UnifiedWebService.REQUEST_FAILED.…`, WSO2 `900901`, OAuth `invalid_client`), when given.
    public let upstreamCode: String?
    public let message: String

    private init(_ code: Code, status: Int? = nil, upstreamCode: String? = nil, message: String) {
        self._code = code
        self.status = status
        self.upstreamCode = upstreamCode
        self.message = message
    }

    /// A stable code, safe as a metric label.
    public var code: String { _code.rawValue }

    /// Whether the same call may succeed later without anyone changing anything.
    public var isRetriable: Bool {
        switch _code {
        case .transport, .upstreamUnavailable, .loginSuspended: true
        case .credentialsRejected, .requestFailed, .unexpectedResponse: false
        }
    }

    /// Whether an operator must act (wrong OAuth client or user credentials).
    public var needsOperator: Bool { _code == .credentialsRejected }

    static func transport(_ message: String) -> ThingSpaceError { ThingSpaceError(.transport, message: message) }

    static func credentialsRejected(status: Int?, upstreamCode: String?, message: String) -> ThingSpaceError {
        ThingSpaceError(.credentialsRejected, status: status, upstreamCode: upstreamCode, message: message)
    }

    static func loginSuspended(_ message: String) -> ThingSpaceError { ThingSpaceError(.loginSuspended, message: message) }

    static func upstreamUnavailable(status: Int?, message: String) -> ThingSpaceError {
        ThingSpaceError(.upstreamUnavailable, status: status, message: message)
    }

    static func requestFailed(status: Int, upstreamCode: String?, message: String) -> ThingSpaceError {
        ThingSpaceError(.requestFailed, status: status, upstreamCode: upstreamCode, message: message)
    }

    static func unexpectedResponse(status: Int?, message: String) -> ThingSpaceError {
        ThingSpaceError(.unexpectedResponse, status: status, message: message)
    }

    public var description: String {
        var parts = ["thingspace \(code)"]
        if let status { parts.append("HTTP \(status)") }
        if let upstreamCode { parts.append(upstreamCode) }
        return parts.joined(separator: " ") + ": " + message
    }
}
