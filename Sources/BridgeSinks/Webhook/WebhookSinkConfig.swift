//===----------------------------------------------------------------------===//
// ThingBridge — webhook sink configuration (an endpoint group)
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation

/// A webhook sink: a group of HTTP endpoints, each of which gets every event routed to the group.
///
/// Every endpoint is delivered to on its own (sink name `<group>/<endpoint>`): its own outbox
/// rows, retries, circuit breaker and ordering, so one slow or dead endpoint never holds back
/// another. Requests are signed per Standard Webhooks.
///
/// ```yaml
/// sinks:
///   oncall:
///     type: webhook
///     endpoints:
///       - name: pagerduty
///         url: https://events.example.com/thingbridge
///         secret: "${PAGERDUTY_WEBHOOK_SECRET}"        # whsec_<base64>
///       - name: audit
///         url: http://audit.internal:8080/hooks
///         secrets: ["whsec_bmV3LXNlY3JldC0xMjM0NTY3ODkw", "whsec_b2xkLXNlY3JldC0xMjM0NTY3ODkw"]
///         timeout: 2s
///         headers: { X-Team: ops }
///     concurrency: 16
///     retry: { base: 1s, cap: 5m, maxAttempts: 20 }
///     breaker: { failureThreshold: 5, coolDown: 30s, disableAfter: 24h }
/// ```
public struct WebhookSinkConfig: Sendable, Decodable, Equatable {
    /// The endpoints of the group. Required, at least one; names unique within the group.
    public var endpoints: [WebhookEndpointConfig]
    /// Requests in flight at once, per endpoint (an endpoint may override it). Default 16.
    public var concurrency: Int
    /// A request (connect, send, full answer) that takes longer fails as retriable. Per endpoint
    /// overridable. Default 10 s.
    public var timeout: Duration
    /// Opening a connection that takes longer fails as retriable. Default 5 s.
    public var connectTimeout: Duration
    /// Headers sent to every endpoint of the group (an endpoint's own `headers` win). The
    /// signature headers and `content-type` cannot be set. Default none.
    public var headers: [String: String]
    /// TLS settings for `https` endpoints. Default: system trust roots, certificates verified.
    public var tls: WebhookTLSConfig
    /// The circuit breaker every endpoint of the group has.
    public var breaker: WebhookBreakerConfig
    /// Refuse endpoints whose address is loopback, private (RFC 1918, unique-local), link-local
    /// or unspecified, checked at start-up (the host is resolved then). Default false.
    public var refusePrivateAddresses: Bool
    /// Follow 3xx redirects (at most 5). Default false: a 3xx is a permanent failure.
    public var followRedirects: Bool
    /// The longest `Retry-After` honoured; a longer one is cut to this. Default 1 h.
    public var maxRetryAfter: Duration

