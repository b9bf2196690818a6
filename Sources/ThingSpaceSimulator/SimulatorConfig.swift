//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: configuration
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import ThingSpace

/// What the simulator knows: accounts and their devices, OAuth clients, UWS users, and the
/// knobs of the behaviours that thingspace-api.md leaves open.
///
/// ``SimulatorConfig/init()`` is a ready-to-use world (one account, one OAuth client, one
/// user, three devices). A YAML file (``load(path:environment:)``) may set any subset of
/// the keys below; omitted keys keep their defaults, unknown keys are errors with
/// file:line:column.
///
/// ```yaml
/// accounts:
///   - name: "0000123456-00001"
///     devices:
///       - { mdn: "7022895555", esn: "60E5F99D" }
/// oauthClients:
///   - { key: demo-key, secret: demo-secret }
/// users:
///   - { username: demo-user, password: demo-pass }
/// pageSize: 100
/// finalPageMode: removeOnDelivery   # or strict
/// sessionIdleTimeout: 20m
/// tokenLifetime: 1h
/// callbackTimeout: 5s
/// pushAttempts: 1
/// ```
public struct SimulatorConfig: Sendable, Decodable {
    /// Accounts, each with the devices that can send MO SMS. Default: ``defaultAccount``
    /// with three devices.
    public var accounts: [Account]
    /// OAuth clients (app key and secret) accepted by the token endpoint. Default
    /// ``defaultClientKey`` / ``defaultClientSecret``.
    public var oauthClients: [OAuthClient]
    /// UWS users accepted by session login. Default ``defaultUsername`` / ``defaultPassword``.
    public var users: [User]
    /// Messages per history page. Default 100, as ThingSpace.
    public var pageSize: Int
    /// What happens to the final (200) history page. Default ``FinalPageMode/removeOnDelivery``.
    public var finalPageMode: FinalPageMode
    /// A session token unused for longer than this expires. Default 20 minutes.
    public var sessionIdleTimeout: Duration
    /// Lifetime of an OAuth bearer from its first issue. Default 1 hour.
    public var tokenLifetime: Duration
    /// How long a callback POST may take before it counts as failed. Default 5 seconds.
    public var callbackTimeout: Duration
    /// Push attempts per delivery round before a message goes to the queue. Default 1.
    public var pushAttempts: Int
    /// Consecutive failed logins after which a user is locked. Default 5.
    public var lockoutThreshold: Int
    /// The UTC offset written in message timestamps, `±HH:MM`. Default `-08:00` (the offset
    /// in Verizon's examples), so that clients meet a non-UTC offset.
    public var timestampOffset: String
    /// What `GET /callbacks/{account}` answers when no listener is registered. Default
    /// ``EmptyListenerList/emptyArray``.
    public var emptyListenerList: EmptyListenerList
    /// Devices generated for an account configured without any. Default 10.
    public var generatedDevices: Int

    /// The default account name.
    public static let defaultAccount = "0000123456-00001"
    /// The default OAuth app key.
    public static let defaultClientKey = "demo-key"
    /// The default OAuth app secret.
    public static let defaultClientSecret = "demo-secret"
    /// The default UWS user.
    public static let defaultUsername = "demo-user"
    /// The default UWS password.
    public static let defaultPassword = "demo-pass"

    /// The devices of the default account: each has an MDN plus an ESN and/or an ICCID.
    public static let defaultDevices: [Device] = [
        Device(ids: [DeviceID(kind: "mdn", id: "7022895555"), DeviceID(kind: "esn", id: "60E5F99D")]),
        Device(ids: [DeviceID(kind: "mdn", id: "7022895556"), DeviceID(kind: "iccid", id: "89148000000012345678")]),
        Device(ids: [
            DeviceID(kind: "mdn", id: "7022895557"), DeviceID(kind: "esn", id: "60E5F9A1"),
            DeviceID(kind: "iccid", id: "89148000000012345679"),
        ]),
    ]

