import AsyncHTTPClient
import BridgeCore
import BridgeGateway
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport

/// A real gateway on 127.0.0.1:0 with its journal and file sinks in a temporary folder.
struct GatewayHarness: Sendable {
    let gateway: Gateway
    let directory: TemporaryDirectory
    let baseURL: String
    let adminURL: String

    static let account = "0000123456-00001"
    static let username = "thingspace"
    static let password = "correct horse battery staple"

    /// The main config used by the tests; `extra` is appended (more sinks, routing).
    static func configYAML(
        dataDir: String, routesDir: String, sinks: String = defaultSinks, routing: String = "",
        upstream: Upstream? = nil
    ) -> String {
        let thingspace = upstream.map { upstream in
            """
            thingspace:
              baseURL: "\(upstream.baseURL)"
              appKey: "\(upstream.appKey)"
              appSecret: "\(upstream.appSecret)"
              username: "\(upstream.username)"
              password: "\(upstream.password)"
            """
        } ?? ""
        let poller = upstream.map { "\n    poller: { mode: \($0.mode), interval: \($0.interval), drainAtStart: \($0.drainAtStart) }" } ?? ""
        return """
        ingress:
          listen: "127.0.0.1:0"
          maxBodySize: 4KiB
        admin:
          listen: "127.0.0.1:0"
        dataDir: "\(dataDir)"
        routesDir: "\(routesDir)"
        accounts:
          - name: "\(account)"
            callback:
              username: "\(username)"
              password: "${TEST_CALLBACK_PASSWORD}"\(poller)
        sinks:
        \(sinks)
        \(routing)
        \(thingspace)
        """
    }

    /// The `thingspace:` section and the account's poller, pointing at a simulator.
    struct Upstream: Sendable {
        var baseURL: String
        var appKey = "demo-key"
        var appSecret = "demo-secret"
        var username = "demo-user"
        var password = "demo-pass"
        var mode = "callbackWithPollFallback"
        /// Long by default, and no drain at start, so that tests drive drains themselves.
        var interval = "1h"
        var drainAtStart = false
    }

    static let defaultSinks = """
          archive:
            type: file
            path: "archive/{account}/{date}.jsonl"
        """

    static let defaultRoutes = ["all.yaml": "routes:\n  - name: everything\n    to: [archive]\n"]

    /// Starts a gateway, runs `body`, then shuts it down gracefully.
    static func with<T: Sendable>(
        routes: [String: String] = defaultRoutes,
        sinks: String = defaultSinks,
        routing: String = "",
        upstream: Upstream? = nil,
        _ body: @Sendable (GatewayHarness) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory("gateway") { directory in
            for (name, text) in routes { try directory.write(text, to: "routes/\(name)") }
            let yaml = configYAML(dataDir: directory.appending("data").path, routesDir: directory.appending("routes").path, sinks: sinks, routing: routing, upstream: upstream)
            let configFile = try directory.write(yaml, to: "thingbridge.yaml")
            let config = try GatewayConfig.load(path: configFile.path, environment: ["TEST_CALLBACK_PASSWORD": password])
            var logger = Logger(label: "gateway-test")
            logger.logLevel = .warning
            let gateway = try Gateway(config: config, logger: logger)
            return try await withServices([gateway], logger: logger) {
                let ingress = await gateway.ingressListenAddress()
                let admin = await gateway.adminListenAddress()
                return try await body(GatewayHarness(
                    gateway: gateway, directory: directory,
                    baseURL: "http://127.0.0.1:\(ingress.port)", adminURL: "http://127.0.0.1:\(admin.port)"
                ))
            }
        }
    }

    /// A callback body in the documented shape (thingspace-api.md §3.2).
    static func callbackBody(
        username: String? = username, password: String? = password, requestID: String? = "req-1",
        text: String = "temp=21.5", ids: [(String, String)] = [("mdn", "7022895555"), ("esn", "60E5F99D")]
    ) -> String {
        var object: [String: Any] = [
            "deviceIds": ids.map { ["kind": $0.0, "id": $0.1] }, "smsMessage": text,
            "callbackCount": 1, "maxCallbackThreshold": 4,
        ]
        if let username { object["username"] = username }
        if let password { object["password"] = password }
        if let requestID { object["requestId"] = requestID }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    struct Answer: Sendable {
        var status: Int
        var headers: [String: String]
        var json: [String: String]
    }

    /// POSTs a callback body for an account and returns the answer.
    func post(_ body: String, account: String = GatewayHarness.account) async throws -> Answer {
        var request = HTTPClientRequest(url: "\(baseURL)/callbacks/thingspace/\(account)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Answer(status: Int(response.status.code), headers: headers, json: object.mapValues { "\($0)" })
    }

    /// GETs an admin path.
    func admin(_ path: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(adminURL)\(path)"), timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// The archive file for today.
    func archiveFile(account: String = GatewayHarness.account) -> URL {
        let date = Timestamps.format(Date()).prefix(10)
        return directory.appending("data/archive/\(account)/\(date).jsonl")
    }

    var journalPath: String { directory.appending("data/journal.sqlite").path }

    /// The callback URL of the default account.
    var callbackURL: String { "\(baseURL)/callbacks/thingspace/\(GatewayHarness.account)" }
}