    public init(
        endpoints: [WebhookEndpointConfig], concurrency: Int = 16, timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5), headers: [String: String] = [:], tls: WebhookTLSConfig = WebhookTLSConfig(),
        breaker: WebhookBreakerConfig = WebhookBreakerConfig(), refusePrivateAddresses: Bool = false,
        followRedirects: Bool = false, maxRetryAfter: Duration = .seconds(3600)
    ) {
        self.endpoints = endpoints
        self.concurrency = concurrency
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.headers = headers
        self.tls = tls
        self.breaker = breaker
        self.refusePrivateAddresses = refusePrivateAddresses
        self.followRedirects = followRedirects
        self.maxRetryAfter = maxRetryAfter
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case endpoints, concurrency, timeout, connectTimeout, headers, tls, breaker, refusePrivateAddresses, followRedirects, maxRetryAfter
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = WebhookSinkConfig(endpoints: [])
        endpoints = try container.decode([WebhookEndpointConfig].self, forKey: .endpoints)
        concurrency = try container.decodeIfPresent(Int.self, forKey: .concurrency) ?? defaults.concurrency
        timeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .timeout)?.duration ?? defaults.timeout
        connectTimeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .connectTimeout)?.duration ?? defaults.connectTimeout
        headers = try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        tls = try container.decodeIfPresent(WebhookTLSConfig.self, forKey: .tls) ?? defaults.tls
        breaker = try container.decodeIfPresent(WebhookBreakerConfig.self, forKey: .breaker) ?? defaults.breaker
        refusePrivateAddresses = try container.decodeIfPresent(Bool.self, forKey: .refusePrivateAddresses) ?? false
        followRedirects = try container.decodeIfPresent(Bool.self, forKey: .followRedirects) ?? false
        maxRetryAfter = try container.decodeIfPresent(ConfigDuration.self, forKey: .maxRetryAfter)?.duration ?? defaults.maxRetryAfter

        if endpoints.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .endpoints, in: container, debugDescription: "a webhook sink needs at least one endpoint")
        }
        var names = Set<String>()
        for endpoint in endpoints where !names.insert(endpoint.name).inserted {
            throw DecodingError.dataCorruptedError(forKey: .endpoints, in: container, debugDescription: "endpoint '\(endpoint.name)' is listed twice")
        }
        if !(1...1024).contains(concurrency) {
            throw DecodingError.dataCorruptedError(forKey: .concurrency, in: container, debugDescription: "concurrency must be between 1 and 1024")
        }
        if timeout < .milliseconds(1) || connectTimeout < .milliseconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .timeout, in: container, debugDescription: "timeouts must be at least 1ms")
        }
        if let problem = Self.headerProblem(headers) {
            throw DecodingError.dataCorruptedError(forKey: .headers, in: container, debugDescription: problem)
        }
    }

    /// Headers the sink sets itself; configuring them is an error.
    static let reservedHeaders: Set<String> = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host"]

    /// Why a header map cannot be used, or nil.
    static func headerProblem(_ headers: [String: String]) -> String? {
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if reservedHeaders.contains(name.lowercased()) { return "header '\(name)' is set by the sink and cannot be configured" }
            let token = name.unicodeScalars.allSatisfy { scalar in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", "!", "#", "$", "%", "&", "'", "*", "+", "-", ".", "^", "_", "`", "|", "~": true
                default: false
                }
            }
            if name.isEmpty || !token { return "'\(name)' is not a valid header name" }
            if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                return "the value of header '\(name)' contains a line break"
            }
        }
        return nil
    }

    /// The delivery sink names of a group: `<group>/<endpoint>`, in config order.
    public func endpointSinkNames(group: String) -> [String] {
        endpoints.map { "\(group)/\($0.name)" }
    }
}

/// One endpoint of a webhook group.
public struct WebhookEndpointConfig: Sendable, Decodable, Equatable {
    /// Unique within the group; letters, digits, `.`, `_`, `-`. Required.
    public var name: String
    /// `http` or `https` URL. Required. Checked at start-up (and, with `refusePrivateAddresses`,
    /// its address).
    public var url: URL
    /// The signing secrets, `whsec_<base64>`. Required: one (`secret`) or several (`secrets`,
    /// during rotation every request carries one signature per secret). Never logged.
    public var secrets: [WebhookSecret]
    /// Overrides the group's `timeout`.
    public var timeout: Duration?
    /// Overrides the group's `concurrency`.
    public var concurrency: Int?
    /// Added to (and winning over) the group's headers.
    public var headers: [String: String]