    public init(
        accounts: [Account] = [Account(name: SimulatorConfig.defaultAccount, devices: SimulatorConfig.defaultDevices)],
        oauthClients: [OAuthClient] = [OAuthClient(key: SimulatorConfig.defaultClientKey, secret: SimulatorConfig.defaultClientSecret)],
        users: [User] = [User(username: SimulatorConfig.defaultUsername, password: SimulatorConfig.defaultPassword)],
        pageSize: Int = 100,
        finalPageMode: FinalPageMode = .removeOnDelivery,
        sessionIdleTimeout: Duration = .seconds(20 * 60),
        tokenLifetime: Duration = .seconds(3600),
        callbackTimeout: Duration = .seconds(5),
        pushAttempts: Int = 1,
        lockoutThreshold: Int = 5,
        timestampOffset: String = "-08:00",
        emptyListenerList: EmptyListenerList = .emptyArray,
        generatedDevices: Int = 10
    ) {
        self.accounts = accounts
        self.oauthClients = oauthClients
        self.users = users
        self.pageSize = pageSize
        self.finalPageMode = finalPageMode
        self.sessionIdleTimeout = sessionIdleTimeout
        self.tokenLifetime = tokenLifetime
        self.callbackTimeout = callbackTimeout
        self.pushAttempts = pushAttempts
        self.lockoutThreshold = lockoutThreshold
        self.timestampOffset = timestampOffset
        self.emptyListenerList = emptyListenerList
        self.generatedDevices = generatedDevices
    }

    // MARK: - Nested types

    /// `accounts[]`: an account name (leading zeros kept) and its devices.
    public struct Account: Sendable, Decodable, Equatable {
        public var name: String
        /// Empty: ``SimulatorConfig/generatedDevices`` devices are made up at start.
        public var devices: [Device]

