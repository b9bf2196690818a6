import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ThingSpace
import ThingSpaceSimulator

/// A running simulator on 127.0.0.1:0 (plus a callback recorder), and an HTTP client that
/// speaks to it the way a ThingSpace client would.
struct SimulatorHarness: Sendable {
    let simulator: ThingSpaceSimulator
    let address: SimulatorAddress
    let recorder: CallbackRecorder

    static let account = SimulatorConfig.defaultAccount

    /// Starts a simulator and a recorder, runs `body`, shuts both down.
    static func with<T: Sendable>(
        config: SimulatorConfig = SimulatorConfig(),
        _ body: @Sendable (SimulatorHarness) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "simulator-test")
        logger.logLevel = .warning
        let recorder = CallbackRecorder(logger: logger)
        return try await ThingSpaceSimulator.withRunning(config: config, alsoRunning: [recorder], logger: logger) { simulator in
            let harness = SimulatorHarness(simulator: simulator, address: await simulator.listenAddress(), recorder: recorder)
            _ = await recorder.listenAddress()
            return try await body(harness)
        }
    }

    // MARK: - Raw HTTP

    struct Answer: Sendable {
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: Data

        func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T { try JSONDecoder().decode(T.self, from: body) }
        var envelope: ErrorEnvelope? { try? decode() }
        var fault: GatewayFaultBody? { try? decode() }
        var oauthError: OAuthErrorBody? { try? decode() }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func call(_ method: HTTPMethod, _ path: String, headers: [String: String] = [:], body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: address.baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            if headers["Content-Type"] == nil { request.headers.add(name: "Content-Type", value: "application/json") }
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        var names: [String: String] = [:]
        for header in response.headers { names[header.name.lowercased()] = header.value }
        return Answer(status: Int(response.status.code), headers: names, body: Data(bytes.readableBytesView))
    }

    static func json(_ value: some Encodable) -> String {
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }

    // MARK: - ThingSpace client steps

    func requestToken(key: String = SimulatorConfig.defaultClientKey, secret: String = SimulatorConfig.defaultClientSecret, grant: String? = "client_credentials") async throws -> Answer {
        let basic = Data("\(key):\(secret)".utf8).base64EncodedString()
        return try await call(
            .POST, "/api/ts/v1/oauth2/token",
            headers: ["Authorization": "Basic \(basic)", "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"],
            body: grant.map { "grant_type=\($0)" } ?? ""
        )
    }

    func bearer() async throws -> String { try await requestToken().decode(OAuthToken.self).accessToken }

    func login(bearer: String, username: String = SimulatorConfig.defaultUsername, password: String = SimulatorConfig.defaultPassword) async throws -> Answer {
        try await call(
            .POST, "/api/m2m/v1/session/login", headers: ["Authorization": "Bearer \(bearer)"],
            body: Self.json(LoginRequest(username: username, password: password))
        )
    }

    /// A bearer and a session, ready for M2M calls.
    func credentials() async throws -> Credentials {
        let bearer = try await bearer()
        let session = try await login(bearer: bearer).decode(SessionTokenBody.self).sessionToken
        return Credentials(bearer: bearer, session: session)
    }

    struct Credentials: Sendable {
        var bearer: String
        var session: String
        var headers: [String: String] { ["Authorization": "Bearer \(bearer)", "VZ-M2M-Token": session] }
    }

    /// An M2M call (path below `/api/m2m/v1`).
    func m2m(_ method: HTTPMethod, _ path: String, _ credentials: Credentials, body: String? = nil) async throws -> Answer {
        try await call(method, "/api/m2m/v1\(path)", headers: credentials.headers, body: body)
    }

    func history(_ credentials: Credentials, account: String = account, next: String? = nil) async throws -> Answer {
        try await m2m(.GET, "/sms/\(account)/history\(next.map { "?next=\($0)" } ?? "")", credentials)
    }

    func register(_ credentials: Credentials, url: String, name: String = CallbackServiceName.enhancedConnectivity, username: String? = "cb-user", password: String? = "cb-pass", account: String = account) async throws -> Answer {
        try await m2m(.POST, "/callbacks/\(account)", credentials, body: Self.json(RegisterCallbackRequest(name: name, url: url, username: username, password: password)))
    }

    /// The `next` token of a 202 page's `Location`.
    static func nextToken(_ answer: Answer) -> String? {
        guard let location = answer.headers["location"], let range = location.range(of: "?next=") else { return nil }
        return String(location[range.upperBound...])
    }
}
