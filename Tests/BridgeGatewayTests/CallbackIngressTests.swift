import BridgeCore
import BridgeGateway
import Foundation
import GRDB
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(2)))
struct CallbackIngressTests {
    @Test func goodCallbackIsJournaledThenWrittenAsACloudEvent() async throws {
        try await GatewayHarness.with { gateway in
            let answer = try await gateway.post(GatewayHarness.callbackBody(requestID: "5b1c7e0a-0001", text: "temp=21.5;door=closed"))
            #expect(answer.status == 200)
            #expect(answer.json["duplicate"] == "0")
            let id = try #require(answer.json["id"])

            // Acknowledged means committed: the row is there the moment the answer is.
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.events == 1)

            let written = await eventually { (try? readJSONLines(gateway.archiveFile()).count) == 1 }
            #expect(written)
            let line = try #require(try readJSONLines(gateway.archiveFile()).first)
            #expect(line["specversion"] as? String == "1.0")
            #expect(line["id"] as? String == id)
            #expect(line["type"] as? String == "com.verizon.thingspace.sms.mo")
            #expect(line["source"] as? String == "/thingspace/accounts/\(GatewayHarness.account)")
            #expect(line["subject"] as? String == "7022895555")
            #expect(line["datacontenttype"] as? String == "application/json")
            #expect(Timestamps.parse(line["time"] as? String ?? "") != nil)
            let data = try #require(line["data"] as? [String: Any])
            #expect(data["account"] as? String == GatewayHarness.account)
            #expect(data["text"] as? String == "temp=21.5;door=closed")
            #expect(data["channel"] as? String == "callback")
            #expect(data["requestId"] as? String == "5b1c7e0a-0001")
            #expect((data["deviceIds"] as? [[String: String]]) == [["kind": "mdn", "id": "7022895555"], ["kind": "esn", "id": "60E5F99D"]])
            #expect(Timestamps.parse(data["receivedAt"] as? String ?? "") != nil)

            let delivered = await eventually { (try? await gateway.gateway.journal.stats().deliveredBySink["archive"]) == 1 }
            #expect(delivered)
        }
    }

    @Test func aRetriedCallbackIsAcknowledgedButStoredOnce() async throws {
        try await GatewayHarness.with { gateway in
            let first = try await gateway.post(GatewayHarness.callbackBody(requestID: "same"))
            let second = try await gateway.post(GatewayHarness.callbackBody(requestID: "same"))
            #expect(first.status == 200)
            #expect(second.status == 200)
            #expect(second.json["duplicate"] == "1")
            #expect(first.json["id"] == second.json["id"])
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.events == 1)
            #expect(stats.duplicatesSeen == 1)
            #expect(await eventually { (try? readJSONLines(gateway.archiveFile()).count) == 1 })
        }
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        let account: String
        let status: Int
        var testDescription: String { name }
    }

    static let rejected: [BadInput] = [
        BadInput(name: "wrong password", body: GatewayHarness.callbackBody(password: "guess"), account: GatewayHarness.account, status: 401),
        BadInput(name: "wrong username", body: GatewayHarness.callbackBody(username: "someone"), account: GatewayHarness.account, status: 401),
        BadInput(name: "no credentials", body: GatewayHarness.callbackBody(username: nil, password: nil), account: GatewayHarness.account, status: 401),
        BadInput(name: "unknown account", body: GatewayHarness.callbackBody(), account: "0000999999-00001", status: 404),
        BadInput(name: "body over the limit", body: GatewayHarness.callbackBody(text: String(repeating: "x", count: 5000)), account: GatewayHarness.account, status: 413),
        BadInput(name: "not JSON", body: "username=thingspace&password=x", account: GatewayHarness.account, status: 400),
        BadInput(name: "JSON array", body: "[]", account: GatewayHarness.account, status: 400),
    ]

    @Test(arguments: rejected)
    func badInputGetsItsStatusAndStoresNothing(_ input: BadInput) async throws {
        try await GatewayHarness.with { gateway in
            let answer = try await gateway.post(input.body, account: input.account)
            #expect(answer.status == input.status)
            #expect(answer.json["error"]?.isEmpty == false)
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.events == 0)
            #expect(stats.quarantined == 0)
        }
    }

    @Test func authenticatedButUnparseableBodyIsQuarantined() async throws {
        try await GatewayHarness.with { gateway in
            let body = #"{"username":"thingspace","password":"\#(GatewayHarness.password)","deviceIds":[{"id":"1","kind":"mdn"}],"payload":"no text key"}"#
            let answer = try await gateway.post(body)
            #expect(answer.status == 202)
            #expect(answer.json["reason"] == "missing_text")
            let stats = try await gateway.gateway.journal.stats()
            #expect(stats.quarantined == 1)
            #expect(stats.events == 0)
            let queue = try DatabaseQueue(path: gateway.journalPath)
            let stored = try await queue.read { try String.fetchOne($0, sql: "SELECT CAST(body AS TEXT) FROM quarantine") }
            #expect(stored == body)
        }
    }

    @Test func journalFailureAnswers503AndAcknowledgesNothing() async throws {
        try await GatewayHarness.with { gateway in
            let queue = try DatabaseQueue(path: gateway.journalPath)
            try await queue.write { try $0.execute(sql: "CREATE TRIGGER fail BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk trouble'); END") }
            let answer = try await gateway.post(GatewayHarness.callbackBody())
            #expect(answer.status == 503)
            #expect(answer.headers["retry-after"] == "5")
            // Once the journal recovers, ThingSpace's next attempt goes through.
            try await queue.write { try $0.execute(sql: "DROP TRIGGER fail") }
            let retry = try await gateway.post(GatewayHarness.callbackBody())
            #expect(retry.status == 200)
            #expect(try await gateway.gateway.journal.stats().events == 1)
        }
    }

    @Test func aBurstOfConcurrentCallbacksIsAllJournaledWithSharedCommits() async throws {
        try await GatewayHarness.with { gateway in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<200 {
                    group.addTask { try await gateway.post(GatewayHarness.callbackBody(requestID: "burst-\(n)", text: "n=\(n)")).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == 200 })
            let journal = gateway.gateway.journal
            #expect(try await journal.stats().events == 200)
            #expect(journal.transactionsCommitted <= 200)
            #expect(await eventually { (try? readJSONLines(gateway.archiveFile()).count) == 200 })
        }
    }

    @Test func adminEndpointsAnswer() async throws {
        try await GatewayHarness.with { gateway in
            #expect(try await gateway.admin("/healthz").status == 200)
            #expect(try await gateway.admin("/readyz").status == 200)
            _ = try await gateway.post(GatewayHarness.callbackBody())
            let status = try await gateway.admin("/status")
            #expect(status.status == 200)
            #expect(status.body.contains("\"events\":1"))
        }
    }
}

