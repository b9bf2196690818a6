@testable import BridgeCore
import BridgeSinks
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
import WebhookTestSupport

/// A clock tests move by hand (breaker cool-downs, retry schedules): no test sleeps for one.
final class ManualClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

enum WebhookFixture {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let logger: Logger = {
        var logger = Logger(label: "webhook-test")
        logger.logLevel = .critical
        return logger
    }()

    static func config(
        _ endpoints: [(String, URL)], secrets: [String] = [secret], timeout: Duration = .seconds(5), concurrency: Int = 8,
        breaker: WebhookBreakerConfig = WebhookBreakerConfig()
    ) -> WebhookSinkConfig {
        WebhookSinkConfig(
            endpoints: endpoints.map { WebhookEndpointConfig(name: $0.0, url: $0.1, secrets: secrets.compactMap(WebhookSecret.init)) },
            concurrency: concurrency, timeout: timeout, breaker: breaker
        )
    }

    /// One endpoint sink named `hooks/<name>` sending to `receiver`.
    static func sink(
        _ name: String = "a", to receiver: WebhookReceiver, timeout: Duration = .seconds(5), breaker: WebhookBreakerConfig = WebhookBreakerConfig(),
        journal: SQLiteJournal? = nil, clock: ManualClock = ManualClock()
    ) throws -> WebhookEndpointSink {
        try config([(name, receiver.url)], timeout: timeout, breaker: breaker)
            .makeEndpointSinks(group: "hooks", journal: journal, logger: logger, now: { clock.now })[0]
    }
}

// MARK: - Configuration

@Suite struct WebhookConfigTests {
    static func decode(_ yaml: String) throws(ConfigError) -> [String: SinkDefinition] {
        try YAMLConfigDecoder(environment: ["HOOK_SECRET": WebhookFixture.secret]).decode([String: SinkDefinition].self, from: yaml, file: "test.yaml")
    }

