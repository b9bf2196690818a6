//===----------------------------------------------------------------------===//
// ThingBridge — the main config file (thingbridge.yaml)
//===----------------------------------------------------------------------===//

import BridgeCore
import BridgeSinks
import Foundation
import ThingSpace

/// The main config: listeners, accounts, data and routes folders, sinks.
///
/// Relative `dataDir` and `routesDir` resolve against the working directory; relative sink
/// paths and the journal path resolve against `dataDir`. Unknown keys are errors.
public struct GatewayConfig: Sendable, Decodable {
    public var ingress: IngressConfig
    public var admin: AdminConfig
    /// The journal and file-sink output live here. Default `data`.
    public var dataDir: String
    /// The folder of route files. Default `Routes`.
    public var routesDir: String
    public var accounts: [AccountConfig]
    public var sinks: [String: SinkDefinition]
    public var routing: RoutingConfig
    public var journal: JournalConfig
    /// How to reach ThingSpace's REST API, for the poller and `register`. Absent: callbacks only.
    public var thingspace: ThingSpaceConfig?
    /// How long graceful shutdown may take (sinks flushing) before what is left is cancelled;
    /// undelivered events stay pending in the journal. Default 30s.
    public var shutdownTimeout: Duration

    enum CodingKeys: String, CodingKey, CaseIterable { case ingress, admin, dataDir, routesDir, accounts, sinks, routing, journal, thingspace, shutdownTimeout }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ingress = try container.decodeIfPresent(IngressConfig.self, forKey: .ingress) ?? IngressConfig()
        admin = try container.decodeIfPresent(AdminConfig.self, forKey: .admin) ?? AdminConfig()
        dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir) ?? "data"
        routesDir = try container.decodeIfPresent(String.self, forKey: .routesDir) ?? "Routes"
        accounts = try container.decode([AccountConfig].self, forKey: .accounts)
        sinks = try container.decodeIfPresent([String: SinkDefinition].self, forKey: .sinks) ?? [:]
        routing = try container.decodeIfPresent(RoutingConfig.self, forKey: .routing) ?? RoutingConfig()
        journal = try container.decodeIfPresent(JournalConfig.self, forKey: .journal) ?? JournalConfig()
        thingspace = try container.decodeIfPresent(ThingSpaceConfig.self, forKey: .thingspace)
        shutdownTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .shutdownTimeout)?.duration ?? .seconds(30)
        if accounts.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .accounts, in: container, debugDescription: "at least one account is needed")
        }
        var names = Set<String>()
        for account in accounts where !names.insert(account.name).inserted {
            throw DecodingError.dataCorruptedError(forKey: .accounts, in: container, debugDescription: "account '\(account.name)' is listed twice")
        }
    }

    /// Loads and checks a config file.
    /// - Throws: ``ConfigError`` naming the file, line and key.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> GatewayConfig {
        try YAMLConfigDecoder(environment: environment).decode(GatewayConfig.self, contentsOf: URL(fileURLWithPath: path), displayName: path)
    }

    /// The data folder as an absolute URL.
    public var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }
    /// The routes folder as an absolute URL.
    public var routesDirectory: URL { URL(fileURLWithPath: routesDir).standardizedFileURL }
    /// The journal file.
    public var journalPath: String {
        journal.path.hasPrefix("/") ? journal.path : dataDirectory.appendingPathComponent(journal.path).path
    }

    /// Opens the journal this config names, with its dedup window (gateway, `status`, `dlq`).
    public func openJournal() throws(JournalError) -> SQLiteJournal {
        try SQLiteJournal(
            path: journalPath, dedupWindow: journal.dedupWindow,
            orderedSinks: Set(sinks.filter { $0.value.ordering == .perDevice }.flatMap { $0.value.deliverySinkNames(name: $0.key) })
        )
    }

    /// Applies `--listen`, `--admin-listen`, `--data` (or `THINGBRIDGE_*`) over the file.
    public mutating func apply(_ overrides: Overrides) {
        if let listen = overrides.listen { ingress.listen = listen }
        if let admin = overrides.adminListen { self.admin.listen = admin }
        if let data = overrides.dataDir { dataDir = data }
        if let routes = overrides.routesDir { routesDir = routes }
    }

    /// Values given on the command line or in the environment, which win over the file.
    public struct Overrides: Sendable {
        public var listen: ListenAddress?
        public var adminListen: ListenAddress?
        public var dataDir: String?
        public var routesDir: String?

        public init(listen: ListenAddress? = nil, adminListen: ListenAddress? = nil, dataDir: String? = nil, routesDir: String? = nil) {
            self.listen = listen
            self.adminListen = adminListen
            self.dataDir = dataDir
            self.routesDir = routesDir
        }
    }
}