@Suite struct GatewayStartupTests {
    @Test func aRouteNamingAnUnknownSinkStopsStartUpWithFileAndLine() async throws {
        let routes = ["bad.yaml": "routes:\n  - name: typo\n    to:\n      - sink: archvie\n"]
        do {
            try await GatewayHarness.with(routes: routes) { _ in }
            Issue.record("the gateway must not start")
        } catch let errors as ConfigErrors {
            let error = try #require(errors.errors.first)
            #expect(error.location?.file.hasSuffix("routes/bad.yaml") == true)
            #expect(error.location?.line == 4)
            #expect(error.description.contains("unknown sink 'archvie'"))
        }
    }

    @Test func unknownConfigKeyStopsStartUpWithTheKeyAndLine() async throws {
        try await withTemporaryDirectory { directory in
            let yaml = GatewayHarness.configYAML(dataDir: "d", routesDir: "r") + "\njournl:\n  path: x\n"
            let file = try directory.write(yaml, to: "thingbridge.yaml")
            let error = #expect(throws: ConfigError.self) {
                try GatewayConfig.load(path: file.path, environment: ["TEST_CALLBACK_PASSWORD": "p"])
            }
            #expect(error?.description.contains("unknown key 'journl'") == true)
            #expect(error?.location?.line != nil)
        }
    }

    @Test func anEmptyAccountListIsNamedNotTheKeysAfterIt() async throws {
        try await withTemporaryDirectory { directory in
            let file = try directory.write("accounts: []\nsinks:\n  a: { type: file }\nrouting: { unmatched: drop }\n", to: "thingbridge.yaml")
            let error = #expect(throws: ConfigError.self) { try GatewayConfig.load(path: file.path, environment: [:]) }
            #expect(error?.description.contains("at least one account is needed") == true)
            #expect(error?.location?.line == 1)
        }
    }

    @Test func missingAccountsIsAnError() async throws {
        try await withTemporaryDirectory { directory in
            let file = try directory.write("ingress:\n  listen: \":8080\"\n", to: "thingbridge.yaml")
            let error = #expect(throws: ConfigError.self) { try GatewayConfig.load(path: file.path, environment: [:]) }
            #expect(error?.description.contains("missing required key 'accounts'") == true)
        }
    }

    @Test func overridesWinOverTheFile() throws {
        let yaml = GatewayHarness.configYAML(dataDir: "from-file", routesDir: "r")
        var config = try YAMLConfigDecoder(environment: ["TEST_CALLBACK_PASSWORD": "p"]).decode(GatewayConfig.self, from: yaml, file: "t.yaml")
        config.apply(.init(listen: ListenAddress(host: "0.0.0.0", port: 18080), adminListen: nil, dataDir: "/srv/tb"))
        #expect(config.ingress.listen.port == 18080)
        #expect(config.admin.listen.port == 0)
        #expect(config.dataDir == "/srv/tb")
        #expect(config.journalPath == "/srv/tb/journal.sqlite")
    }
}