    @Test func aGroupDecodesWithDefaultsAndEndpointOverrides() throws {
        let sinks = try Self.decode("""
            oncall:
              type: webhook
              endpoints:
                - name: pagerduty
                  url: https://events.example.com/hook
                  secret: "${HOOK_SECRET}"
                - name: audit
                  url: http://audit.internal:8080/hooks
                  secrets: ["\(WebhookFixture.secret)", "whsec_\(Data(repeating: 7, count: 32).base64EncodedString())"]
                  timeout: 2s
                  concurrency: 4
                  headers: { X-Team: ops }
              headers: { X-Source: thingbridge }
              breaker: { failureThreshold: 3, coolDown: 10s, disableAfter: 0s, failureRate: 0.5, window: 2m, minimumRequests: 40 }
              retry: { base: 2s, maxAttempts: 5 }
              ordering: perDevice
            """)
        let definition = try #require(sinks["oncall"])
        guard case .webhook(let config) = definition.kind else { Issue.record("not a webhook sink"); return }
        #expect(config.endpoints.map(\.name) == ["pagerduty", "audit"])
        #expect(config.endpoints[0].secrets.count == 1)
        #expect(config.endpoints[1].secrets.count == 2)
        #expect(config.endpoints[1].timeout == .seconds(2))
        #expect(config.endpoints[1].concurrency == 4)
        #expect(config.concurrency == 16 && config.timeout == .seconds(10) && config.connectTimeout == .seconds(5))
        #expect(config.breaker == WebhookBreakerConfig(
            failureThreshold: 3, coolDown: .seconds(10), disableAfter: nil, failureRate: 0.5, window: .seconds(120), minimumRequests: 40
        ))
        #expect(config.refusePrivateAddresses == false && config.followRedirects == false)
        #expect(definition.retry.maxAttempts == 5)
        #expect(definition.ordering == .perDevice)
        #expect(definition.deliverySinkNames(name: "oncall") == ["oncall/pagerduty", "oncall/audit"])
        // The secret never shows in a description.
        #expect(!"\(config)".contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    }

    @Test(arguments: [
        ("endpoints: []", "at least one endpoint"),
        ("endpoints: [{ name: a, url: 'ftp://x/y', secret: '\(WebhookFixture.secret)' }]", "must use http or https"),
        ("endpoints: [{ name: a, url: 'http://u:p@x/y', secret: '\(WebhookFixture.secret)' }]", "must not carry a user or password"),
        ("endpoints: [{ name: a, url: 'http://x/y' }]", "needs a signing secret"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: 'whsec_bm90IGJhc2U2NA' }]", "is not 'whsec_' followed by base64"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: 'plain-text-secret-value' }]", "is not 'whsec_'"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)', secrets: ['\(WebhookFixture.secret)'] }]", "not both"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }, { name: a, url: 'http://x/z', secret: '\(WebhookFixture.secret)' }]", "listed twice"),
        ("endpoints: [{ name: 'a/b', url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]", "letters, digits"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)', headers: { webhook-id: x } }]", "set by the sink"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)', colour: red }]", "unknown key 'colour'"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  concurrency: 0", "concurrency must be"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  breaker: { failureThreshold: 0 }", "failureThreshold"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  breaker: { failureRate: 50 }", "failureRate must be above 0 and at most 1"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  breaker: { failureRate: 0.5, window: 0s }", "window must be"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  breaker: { failureRate: 0.5, minimumRequests: 0 }", "minimumRequests"),
        ("endpoints: [{ name: a, url: 'http://x/y', secret: '\(WebhookFixture.secret)' }]\n  tls: { certificateFile: /x.pem }", "privateKeyFile"),
    ])
    func badGroupsAreRefusedWithTheReason(body: String, message: String) {
        let yaml = "hooks:\n  type: webhook\n  \(body)\n"
        do {
            _ = try Self.decode(yaml)
            Issue.record("accepted: \(body)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
            // A secret in the config is never echoed back.
            #expect(!error.description.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
            #expect(!error.description.contains("plain-text-secret-value"))
        }
    }

    /// A gateway that fails to start after building a group drops its sinks unclosed: the
    /// shared client is shut down anyway (a running HTTPClient that is released traps in debug).
    @Test func sinksDroppedWithoutCloseShutTheClientDown() throws {
        var sinks: [WebhookEndpointSink]? = try WebhookFixture.config([("a", URL(string: "http://127.0.0.1:9/a")!), ("b", URL(string: "http://127.0.0.1:9/b")!)])
            .makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)
        #expect(sinks?.count == 2)
        sinks = nil
        #expect(sinks == nil)
    }

    @Test func refusePrivateAddressesRefusesLoopbackAtStartUp() throws {
        var config = WebhookFixture.config([("local", URL(string: "http://127.0.0.1:9/hook")!)])
        config.refusePrivateAddresses = true
        #expect(throws: WebhookSetupError.self) {
            _ = try config.makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)
        }
        config.endpoints = [WebhookEndpointConfig(name: "v6", url: URL(string: "http://[::1]:9/hook")!, secrets: [WebhookSecret(WebhookFixture.secret)!])]
        #expect(throws: WebhookSetupError.self) {
            _ = try config.makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)
        }
    }
}

// MARK: - Signing

