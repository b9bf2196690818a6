import BridgeCore
import BridgeGateway
import Foundation
import RdKafka
import Testing
import TestSupport

/// Callbacks into a real gateway, out to librdkafka's 3-broker mock cluster through the Kafka
/// sink, read back with a real consumer.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaEndToEndTests {
    static func sinks(_ cluster: KafkaMockCluster) -> String {
        """
              kafka:
                type: kafka
                brokers: "\(cluster.bootstrapServers)"
                topic: "thingbridge.{account}"
                messageTimeout: 1s
                flushTimeout: 2s
                linger: 1ms
                healthInterval: 1s
                retry: { base: 50ms, cap: 200ms, maxAttempts: 0 }
                properties:
                  reconnect.backoff.ms: 50
                  reconnect.backoff.max.ms: 300
        """
    }

    static let routes = ["all.yaml": "routes:\n  - name: everything\n    to: [kafka]\n"]
    static let topic = "thingbridge.\(GatewayHarness.account)"
    static let devices = ["7022895550", "7022895551", "7022895552"]

    static func post(_ gateway: GatewayHarness, _ range: Range<Int>, tag: String) async throws -> [String] {
        var ids: [String] = []
        for n in range {
            let body = GatewayHarness.callbackBody(
                requestID: "\(tag)-\(n)", text: "temp=\(n)", ids: [("mdn", devices[n % devices.count])]
            )
            let answer = try await gateway.post(body)
            #expect(answer.status == 200, "ingress keeps accepting")
            ids.append(try #require(answer.json["id"]))
        }
        return ids
    }

    @Test func eventsArriveInKafkaAndAnOutageLosesNothing() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic(Self.topic, partitions: 3)
        try await GatewayHarness.with(routes: Self.routes, sinks: Self.sinks(cluster)) { gateway in
            let journal = gateway.gateway.journal
            var ids = try await Self.post(gateway, 0..<12, tag: "before")
            #expect(await eventually { (try? await journal.stats().deliveredBySink["kafka"]) == 12 })
            // /readyz shows the brokers as reachable.
            #expect(await eventually { (try? await gateway.admin("/readyz").body.contains(#""reachable":true"#)) == true })

            // Every broker down: callbacks are still answered 200, the backlog waits on disk.
            try cluster.setAllBrokers(up: false)
            // Readiness reports the outage as a detail; the gateway stays ready (events wait in the journal).
            #expect(await eventually(timeout: .seconds(15)) { (try? await gateway.admin("/readyz").body.contains(#""reachable":false"#)) == true })
            #expect(try await gateway.admin("/readyz").status == 200)
            ids += try await Self.post(gateway, 0..<18, tag: "during")
            #expect(await eventually { (try? await journal.stats().pendingBySink["kafka"]) == 18 })
            // Still pending after several failed attempts (each record times out after 1 s).
            try await Task.sleep(for: .seconds(2))
            #expect(try await journal.stats().pendingBySink["kafka"] == 18)
            #expect(try await journal.stats().deadBySink["kafka"] ?? 0 == 0)

            try cluster.setAllBrokers(up: true)
            #expect(await eventually(timeout: .seconds(20)) { (try? await journal.stats().deliveredBySink["kafka"]) == 30 })

            let read = try KafkaConsumer.readAllBlocking(bootstrapServers: cluster.bootstrapServers, topic: Self.topic)
            let received = read.compactMap { $0.header("ce_id")?.stringValue }
            #expect(Set(received) == Set(ids), "every event reached Kafka")
            #expect(received.count == Set(received).count, "once each")
            // One partition per device (the default key is the device's primary id).
            for device in Self.devices {
                let partitions = Set(read.filter { $0.key == Data(device.utf8) }.map(\.partition))
                #expect(partitions.count == 1, "device \(device): \(partitions)")
            }
            #expect(read.allSatisfy { $0.header("ce_type")?.stringValue == "com.verizon.thingspace.sms.mo" })
        }
    }

    @Test func aPermanentProduceErrorEndsInADeadLetterWithTheReason() async throws {
        let cluster = try KafkaMockCluster(brokers: 3)
        try cluster.createTopic(Self.topic, partitions: 1)
        try await GatewayHarness.with(routes: Self.routes, sinks: Self.sinks(cluster)) { gateway in
            let journal = gateway.gateway.journal
            _ = try await Self.post(gateway, 0..<1, tag: "ok")
            #expect(await eventually { (try? await journal.stats().deliveredBySink["kafka"]) == 1 })

            cluster.pushRequestErrors(.produce, [.messageSizeTooLarge])
            _ = try await Self.post(gateway, 1..<2, tag: "too-large")
            #expect(await eventually { (try? await journal.stats().deadBySink["kafka"]) == 1 })
            let letter = try #require(try await journal.deadLetters().first)
            #expect(letter.reason.contains("MSG_SIZE_TOO_LARGE"), "\(letter.reason)")
            #expect(letter.attempts == 1, "permanent: not retried")
        }
    }
}