/// `ingress:` — the callback listener.
public struct IngressConfig: Sendable, Decodable {
    /// Default `0.0.0.0:8080`.
    public var listen: ListenAddress
    /// Larger callback bodies get 413. Default 64KiB (an MO SMS callback is well under 2KiB).
    public var maxBodySize: ByteSize

    public init(listen: ListenAddress = ListenAddress(host: "0.0.0.0", port: 8080), maxBodySize: ByteSize = .kibibytes(64)) {
        self.listen = listen
        self.maxBodySize = maxBodySize
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case listen, maxBodySize }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = IngressConfig()
        listen = try container.decodeIfPresent(ListenAddress.self, forKey: .listen) ?? defaults.listen
        maxBodySize = try container.decodeIfPresent(ByteSize.self, forKey: .maxBodySize) ?? defaults.maxBodySize
    }
}

/// `admin:` — health, readiness and metrics.
public struct AdminConfig: Sendable, Decodable {
    /// Default `127.0.0.1:9090`.
    public var listen: ListenAddress

    public init(listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 9090)) { self.listen = listen }

    enum CodingKeys: String, CodingKey, CaseIterable { case listen }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        listen = try container.decodeIfPresent(ListenAddress.self, forKey: .listen) ?? AdminConfig().listen
    }
}

/// One ThingSpace account whose callbacks this gateway accepts.
public struct AccountConfig: Sendable, Decodable {
    /// The account name, e.g. `0000123456-00001` (quote it in YAML to keep leading zeros).
    public var name: String
    /// The username and password registered with the callback listener; ThingSpace copies them into each body.
    public var callback: CallbackCredentials
    /// How this account's ThingSpace queue is collected. Default: callbacks with poll fallback.
    public var poller: PollerSettings

    enum CodingKeys: String, CodingKey, CaseIterable { case name, callback, poller }
    enum CallbackKeys: String, CodingKey, CaseIterable { case username, password }
    enum PollerKeys: String, CodingKey, CaseIterable { case mode, interval, acknowledgeFinalPage, maxPagesPerDrain, drainAtStart }

    public init(name: String, callback: CallbackCredentials, poller: PollerSettings = PollerSettings()) {
        self.name = name
        self.callback = callback
        self.poller = poller
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        let callbackContainer = try container.nestedContainer(keyedBy: CallbackKeys.self, forKey: .callback)
        callback = CallbackCredentials(
            username: try callbackContainer.decode(String.self, forKey: .username),
            password: try callbackContainer.decode(String.self, forKey: .password)
        )
        poller = PollerSettings()
        if container.contains(.poller) {
            let settings = try container.nestedContainer(keyedBy: PollerKeys.self, forKey: .poller)
            let mode = try settings.decodeIfPresent(PollMode.self, forKey: .mode) ?? .callbackWithPollFallback
            poller = PollerSettings(
                mode: mode,
                interval: try settings.decodeIfPresent(ConfigDuration.self, forKey: .interval)?.duration,
                acknowledgeFinalPage: try settings.decodeIfPresent(Bool.self, forKey: .acknowledgeFinalPage) ?? false,
                maxPagesPerDrain: try settings.decodeIfPresent(Int.self, forKey: .maxPagesPerDrain) ?? 10_000,
                drainAtStart: try settings.decodeIfPresent(Bool.self, forKey: .drainAtStart) ?? true
            )
            if poller.interval < .seconds(1) {
                throw DecodingError.dataCorruptedError(forKey: .interval, in: settings, debugDescription: "the poll interval must be at least 1s")
            }
        }
        if name.isEmpty || name.contains("/") {
            throw DecodingError.dataCorruptedError(forKey: .name, in: container, debugDescription: "an account name must be non-empty and contain no '/'")
        }
    }
}