@Suite struct WebhookSigningTests {
    /// The example of the Standard Webhooks reference libraries (checked against the Python
    /// `standardwebhooks` package: `Webhook(secret).sign(id, 1614265330, body)`).
    @Test func signatureMatchesTheStandardWebhooksReference() throws {
        let signer = WebhookSigner(secrets: [try #require(WebhookSecret(WebhookFixture.secret))])
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect(signer.verify(signatureHeader: signature, id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8)))
        #expect(!signer.verify(signatureHeader: signature, id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_331, body: Data(#"{"test": 2432232314}"#.utf8)))
    }

    /// One signer is shared by an endpoint's concurrent requests (its keyed HMACs are copied per
    /// signature): signatures made side by side, in any order, are those of a fresh signer.
    @Test func signaturesMadeSideBySideAreIndependent() async throws {
        let secret = try #require(WebhookSecret(WebhookFixture.secret))
        let second = try #require(WebhookSecret(WebhookSecret.random()))
        let shared = WebhookSigner(secrets: [secret, second])
        let reference = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        let signed = await withTaskGroup(of: [(Int, String)].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    (0..<50).map { n in
                        let index = worker * 50 + n
                        if index % 7 == 0 {
                            return (-1, shared.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8)))
                        }
                        return (index, shared.signature(id: "msg_\(index)", timestamp: Int64(index), body: Data("{\"n\":\(index)}".utf8)))
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(signed.count == 400)
        for (index, signature) in signed {
            if index < 0 {
                #expect(signature.split(separator: " ").first.map(String.init) == reference)
            } else {
                let fresh = WebhookSigner(secrets: [secret, second])
                #expect(signature == fresh.signature(id: "msg_\(index)", timestamp: Int64(index), body: Data("{\"n\":\(index)}".utf8)))
            }
        }
    }

    @Test func duringRotationEverySecretSignsAndEitherVerifies() throws {
        let old = WebhookFixture.secret, new = WebhookSecret.random()
        let both = WebhookSigner(secrets: [try #require(WebhookSecret(new)), try #require(WebhookSecret(old))])
        let header = both.signature(id: "msg_1", timestamp: 1, body: Data("{}".utf8))
        #expect(header.split(separator: " ").count == 2)
        #expect(header.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        #expect(WebhookSigner(secrets: [WebhookSecret(old)!]).verify(signatureHeader: header, id: "msg_1", timestamp: 1, body: Data("{}".utf8)))
        #expect(WebhookSigner(secrets: [WebhookSecret(new)!]).verify(signatureHeader: header, id: "msg_1", timestamp: 1, body: Data("{}".utf8)))
        #expect(!WebhookSigner(secrets: [WebhookSecret(WebhookSecret.random())!]).verify(signatureHeader: header, id: "msg_1", timestamp: 1, body: Data("{}".utf8)))
    }

    @Test func theMessageIDIsStablePerDeliveryAndDistinctPerEndpoint() {
        let a = WebhookSigner.messageID(eventID: "e1", route: "r", sink: "g/a")
        #expect(a == WebhookSigner.messageID(eventID: "e1", route: "r", sink: "g/a"))
        #expect(a != WebhookSigner.messageID(eventID: "e1", route: "r", sink: "g/b"))
        #expect(a != WebhookSigner.messageID(eventID: "e2", route: "r", sink: "g/a"))
        #expect(a.hasPrefix("msg_") && a.count == 36)
        // Pinned: an upgrade must not change the ids of deliveries already sent (receivers
        // recognise retries by them). SHA-256 of "e1\0r\0g/a", first 16 bytes in hex.
        #expect(a == "msg_f8a6e90350aaf08c81a1a5a66193588f")
    }
}

// MARK: - The sink against real receivers

@Suite(.timeLimit(.minutes(2))) struct WebhookSinkTests {
    @Test func webhookSinkConforms() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        try await SinkConformance(
            // The breaker is tested on its own below; here the sink's contract alone (an open
            // breaker holds deliveries back by design, and the dispatcher would not call it then).
            makeSink: { try! WebhookFixture.sink(to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 1000)) },
            received: { receiver.acceptedEventIDs },
            breakDestination: { receiver.setBehaviour(.status(503)) },
            healDestination: { receiver.setBehaviour(.ok) }
        ).run()
        // Every request was signed correctly, and carried the structured CloudEvent.
        let requests = receiver.requests
        #expect(requests.count == 35)
        #expect(requests.allSatisfy { $0.signatureIsValid })
        #expect(requests.allSatisfy { $0.headers["content-type"] == "application/cloudevents+json" })
        #expect(requests.allSatisfy { $0.headers["webhook-id"]?.hasPrefix("msg_") == true })
        await receiver.stop()
    }

    /// A route destination's format reaches the endpoint: what is sent is what is signed.
    @Test func aDestinationFormatIsSentAndSigned() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        let sink = try WebhookFixture.sink(to: receiver)
        var items = try SinkConformance.items(1...2, tag: "format")
        items[0].options = DeliveryOptions(format: .data)
        items[1].options = DeliveryOptions(format: .template, template: "ALARM {{data.text}}", contentType: "text/plain")
        #expect(await sink.deliver(items) == [.delivered, .delivered])
        let requests = receiver.requests.sorted { String(decoding: $0.body, as: UTF8.self) < String(decoding: $1.body, as: UTF8.self) }
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.signatureIsValid })
        let template = try #require(requests.first { $0.headers["content-type"] == "text/plain" })
        #expect(String(decoding: template.body, as: UTF8.self) == "ALARM format 2")
        let data = try #require(requests.first { $0.headers["content-type"] == "application/json" })
        let object = try #require(try JSONSerialization.jsonObject(with: data.body) as? [String: Any])
        #expect(object["text"] as? String == "format 1")
        await sink.close()
        await receiver.stop()
    }

    @Test func aRetryCarriesTheSameWebhookIDAndAFreshSignature() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(500))
        let sink = try WebhookFixture.sink(to: receiver)
        let item = try SinkConformance.items(1...1, tag: "same-id")
        _ = await sink.deliver(item)
        receiver.setBehaviour(.ok)
        #expect(await sink.deliver(item) == [.delivered])
        let requests = receiver.requests
        #expect(requests.count == 2)
        #expect(requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"])
        #expect(requests.allSatisfy { $0.signatureIsValid })
        #expect(requests[1].body == item[0].eventJSON, "the body is the stored CloudEvent, byte for byte")
        await sink.close()
        await receiver.stop()
    }

    /// A batch goes out with `concurrency` requests side by side, never more, until it is done.
    @Test func aBatchKeepsConcurrencyRequestsInFlightAndNoMore() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .slow(200, delay: .milliseconds(150)))
        let sinks = try WebhookFixture.config([("a", receiver.url)], concurrency: 3)
            .makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)
        let sink = try #require(sinks.first)
        let items = try SinkConformance.items(1...10, tag: "concurrency")
        let started = ContinuousClock.now
        let outcomes = await sink.deliver(items)
        let elapsed = ContinuousClock.now - started
        #expect(outcomes == Array(repeating: .delivered, count: 10))
        #expect(receiver.peakWaiting == 3)
        #expect(Set(receiver.acceptedEventIDs) == Set(items.map(\.event.id)))
        // At three at a time, ten take four rounds of 150 ms.
        #expect(elapsed >= .milliseconds(600))
        await sink.close()
        await receiver.stop()
    }

    /// Each answer and what it becomes.
    @Test func answersBecomeOutcomes() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        let sink = try WebhookFixture.sink(to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 100))
        let item = try SinkConformance.items(1...1, tag: "answers")
        func outcome(_ behaviour: WebhookReceiver.Behaviour) async -> DeliveryOutcome {
            receiver.setBehaviour(behaviour)
            return await sink.deliver(item)[0]
        }
        #expect(await outcome(.status(204)) == .delivered)
        #expect(await outcome(.status(500, body: "boom")) == .retriable(reason: "HTTP 500: boom"))
        #expect(await outcome(.status(408)) == .retriable(reason: "HTTP 408"))
        #expect(await outcome(.status(503, headers: ["Retry-After": "7"])) == .retriable(reason: "HTTP 503", retryAfter: .seconds(7)))
        let date = Date().addingTimeInterval(120)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard case .retriable(let reason, let after?) = await outcome(.status(429, headers: ["Retry-After": formatter.string(from: date)])) else {
            Issue.record("429 with an HTTP date: expected retriable with a retryAfter")
            return
        }
        #expect(reason == "HTTP 429")
        #expect(after > .seconds(100) && after <= .seconds(120))
        // Longer than maxRetryAfter (1 h): cut to it.
        #expect(await outcome(.status(503, headers: ["Retry-After": "86400"])) == .retriable(reason: "HTTP 503", retryAfter: .seconds(3600)))
        // A 4xx is permanent, with the status and a bounded snippet of the body.
        let long = String(repeating: "x", count: 5000)
        guard case .rejected(let rejected) = await outcome(.status(422, body: "invalid \(long)")) else {
            Issue.record("422: expected rejected")
            return
        }
        #expect(rejected.hasPrefix("HTTP 422: invalid xxx"))
        #expect(rejected.count <= 530)
        #expect(await outcome(.status(404)) == .rejected(reason: "HTTP 404"))
        // Redirects are not followed.
        guard case .rejected(let redirect) = await outcome(.status(301, headers: ["Location": "http://elsewhere/"])) else {
            Issue.record("301: expected rejected")
            return
        }
        #expect(redirect.contains("301") && redirect.contains("not followed"))
        #expect(receiver.requests.count == 9)
        // 4xx answers show the endpoint is up: they do not count against it.
        #expect(sink.state.condition == .closed)
        await sink.close()
        await receiver.stop()
    }

    @Test func goneDisablesTheEndpointAndKeepsTheEventPending() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(410))
        let sink = try WebhookFixture.sink(to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 100))
        let items = try SinkConformance.items(1...3, tag: "gone")
        let outcomes = await sink.deliver(Array(items.prefix(1)))
        guard case .retriable(let reason, _) = outcomes[0] else { Issue.record("410: expected retriable, got \(outcomes)"); return }
        #expect(reason.contains("410"))
        #expect(sink.state.condition == .disabled)
        #expect(await sink.availability() == .unavailable)
        // Nothing more is sent while disabled.
        let held = await sink.deliver(Array(items.suffix(2)))
        #expect(held.allSatisfy { if case .retriable(let why, _) = $0 { why.contains("endpoint disabled") } else { false } })
        #expect(receiver.requests.count == 1)
        await sink.close()
        await receiver.stop()
    }

    @Test func aHungEndpointTimesOutAsRetriable() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .hang)
        let sink = try WebhookFixture.sink(to: receiver, timeout: .milliseconds(300))
        let started = ContinuousClock.now
        let outcomes = await sink.deliver(try SinkConformance.items(1...4, tag: "hang"))
        #expect(outcomes.allSatisfy { if case .retriable(let reason, _) = $0 { reason.contains("no answer within") } else { false } }, "\(outcomes)")
        // Four requests in parallel, each cut at the timeout (not four timeouts in a row).
        #expect(ContinuousClock.now - started < .seconds(3))
        await sink.close()
        await receiver.stop()
    }

    /// The receiver goes away (its listener closed: connections are refused): every delivery is
    /// a retriable failure that counts against the breaker, and none is reported delivered.
    @Test func aVanishedEndpointIsRetriableAndOpensTheBreaker() async throws {
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        let sink = try WebhookFixture.sink(to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 2))
        let items = try SinkConformance.items(1...3, tag: "vanished")
        #expect(await sink.deliver([items[0]]) == [.delivered])
        await receiver.stop()
        let outcomes = await sink.deliver(Array(items[1...2]))
        #expect(outcomes.allSatisfy { if case .retriable(let reason, _) = $0 { reason.hasPrefix("request failed") || reason.contains("not sent") } else { false } }, "\(outcomes)")
        #expect(sink.state.condition == .open)
        #expect(receiver.acceptedEventIDs == [items[0].event.id])
        await sink.close()
    }

    /// HTTPS: the group's `tls` settings decide whom the sink trusts. A self-signed certificate
    /// for 127.0.0.1 (made with `openssl`) is refused against the system roots, accepted with it
    /// as `caFile`, and accepted with `verify: false`.
    @Test func tlsSettingsDecideWhomTheSinkTrusts() async throws {
        let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        try #require(openssl != nil, "openssl is needed to make a test certificate")
        try await withTemporaryDirectory { directory in
            let certificate = directory.appending("cert.pem").path, key = directory.appending("key.pem").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl!)
            process.arguments = [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
            let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], tls: (certificate, key))
            #expect(receiver.url.scheme == "https")
            func outcome(_ tls: WebhookTLSConfig) async throws -> DeliveryOutcome {
                var config = WebhookFixture.config([("tls", receiver.url)])
                config.tls = tls
                let sink = try config.makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)[0]
                let outcome = await sink.deliver(try SinkConformance.items(1...1, tag: "tls"))[0]
                await sink.close()
                return outcome
            }
            guard case .retriable(let reason, _) = try await outcome(WebhookTLSConfig()) else {
                Issue.record("an untrusted certificate must fail")
                return
            }
            #expect(reason.contains("request failed"))
            #expect(try await outcome(WebhookTLSConfig(caFile: certificate)) == .delivered)
            #expect(try await outcome(WebhookTLSConfig(verify: false)) == .delivered)
            #expect(receiver.acceptedEventIDs.count == 2)
            #expect(receiver.requests.allSatisfy { $0.signatureIsValid })
            // A missing CA file stops start-up with the reason.
            var config = WebhookFixture.config([("tls", receiver.url)])
            config.tls = WebhookTLSConfig(caFile: directory.appending("missing.pem").path)
            #expect(throws: WebhookSetupError.self) {
                _ = try config.makeEndpointSinks(group: "hooks", journal: nil, logger: WebhookFixture.logger)
            }
            await receiver.stop()
        }
    }

    /// Closed → open after N failures (no requests while open, no attempts spent: the
    /// dispatcher is told `unavailable`) → one probe after the cool-down → closed on success.
    @Test func theBreakerOpensProbesAndCloses() async throws {
        let clock = ManualClock()
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(500))
        let sink = try WebhookFixture.sink(
            to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 3, coolDown: .seconds(30), disableAfter: .seconds(3600)), clock: clock
        )
        let items = try SinkConformance.items(1...10, tag: "breaker")
        // Concurrency 8 but the breaker stops starting requests once it opens.
        let first = await sink.deliver(Array(items.prefix(1)))
        #expect(first == [.retriable(reason: "HTTP 500")])
        _ = await sink.deliver(Array(items[1...2]))
        #expect(sink.state.condition == .open)
        #expect(sink.state.consecutiveFailures == 3)
        #expect(await sink.availability() == .unavailable)
        let sent = receiver.requests.count
        let held = await sink.deliver(Array(items[3...5]))
        #expect(receiver.requests.count == sent, "no request while open")
        #expect(held.allSatisfy { if case .retriable(let why, let after) = $0 { why.contains("circuit open") && after == .seconds(30) } else { false } })

        // After the cool-down: one probe. It fails: open again for another cool-down.
        clock.advance(30)
        #expect(await sink.availability() == .limited(1))
        let probe = await sink.deliver(Array(items[3...4]))
        #expect(receiver.requests.count == sent + 1, "exactly one probe")
        #expect(probe[0] == .retriable(reason: "HTTP 500"))
        #expect(await sink.availability() == .unavailable)

        // The receiver heals; the next probe closes the breaker and traffic flows.
        receiver.setBehaviour(.ok)
        clock.advance(30)
        #expect(await sink.availability() == .limited(1))
        #expect(await sink.deliver([items[3]]) == [.delivered])
        #expect(sink.state.condition == .closed)
        #expect(sink.state.consecutiveFailures == 0)
        #expect(await sink.availability() == .available)
        #expect(await sink.deliver(Array(items[4...9])) == Array(repeating: .delivered, count: 6))
        await sink.close()
        await receiver.stop()
    }

    /// An endpoint that fails every other request never fails `failureThreshold` times in a row;
    /// with `failureRate` its breaker opens once enough answers show the share.
    @Test func aFlappingEndpointOpensOnTheFailureRate() async throws {
        let clock = ManualClock()
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        let byRate = try WebhookFixture.sink("rate", to: receiver, breaker: Self.halfOfTenInAMinute(inARow: 3), clock: clock)
        let inARow = try WebhookFixture.sink("row", to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 3), clock: clock)
        let items = try SinkConformance.items(1...12, tag: "flapping")
        // Answers 500, 200, 500, 200, …: after ten answers (five failed) neither has opened, the
        // rate because it judges on a failure only, and on ten answers at the fewest.
        await Self.deliverFlapping(items.prefix(10), to: [byRate, inARow], receiver: receiver, clock: clock, step: 1)
        #expect(byRate.state.condition == .closed && inARow.state.condition == .closed)
        // The eleventh answer, a failure: six of eleven within the minute.
        receiver.setBehaviour(.status(500))
        _ = await byRate.deliver([items[10]])
        _ = await inARow.deliver([items[10]])
        #expect(byRate.state.condition == .open)
        #expect(byRate.state.reason?.contains("6 of the last 11 requests failed within 60 s") == true, "\(byRate.state.reason ?? "")")
        #expect(inARow.state.condition == .closed, "one failure in a row is not three")
        #expect(await byRate.availability() == .unavailable)
        // After the cool-down a successful probe closes it, with the window started over: one
        // more failure does not open it again.
        clock.advance(30)
        receiver.setBehaviour(.ok)
        #expect(await byRate.deliver([items[10]]) == [.delivered])
        #expect(byRate.state.condition == .closed)
        receiver.setBehaviour(.status(500))
        _ = await byRate.deliver([items[11]])
        #expect(byRate.state.condition == .closed)
        await byRate.close()
        await inARow.close()
        await receiver.stop()
    }

    /// Failures further apart than the window never add up to the rate.
    @Test func failuresOutsideTheWindowDoNotCount() async throws {
        let clock = ManualClock()
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
        let items = try SinkConformance.items(1...30, tag: "spread")
        let sink = try WebhookFixture.sink("rate", to: receiver, breaker: Self.halfOfTenInAMinute(inARow: 100), clock: clock)
        // One answer every 10 s, every other one failing: at most six within any minute.
        await Self.deliverFlapping(items[...], to: [sink], receiver: receiver, clock: clock, step: 10)
        #expect(sink.state.condition == .closed)
        await sink.close()
        await receiver.stop()
    }

    /// Opens on half of at least ten answers within a minute, or on `inARow` failures in a row.
    static func halfOfTenInAMinute(inARow: Int) -> WebhookBreakerConfig {
        WebhookBreakerConfig(failureThreshold: inARow, failureRate: 0.5, window: .seconds(60), minimumRequests: 10)
    }

    /// Hands each item alone to each sink, the receiver answering 500 and 200 in turn (from
    /// 500), the clock moving `step` seconds after each item.
    static func deliverFlapping(
        _ items: ArraySlice<SinkItem>, to sinks: [WebhookEndpointSink], receiver: WebhookReceiver, clock: ManualClock, step: Double
    ) async {
        for (n, item) in items.enumerated() {
            receiver.setBehaviour(n % 2 == 0 ? .status(500) : .ok)
            for sink in sinks { _ = await sink.deliver([item]) }
            clock.advance(step)
        }
    }

    @Test func anEndpointFailingLongerThanDisableAfterIsDisabled() async throws {
        let clock = ManualClock()
        let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(502))
        let sink = try WebhookFixture.sink(
            to: receiver, breaker: WebhookBreakerConfig(failureThreshold: 1, coolDown: .seconds(60), disableAfter: .seconds(600)), clock: clock
        )
        let item = try SinkConformance.items(1...1, tag: "disable-after")
        _ = await sink.deliver(item)
        #expect(sink.state.condition == .open)
        for _ in 0..<9 {
            clock.advance(60)
            _ = await sink.deliver(item)
        }
        #expect(sink.state.condition == .open, "540 s of failures: still open")
        clock.advance(60)
        _ = await sink.deliver(item)
        #expect(sink.state.condition == .disabled, "600 s of failures: disabled")
        #expect(sink.state.reason?.contains("failing since") == true)
        clock.advance(3600)
        #expect(await sink.availability() == .unavailable, "no probe for a disabled endpoint")
        await sink.close()
        await receiver.stop()
    }
}
