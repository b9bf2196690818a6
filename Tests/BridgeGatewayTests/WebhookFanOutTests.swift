import BridgeCore
import BridgeGateway
import BridgeSinks
import Foundation
import Testing
import TestSupport
import ThingSpace
import WebhookTestSupport

/// A route naming a webhook group, through the whole gateway: callbacks in, one delivery per
/// endpoint journaled, each endpoint's dispatcher sends signed requests to a real receiver.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WebhookFanOutTests {
    @Test func everyEndpointOfTheGroupGetsEveryRoutedEventSigned() async throws {
        let secrets = (0..<3).map { _ in WebhookSecret.random() }
        var receivers: [WebhookReceiver] = []
        for secret in secrets { receivers.append(try await WebhookReceiver.start(secrets: [secret])) }
        let names = ["pagerduty", "audit", "crm"]
        var sinks = GatewayHarness.defaultSinks + "\n  oncall:\n    type: webhook\n    concurrency: 4\n    endpoints:\n"
        for (index, name) in names.enumerated() {
            sinks += "      - { name: \(name), url: \"\(receivers[index].url.absoluteString)\", secret: \"\(secrets[index])\", headers: { X-Endpoint: \(name) } }\n"
        }
        let routes = ["all.yaml": "routes:\n  - name: everything\n    to: [archive, oncall]\n"]
        let receiversCopy = receivers
        try await GatewayHarness.with(routes: routes, sinks: sinks) { harness in
            for n in 1...20 {
                let answer = try await harness.post(GatewayHarness.callbackBody(requestID: "fan-\(n)", text: "n=\(n)"))
                #expect(answer.status / 100 == 2)
            }
            let allArrived = await eventually(timeout: .seconds(30)) {
                receiversCopy.allSatisfy { Set($0.acceptedEventIDs).count == 20 }
                    && ((try? readJSONLines(harness.archiveFile()).count) ?? 0) == 20
            }
            #expect(allArrived, "\(receiversCopy.map { $0.acceptedEventIDs.count })")
            let archived = Set(try readJSONLines(harness.archiveFile()).compactMap { $0["id"] as? String })
            #expect(archived.count == 20)
            for (index, receiver) in receiversCopy.enumerated() {
                // Exactly as configured: the same events, signed with this endpoint's secret,
                // with its own headers, each once.
                #expect(Set(receiver.acceptedEventIDs) == archived)
                #expect(receiver.acceptedEventIDs.count == 20)
                #expect(receiver.requests.allSatisfy { $0.signatureIsValid })
                #expect(receiver.requests.allSatisfy { $0.headers["x-endpoint"] == names[index] })
                #expect(receiver.requests.allSatisfy { $0.headers["content-type"] == "application/cloudevents+json" })
            }
            // Each endpoint's delivery of one event has its own webhook-id.
            let ids = receiversCopy.map { Set($0.requests.compactMap { $0.headers["webhook-id"] }) }
            #expect(ids[0].isDisjoint(with: ids[1]) && ids[1].isDisjoint(with: ids[2]))
            // Own outbox rows per endpoint; none for the group name itself.
            let delivered = await eventually {
                (try? await harness.gateway.journal.stats().deliveredBySink) == [
                    "archive": 20, "oncall/pagerduty": 20, "oncall/audit": 20, "oncall/crm": 20,
                ]
            }
            let stats = try await harness.gateway.journal.stats()
            #expect(delivered, "\(stats)")
        }
        for receiver in receivers { await receiver.stop() }
    }

    /// `ordering: perDevice` on a group keeps each device's order per endpoint: every endpoint's
    /// sink is in the journal's per-device index, and a device's second event waits at an
    /// endpoint until its first is done there, while the other endpoint goes on.
    @Test func perDeviceOrderingOfAGroupHoldsPerEndpoint() async throws {
        try await withTemporaryDirectory { directory in
            let secret = WebhookSecret.random()
            let yaml = GatewayHarness.configYAML(
                dataDir: directory.appending("data").path, routesDir: directory.appending("routes").path,
                sinks: """
                  oncall:
                    type: webhook
                    ordering: perDevice
                    endpoints:
                      - { name: a, url: "http://127.0.0.1:9/a", secret: "\(secret)" }
                      - { name: b, url: "http://127.0.0.1:9/b", secret: "\(secret)" }
                """
            )
            let file = try directory.write(yaml, to: "thingbridge.yaml")
            let config = try GatewayConfig.load(path: file.path, environment: ["TEST_CALLBACK_PASSWORD": "x"])
            let journal = try config.openJournal()
            #expect(journal.orderedSinks == ["oncall/a", "oncall/b"])
            // Two events of one device, delivered to both endpoints; the first is pending at `a`
            // (as if retrying) but done at `b`.
            let events = (1...2).map { n in
                EventNormalizer.normalize(
                    MOSMSCallback(requestID: "order-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "7022895555")], text: "n=\(n)"),
                    account: GatewayHarness.account, channel: .callback, receivedAt: Date()
                )
            }
            _ = try await journal.append(events.map {
                JournalEntry(event: $0, deliveries: [.init(route: "r", sink: "oncall/a"), .init(route: "r", sink: "oncall/b")])
            })
            let atB = try await journal.dueDeliveries(sink: "oncall/b", limit: 10)
            #expect(atB.map(\.eventID) == [events[0].id])
            try await journal.markDelivered(atB.map(\.deliveryID))
            #expect(try await journal.dueDeliveries(sink: "oncall/b", limit: 10).map(\.eventID) == [events[1].id])
            #expect(try await journal.dueDeliveries(sink: "oncall/a", limit: 10).map(\.eventID) == [events[0].id])
            try journal.close()
        }
    }
}