    public init(name: String, url: URL, secrets: [WebhookSecret], timeout: Duration? = nil, concurrency: Int? = nil, headers: [String: String] = [:]) {
        self.name = name
        self.url = url
        self.secrets = secrets
        self.timeout = timeout
        self.concurrency = concurrency
        self.headers = headers
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, url, secret, secrets, timeout, concurrency, headers }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        let text = try container.decode(String.self, forKey: .url)
        timeout = try container.decodeIfPresent(ConfigDuration.self, forKey: .timeout)?.duration
        concurrency = try container.decodeIfPresent(Int.self, forKey: .concurrency)
        headers = try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]

        let nameIsValid = !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
            default: false
            }
        }
        if !nameIsValid {
            throw DecodingError.dataCorruptedError(forKey: .name, in: container, debugDescription: "an endpoint name uses letters, digits, '.', '_' and '-' only, not '\(name)'")
        }
        switch WebhookURL.check(text) {
        case .success(let url): self.url = url
        case .failure(let problem):
            throw DecodingError.dataCorruptedError(forKey: .url, in: container, debugDescription: problem.message)
        }
        let single = try container.decodeIfPresent(String.self, forKey: .secret)
        let several = try container.decodeIfPresent([String].self, forKey: .secrets)
        let texts: [String]
        switch (single, several) {
        case (let one?, nil): texts = [one]
        case (nil, let list?): texts = list
        case (nil, nil):
            throw DecodingError.dataCorruptedError(forKey: .secret, in: container, debugDescription: "endpoint '\(name)' needs a signing secret ('secret' or 'secrets')")
        case (_?, _?):
            throw DecodingError.dataCorruptedError(forKey: .secrets, in: container, debugDescription: "give either 'secret' or 'secrets', not both")
        }
        if texts.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .secrets, in: container, debugDescription: "'secrets' must list at least one secret")
        }
        var secrets: [WebhookSecret] = []
        for (index, text) in texts.enumerated() {
            guard let secret = WebhookSecret(text) else {
                // The secret itself is never echoed into an error message.
                throw DecodingError.dataCorruptedError(
                    forKey: single != nil ? .secret : .secrets, in: container,
                    debugDescription: "secret \(index + 1) of endpoint '\(name)' is not 'whsec_' followed by base64 of 24 to 64 bytes"
                )
            }
            secrets.append(secret)
        }
        self.secrets = secrets
        if let timeout, timeout < .milliseconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .timeout, in: container, debugDescription: "timeout must be at least 1ms")
        }
        if let concurrency, !(1...1024).contains(concurrency) {
            throw DecodingError.dataCorruptedError(forKey: .concurrency, in: container, debugDescription: "concurrency must be between 1 and 1024")
        }
        if let problem = WebhookSinkConfig.headerProblem(headers) {
            throw DecodingError.dataCorruptedError(forKey: .headers, in: container, debugDescription: problem)
        }
    }
}

/// `tls:` of a webhook group.
public struct WebhookTLSConfig: Sendable, Decodable, Equatable {
    /// A PEM file of trusted root certificates, instead of the system's. Default none.
    public var caFile: String?
    /// A PEM client certificate (chain) for mutual TLS; needs `privateKeyFile`. Default none.
    public var certificateFile: String?
    /// The PEM private key of `certificateFile`. Default none.
    public var privateKeyFile: String?
    /// Verify the server's certificate and host name. Default true; false only for testing.
    public var verify: Bool

    public init(caFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil, verify: Bool = true) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.verify = verify
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case caFile, certificateFile, privateKeyFile, verify }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        certificateFile = try container.decodeIfPresent(String.self, forKey: .certificateFile)
        privateKeyFile = try container.decodeIfPresent(String.self, forKey: .privateKeyFile)
        verify = try container.decodeIfPresent(Bool.self, forKey: .verify) ?? true
        if (certificateFile == nil) != (privateKeyFile == nil) {
            throw DecodingError.dataCorruptedError(forKey: .certificateFile, in: container, debugDescription: "a client certificate needs both certificateFile and privateKeyFile")
        }
    }
}