        public init(name: String, devices: [Device] = []) {
            self.name = name
            self.devices = devices
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case name, devices }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            devices = try container.decodeIfPresent([Device].self, forKey: .devices) ?? []
            if name.isEmpty {
                throw DecodingError.dataCorruptedError(forKey: .name, in: container, debugDescription: "an account name cannot be empty")
            }
        }
    }

    /// One device: every identifier ThingSpace knows for it (they all appear in `deviceIds`).
    ///
    /// In YAML a mapping from kind to value, e.g. `{ mdn: "7022895555", esn: "60E5F99D" }`;
    /// the known kinds are listed in ``Device/kinds``, so a typo is an error.
    public struct Device: Sendable, Decodable, Equatable {
        public var ids: [DeviceID]

        public init(ids: [DeviceID]) { self.ids = ids }

        /// The identifier kinds a device entry may use, in the order they are written out.
        public static let kinds = ["mdn", "msisdn", "esn", "meid", "iccid", "imei", "imsi", "eid"]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            if let unknown = container.allKeys.first(where: { !Self.kinds.contains($0.stringValue) }) {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath,
                    debugDescription: "unknown identifier kind '\(unknown.stringValue)' (known: \(Self.kinds.joined(separator: ", ")))"
                ))
            }
            var ids: [DeviceID] = []
            for kind in Self.kinds {
                if let value = try container.decodeIfPresent(String.self, forKey: Key(stringValue: kind)), !value.isEmpty {
                    ids.append(DeviceID(kind: kind, id: value))
                }
            }
            guard !ids.isEmpty else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a device needs at least one identifier (\(Self.kinds.joined(separator: ", ")))"
                ))
            }
            self.ids = ids
        }
    }

    /// `oauthClients[]`: an app key and secret.
    public struct OAuthClient: Sendable, Decodable, Equatable {
        public var key: String
        public var secret: String

        public init(key: String, secret: String) {
            self.key = key
            self.secret = secret
        }
    }

    /// `users[]`: a UWS username and password for session login.
    public struct User: Sendable, Decodable, Equatable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// How the last history page (status 200, no `Location`) is acknowledged; the docs do
    /// not say (thingspace-api.md §2.1).
    public enum FinalPageMode: String, Sendable, Decodable, Equatable {
        /// The final page's messages are removed as soon as they are served.
        case removeOnDelivery
        /// The final page's messages stay queued until the next `GET /history` of the
        /// account arrives, which removes them before serving anything.
        case strict
    }

    /// The answer to listing callbacks when there are none: the docs say "empty body".
    public enum EmptyListenerList: String, Sendable, Decodable, Equatable {
        /// `200` with `[]`.
        case emptyArray
        /// `200` with no body at all, as the docs describe.
        case emptyBody
    }

    // MARK: - Decoding

    enum CodingKeys: String, CodingKey, CaseIterable {
        case accounts, oauthClients, users, pageSize, finalPageMode, sessionIdleTimeout, tokenLifetime
        case callbackTimeout, pushAttempts, lockoutThreshold, timestampOffset, emptyListenerList, generatedDevices
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SimulatorConfig()
        accounts = try container.decodeIfPresent([Account].self, forKey: .accounts) ?? defaults.accounts
        oauthClients = try container.decodeIfPresent([OAuthClient].self, forKey: .oauthClients) ?? defaults.oauthClients
        users = try container.decodeIfPresent([User].self, forKey: .users) ?? defaults.users
        pageSize = try container.decodeIfPresent(Int.self, forKey: .pageSize) ?? defaults.pageSize
        finalPageMode = try container.decodeIfPresent(FinalPageMode.self, forKey: .finalPageMode) ?? defaults.finalPageMode
        sessionIdleTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .sessionIdleTimeout)?.duration ?? defaults.sessionIdleTimeout
        tokenLifetime = try container.decodeIfPresent(ConfigDuration.self, forKey: .tokenLifetime)?.duration ?? defaults.tokenLifetime
        callbackTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .callbackTimeout)?.duration ?? defaults.callbackTimeout
        pushAttempts = try container.decodeIfPresent(Int.self, forKey: .pushAttempts) ?? defaults.pushAttempts
        lockoutThreshold = try container.decodeIfPresent(Int.self, forKey: .lockoutThreshold) ?? defaults.lockoutThreshold
        timestampOffset = try container.decodeIfPresent(String.self, forKey: .timestampOffset) ?? defaults.timestampOffset
        emptyListenerList = try container.decodeIfPresent(EmptyListenerList.self, forKey: .emptyListenerList) ?? defaults.emptyListenerList
        generatedDevices = try container.decodeIfPresent(Int.self, forKey: .generatedDevices) ?? defaults.generatedDevices

        func invalid(_ key: CodingKeys, _ message: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message)
        }
        if accounts.isEmpty { throw invalid(.accounts, "at least one account is needed") }
        var names = Set<String>()
        for account in accounts where !names.insert(account.name).inserted {
            throw invalid(.accounts, "account '\(account.name)' is listed twice")
        }
        if oauthClients.isEmpty { throw invalid(.oauthClients, "at least one OAuth client is needed") }
        if users.isEmpty { throw invalid(.users, "at least one user is needed") }
        if !(1...10_000).contains(pageSize) { throw invalid(.pageSize, "pageSize must be between 1 and 10000, found \(pageSize)") }
        if !(1...100).contains(pushAttempts) { throw invalid(.pushAttempts, "pushAttempts must be between 1 and 100, found \(pushAttempts)") }
        if lockoutThreshold < 1 { throw invalid(.lockoutThreshold, "lockoutThreshold must be at least 1") }
        if !(0...100_000).contains(generatedDevices) { throw invalid(.generatedDevices, "generatedDevices must be between 0 and 100000") }
        if Timestamp.offsetSeconds(parsing: timestampOffset) == nil {
            throw invalid(.timestampOffset, "expected an offset such as -08:00, +00:00 or +05:30, found '\(timestampOffset)'")
        }
        for (key, value) in [(CodingKeys.sessionIdleTimeout, sessionIdleTimeout), (.tokenLifetime, tokenLifetime), (.callbackTimeout, callbackTimeout)]
        where value <= .zero {
            throw invalid(key, "'\(key.stringValue)' must be longer than zero")
        }
    }

    /// Loads a simulator config file.
    /// - Throws: ``ConfigError`` with file, line and column.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> SimulatorConfig {
        try YAMLConfigDecoder(environment: environment).decode(SimulatorConfig.self, contentsOf: URL(fileURLWithPath: path), displayName: path)
    }

    /// Parses YAML text (for tests and embedded configs).
    /// - Throws: ``ConfigError`` with `file`, line and column.
    public static func parse(yaml: String, file: String = "simulator.yaml") throws(ConfigError) -> SimulatorConfig {
        try YAMLConfigDecoder(environment: [:]).decode(SimulatorConfig.self, from: yaml, file: file)
    }
}