/// `routing:` — what happens to events no route matches, and the default text decoding.
public struct RoutingConfig: Sendable, Decodable {
    /// `drop` (kept in the journal, counted and logged, delivered nowhere), `deadLetter` (stored
    /// as a dead letter, listed by `thingbridge dlq list`) or `sink:<name>`. Default `drop`.
    public var unmatched: UnmatchedPolicy
    /// How devices encode their text, for route files without their own `decode:`
    /// (`json`, `keyValue`, or `{ format: csv, columns: [...] }`). Default: none (no fields).
    public var decode: PayloadDecoding?

    public init(unmatched: UnmatchedPolicy = .drop, decode: PayloadDecoding? = nil) {
        self.unmatched = unmatched
        self.decode = decode
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case unmatched, decode }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        unmatched = try container.decodeIfPresent(UnmatchedPolicy.self, forKey: .unmatched) ?? .drop
        if let name = try? container.decodeIfPresent(String.self, forKey: .decode) {
            switch name {
            case "json": decode = .json
            case "keyValue": decode = .keyValue()
            default:
                throw DecodingError.dataCorruptedError(
                    forKey: .decode, in: container,
                    debugDescription: "expected json, keyValue or { format: csv, columns: [...] }, found '\(name)'"
                )
            }
        } else {
            decode = try container.decodeIfPresent(PayloadDecoding.self, forKey: .decode)
        }
    }
}

extension GatewayConfig {
    /// Each sink's type (`file`, `kafka`, `webhook`), for checking per-destination options in routes.
    public var sinkTypes: [String: String] {
        sinks.mapValues { definition in
            switch definition.kind {
            case .file: "file"
            case .kafka: "kafka"
            case .webhook: "webhook"
            }
        }
    }

    /// Each sink's own topic, key and path, for route tests that check them (`routes test`).
    public var sinkDefaults: [String: SinkDefaults] {
        sinks.mapValues { definition in
            switch definition.kind {
            case .file(let file): SinkDefaults(type: "file", path: file.path)
            case .kafka(let kafka): SinkDefaults(type: "kafka", topic: kafka.topic, key: kafka.key)
            case .webhook: SinkDefaults(type: "webhook")
            }
        }
    }

    /// Loads and validates the route files of `directory` (default: `routesDir`) against this
    /// config's sinks, unmatched policy and default decoding.
    /// - Throws: ``ConfigErrors`` with every problem found.
    public func loadRoutes(from directory: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigErrors) -> RouteSet {
        try RouteSet.load(
            from: directory ?? routesDirectory, sinks: Set(sinks.keys), sinkTypes: sinkTypes, unmatched: routing.unmatched,
            defaultDecoding: routing.decode, decoder: YAMLConfigDecoder(environment: environment)
        )
    }
}

/// `journal:` — where the SQLite journal lives, how long it remembers dedup keys, and when it pushes back.
public struct JournalConfig: Sendable, Decodable {
    /// Relative to `dataDir`. Default `journal.sqlite`.
    public var path: String
    /// An arrival whose event id was seen within this window is a duplicate. Default 7d.
    public var dedupWindow: Duration
    /// When ingress answers 503 and the poller pauses (see ``BackpressureSettings``).
    public var backpressure: BackpressureSettings
    /// Events delivered everywhere are deleted this long after they were received. Default 7d.
    /// Dead letters and quarantine are kept until purged.
    public var retention: Duration