/// `breaker:` of a webhook group: when an endpoint stops being tried for a while.
public struct WebhookBreakerConfig: Sendable, Decodable, Equatable {
    /// After this many failed requests in a row the endpoint opens. Default 5.
    public var failureThreshold: Int
    /// How long an open endpoint gets no requests before one probe. Default 30 s.
    public var coolDown: Duration
    /// An endpoint still failing this long after its failures began is disabled until an
    /// operator enables it (`thingbridge endpoints enable`). `0` never disables. Default 24 h.
    public var disableAfter: Duration?
    /// The second way to open: when, over the last ``window``, at least ``minimumRequests``
    /// requests were answered and this share of them (0 < rate ≤ 1) failed. For an endpoint that
    /// fails often but not in a row (a flapping backend behind a load balancer), which the
    /// threshold alone never opens. Default nil: off.
    public var failureRate: Double?
    /// The span ``failureRate`` looks back over. Default 60 s.
    public var window: Duration
    /// The fewest requests in ``window`` on which ``failureRate`` judges. Default 20.
    public var minimumRequests: Int

    public init(
        failureThreshold: Int = 5, coolDown: Duration = .seconds(30), disableAfter: Duration? = .seconds(86400),
        failureRate: Double? = nil, window: Duration = .seconds(60), minimumRequests: Int = 20
    ) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
        self.disableAfter = disableAfter
        self.failureRate = failureRate
        self.window = window
        self.minimumRequests = minimumRequests
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case failureThreshold, coolDown, disableAfter, failureRate, window, minimumRequests }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = WebhookBreakerConfig()
        failureThreshold = try container.decodeIfPresent(Int.self, forKey: .failureThreshold) ?? defaults.failureThreshold
        coolDown = try container.decodeIfPresent(ConfigDuration.self, forKey: .coolDown)?.duration ?? defaults.coolDown
        if container.contains(.disableAfter) {
            let value = try container.decode(ConfigDuration.self, forKey: .disableAfter).duration
            disableAfter = value == .zero ? nil : value
        } else {
            disableAfter = defaults.disableAfter
        }
        failureRate = try container.decodeIfPresent(Double.self, forKey: .failureRate)
        window = try container.decodeIfPresent(ConfigDuration.self, forKey: .window)?.duration ?? defaults.window
        minimumRequests = try container.decodeIfPresent(Int.self, forKey: .minimumRequests) ?? defaults.minimumRequests
        if failureThreshold < 1 {
            throw DecodingError.dataCorruptedError(forKey: .failureThreshold, in: container, debugDescription: "failureThreshold must be at least 1")
        }
        if coolDown < .milliseconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .coolDown, in: container, debugDescription: "coolDown must be at least 1ms")
        }
        if let failureRate, !(failureRate > 0 && failureRate <= 1) {
            throw DecodingError.dataCorruptedError(forKey: .failureRate, in: container, debugDescription: "failureRate must be above 0 and at most 1 (a share: 0.5 is half)")
        }
        if window < .seconds(1) {
            throw DecodingError.dataCorruptedError(forKey: .window, in: container, debugDescription: "window must be at least 1s")
        }
        if minimumRequests < 1 {
            throw DecodingError.dataCorruptedError(forKey: .minimumRequests, in: container, debugDescription: "minimumRequests must be at least 1")
        }
    }
}

/// Checks of a webhook URL.
enum WebhookURL {
    struct Problem: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// An absolute `http`/`https` URL with a host, no user info and no fragment.
    static func check(_ text: String) -> Result<URL, Problem> {
        guard let components = URLComponents(string: text), let url = components.url else {
            return .failure(Problem(message: "'\(text)' is not a URL"))
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .failure(Problem(message: "webhook URL '\(text)' must use http or https"))
        }
        guard let host = components.host, !host.isEmpty else {
            return .failure(Problem(message: "webhook URL '\(text)' has no host"))
        }
        if components.user != nil || components.password != nil {
            // Credentials in a URL end up in logs; use headers instead.
            return .failure(Problem(message: "webhook URL of host '\(host)' must not carry a user or password (use headers)"))
        }
        if components.fragment != nil {
            return .failure(Problem(message: "webhook URL '\(text)' must not have a fragment"))
        }
        return .success(url)
    }
}
