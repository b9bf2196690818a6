//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: control API values
//===----------------------------------------------------------------------===//

import ThingSpace

/// Where a running simulator listens, with the URLs a client needs.
public struct SimulatorAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `http://host:port`; a wildcard bind address is replaced by 127.0.0.1.
    public var baseURL: String {
        let reachable = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        return reachable.contains(":") ? "http://[\(reachable)]:\(port)" : "http://\(reachable):\(port)"
    }

    /// The REST root, `…/api` (what the Verizon SDKs call the `THINGSPACE` server).
    public var apiRoot: String { "\(baseURL)/api" }
    /// The OAuth server, `…/api/ts/v1` (POST `/oauth2/token` below it).
    public var oauthRoot: String { "\(apiRoot)/ts/v1" }
    /// The M2M root, `…/api/m2m/v1`; history `Location` headers are relative to it.
    public var m2mRoot: String { "\(apiRoot)/m2m/v1" }
    /// The control API root, `…/simulator`.
    public var controlRoot: String { "\(baseURL)/simulator" }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How injected MO messages travel.
public enum MODelivery: String, Sendable, Codable, Equatable {
    /// Pushed to the account's `EnhancedConnectivityService` listener; queued when there is
    /// none or the push fails (ThingSpace's behaviour).
    case push
    /// Straight into the account queue, without trying the listener: the fast path for
    /// filling the queue (100k messages in well under a second).
    case queue
}

/// "Make devices send MO SMS": the body of `POST /simulator/mo` and the argument of
/// ``ThingSpaceSimulator/sendMO(_:)``.
public struct MOSendRequest: Sendable, Codable, Equatable {
    /// The account the devices belong to.
    public var account: String
    /// The sending device. When it matches a configured device by any identifier, all of
    /// that device's identifiers are reported (as ThingSpace does); otherwise the given
    /// identifiers are used as they are. `nil`: a burst spread round-robin over the
    /// account's devices.
    public var deviceIds: [DeviceID]?
    /// The text; with `count > 1` message *i* (from 1) is `"<message> #i"`.
    public var message: String
    /// How many messages. Default 1.
    public var count: Int
    /// Default ``MODelivery/push``.
    public var deliver: MODelivery

    public init(account: String = SimulatorConfig.defaultAccount, deviceIds: [DeviceID]? = nil, message: String, count: Int = 1, deliver: MODelivery = .push) {
        self.account = account
        self.deviceIds = deviceIds
        self.message = message
        self.count = count
        self.deliver = deliver
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case account, deviceIds, message, count, deliver }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        account = try container.decode(String.self, forKey: .account)
        deviceIds = try container.decodeIfPresent([DeviceID].self, forKey: .deviceIds)
        message = try container.decodeIfPresent(String.self, forKey: .message) ?? "hello from the simulator"
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? 1
        deliver = try container.decodeIfPresent(MODelivery.self, forKey: .deliver) ?? .push
    }
}

/// What became of injected MO messages (answered once every push attempt finished).
public struct SendResult: Sendable, Codable, Equatable {
    /// Messages created.
    public var sent: Int
    /// Messages a listener accepted with a 2xx.
    public var pushed: Int
    /// Messages that ended in the queue (no listener, push failed, or `deliver: queue`).
    public var queued: Int

    public init(sent: Int, pushed: Int, queued: Int) {
        self.sent = sent
        self.pushed = pushed
        self.queued = queued
    }
}

/// Counters of one account.
public struct AccountStats: Sendable, Codable, Equatable {
    /// MO messages created by the control API.
    public var sent = 0
    /// Push attempts the listener answered with a 2xx (duplicates not included).
    public var pushedOk = 0
    /// Push attempts that failed: non-2xx, error, timeout, or an injected failure/timeout.
    public var pushFailed = 0
    /// Messages in the queue right now (served-but-unacknowledged ones included).
    public var queued = 0
    /// Messages served in history pages, re-serves included.
    public var servedByHistory = 0
    /// Messages removed from the queue by history: acknowledged by `next`, or final-page removal.
    public var acknowledged = 0
    /// Extra copies POSTed by the ``SimulatorFault/duplicatePushes(count:)`` fault.
    public var duplicatesPushed = 0
    /// Strict final-page mode: messages of a final page removed by a call from another session
    /// than the one it was served to (a client that restarted after receiving the page). If that
    /// client had not stored the page, these messages are lost upstream: ThingSpace gives no way
    /// to acknowledge a final page other than calling again.
    public var finalPageTakenByAnotherSession = 0

    public init() {}
}

/// Everything counted since start (`GET /simulator/stats`).
public struct SimulatorStats: Sendable, Codable, Equatable {
    public var accounts: [String: AccountStats]
    /// Successful session logins.
    public var logins: Int
    /// Failed session logins (wrong password, unknown or locked user).
    public var loginFailures: Int
    /// Distinct bearer tokens created (re-returning a valid token does not count).
    public var tokensIssued: Int
    /// MT messages accepted by `POST /api/m2m/v1/sms`.
    public var mtSent: Int
    /// Requests answered by an injected HTTP error.
    public var injectedHTTPErrors: Int

    /// The counters of one account (all zero for an unknown one).
    public subscript(account: String) -> AccountStats { accounts[account] ?? AccountStats() }
}

/// One MT message accepted by `POST /api/m2m/v1/sms` (`GET /simulator/mt`).
public struct MTRecord: Sendable, Codable, Equatable {
    public var requestId: String
    public var request: SendSMSRequest
    /// RFC 3339, simulator clock.
    public var receivedAt: String
}

/// What a `startCallbacks` flush did.
public struct FlushResult: Sendable, Codable, Equatable {
    /// Messages taken from the queue.
    public var attempted: Int
    /// Messages a listener accepted.
    public var pushed: Int
    /// Messages back in the queue.
    public var requeued: Int

    public init(attempted: Int, pushed: Int, requeued: Int) {
        self.attempted = attempted
        self.pushed = pushed
        self.requeued = requeued
    }
}

/// A control-API misuse (unknown account or user, bad argument).
public struct SimulatorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable code: `unknown_account`, `unknown_user`, `no_listener`, `invalid_argument`.
    public let code: String
    public let message: String

    static func unknownAccount(_ name: String) -> SimulatorError {
        SimulatorError(code: "unknown_account", message: "unknown account '\(name)'")
    }

    static func noListener(_ account: String) -> SimulatorError {
        SimulatorError(code: "no_listener", message: "account '\(account)' has no \(CallbackServiceName.enhancedConnectivity) listener registered")
    }

    static func invalid(_ message: String) -> SimulatorError { SimulatorError(code: "invalid_argument", message: message) }

    public var description: String { "\(code): \(message)" }
}