    public init(
        path: String = "journal.sqlite", dedupWindow: Duration = .seconds(7 * 86400),
        backpressure: BackpressureSettings = BackpressureSettings(), retention: Duration = .seconds(7 * 86400)
    ) {
        self.retention = retention
        self.path = path
        self.dedupWindow = dedupWindow
        self.backpressure = backpressure
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case path, dedupWindow, backpressure, retention }
    enum BackpressureKeys: String, CodingKey, CaseIterable { case highWater, lowWater, minFreeDisk, retryAfter }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = JournalConfig()
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? defaults.path
        dedupWindow = try container.decodeIfPresent(ConfigDuration.self, forKey: .dedupWindow)?.duration ?? defaults.dedupWindow
        if dedupWindow < .seconds(60) {
            throw DecodingError.dataCorruptedError(forKey: .dedupWindow, in: container, debugDescription: "dedupWindow must be at least 1m")
        }
        retention = try container.decodeIfPresent(ConfigDuration.self, forKey: .retention)?.duration ?? defaults.retention
        if retention < .seconds(60) {
            throw DecodingError.dataCorruptedError(forKey: .retention, in: container, debugDescription: "retention must be at least 1m")
        }
        backpressure = defaults.backpressure
        if container.contains(.backpressure) {
            let nested = try container.nestedContainer(keyedBy: BackpressureKeys.self, forKey: .backpressure)
            let high = try nested.decodeIfPresent(Int.self, forKey: .highWater) ?? backpressure.highWater
            let low = try nested.decodeIfPresent(Int.self, forKey: .lowWater) ?? min(backpressure.lowWater, high * 4 / 5)
            guard high > 0, low >= 0, low < high else {
                throw DecodingError.dataCorruptedError(forKey: .lowWater, in: nested, debugDescription: "need 0 ≤ lowWater < highWater (got \(low) and \(high))")
            }
            backpressure.highWater = high
            backpressure.lowWater = low
            backpressure.minFreeDisk = try nested.decodeIfPresent(ByteSize.self, forKey: .minFreeDisk) ?? backpressure.minFreeDisk
            backpressure.retryAfter = try nested.decodeIfPresent(ConfigDuration.self, forKey: .retryAfter)?.duration ?? backpressure.retryAfter
        }
    }
}

/// `thingspace:` — the ThingSpace REST API, for the history poller and `thingbridge register`.
///
/// ```yaml
/// thingspace:
///   baseURL: https://thingspace.verizon.com/api
///   appKey: ${THINGSPACE_APP_KEY}
///   appSecret: ${THINGSPACE_APP_SECRET}
///   username: ${THINGSPACE_USERNAME}
///   password: ${THINGSPACE_PASSWORD}
/// ```
public struct ThingSpaceConfig: Sendable, Decodable {
    /// The REST root ending in `/api`. Default `https://thingspace.verizon.com/api`.
    public var baseURL: String
    public var appKey: String
    public var appSecret: String
    public var username: String
    public var password: String
    /// Per request. Default 30s.
    public var requestTimeout: Duration
    /// Consecutive rejected logins before the client stops until restart. Default 3 (ThingSpace locks a user after 5).
    public var maxLoginFailures: Int

    enum CodingKeys: String, CodingKey, CaseIterable { case baseURL, appKey, appSecret, username, password, requestTimeout, maxLoginFailures }

    public init(baseURL: String, appKey: String, appSecret: String, username: String, password: String,
                requestTimeout: Duration = .seconds(30), maxLoginFailures: Int = 3) {
        self.baseURL = baseURL
        self.appKey = appKey
        self.appSecret = appSecret
        self.username = username
        self.password = password
        self.requestTimeout = requestTimeout
        self.maxLoginFailures = maxLoginFailures
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        baseURL = try container.decodeIfPresent(String.self, forKey: .baseURL) ?? "https://thingspace.verizon.com/api"
        appKey = try container.decode(String.self, forKey: .appKey)
        appSecret = try container.decode(String.self, forKey: .appSecret)
        username = try container.decode(String.self, forKey: .username)
        password = try container.decode(String.self, forKey: .password)
        requestTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .requestTimeout)?.duration ?? .seconds(30)
        maxLoginFailures = try container.decodeIfPresent(Int.self, forKey: .maxLoginFailures) ?? 3
        guard URL(string: baseURL)?.scheme?.hasPrefix("http") == true else {
            throw DecodingError.dataCorruptedError(forKey: .baseURL, in: container, debugDescription: "expected an http(s) URL ending in /api, found '\(baseURL)'")
        }
        guard (1...4).contains(maxLoginFailures) else {
            throw DecodingError.dataCorruptedError(forKey: .maxLoginFailures, in: container, debugDescription: "maxLoginFailures must be 1 to 4: ThingSpace locks the user after 5")
        }
    }

    /// The client settings.
    public var clientConfig: ThingSpaceClientConfig {
        ThingSpaceClientConfig(
            baseURL: baseURL, appKey: appKey, appSecret: appSecret, username: username, password: password,
            requestTimeout: requestTimeout, maxConsecutiveLoginFailures: maxLoginFailures
        )
    }
}
