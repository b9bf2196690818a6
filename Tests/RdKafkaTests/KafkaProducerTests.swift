import Foundation
import Logging
import Testing
import TestSupport
@testable import RdKafka

/// The wrapper against librdkafka's mock cluster: real Kafka protocol over loopback TCP.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaProducerTests {
    @Test func roundTripOnThreeBrokersWithKeysAndHeaders() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("round-trip", partitions: 3, replicationFactor: 3)
        let producer = try kafka.producer()
        let messages = (0..<30).map { n in
            MockKafka.message("round-trip", key: "device-\(n % 5)", value: "value \(n)", headers: [
                KafkaHeader(name: "n", string: "\(n)"), KafkaHeader(name: "empty", value: nil),
            ])
        }
        let results = await producer.send(messages)
        let reports = try results.map { try $0.get() }
        #expect(reports.count == 30)
        #expect(reports.allSatisfy { $0.topic == "round-trip" && $0.offset >= 0 })
        #expect(producer.inFlight == 0)

        let metadata = try await producer.metadata(topic: "round-trip")
        #expect(metadata.brokers.count == 3)
        #expect(metadata.topic("round-trip")?.partitions.count == 3)

        let read = try await kafka.readBack("round-trip", count: 30)
        #expect(read.count == 30)
        for message in read {
            let value = String(decoding: message.value ?? Data(), as: UTF8.self)
            let n = try #require(Int(value.dropFirst("value ".count)))
            #expect(message.key == Data("device-\(n % 5)".utf8))
            #expect(message.header("n")?.stringValue == "\(n)")
            #expect(message.headers.contains { $0.name == "empty" && $0.value == nil })
            // The report said where it went; the consumer found it there.
            #expect(reports[n].partition == message.partition)
            #expect(reports[n].offset == message.offset)
        }
        await producer.close(flushTimeout: .seconds(5))
    }

    /// Reports are matched to their callers by the message's id (its batch and its place in it):
    /// batches sent at once, interleaved on the wire, to two topics, each get back exactly their own
    /// messages' reports, in order, and the consumer finds every record where its report said.
    @Test func concurrentBatchesToTwoTopicsEachGetTheirOwnReports() async throws {
        let kafka = try MockKafka(brokers: 3)
        for topic in ["batches-a", "batches-b"] { try kafka.cluster.createTopic(topic, partitions: 3, replicationFactor: 3) }
        let producer = try kafka.producer()
        let batches = 8, perBatch = 250
        let sent = await withTaskGroup(of: (Int, [KafkaDeliveryResult]).self) { group in
            for batch in 0..<batches {
                group.addTask {
                    // Both topics inside each batch, alternating: every message names its own.
                    let messages = (0..<perBatch).map { n in
                        MockKafka.message(n % 2 == 0 ? "batches-a" : "batches-b", key: "device-\(n % 7)", value: "\(batch)/\(n)")
                    }
                    return (batch, await producer.send(messages))
                }
            }
            var sent: [Int: [KafkaDeliveryResult]] = [:]
            for await (batch, results) in group { sent[batch] = results }
            return sent
        }
        #expect(producer.inFlight == 0)
        var reported: [String: KafkaDeliveryReport] = [:]
        for (batch, results) in sent {
            #expect(results.count == perBatch)
            for (n, result) in results.enumerated() {
                let report = try result.get()
                #expect(report.topic == (n % 2 == 0 ? "batches-a" : "batches-b"))
                reported["\(batch)/\(n)"] = report
            }
        }
        #expect(reported.count == batches * perBatch)
        for topic in ["batches-a", "batches-b"] {
            let read = try await kafka.readBack(topic, count: batches * perBatch / 2)
            #expect(read.count == batches * perBatch / 2)
            for message in read {
                let value = String(decoding: message.value ?? Data(), as: UTF8.self)
                let report = try #require(reported[value], "no report for \(value)")
                #expect(report.topic == topic && report.partition == message.partition && report.offset == message.offset, "\(value)")
            }
        }
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test func theRealBrokerRoundTripWorksOnTheMockCluster() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("thingbridge.test", partitions: 3)
        try await RealBrokerTests.roundTrip(brokers: kafka.cluster.bootstrapServers, topic: "thingbridge.test")
    }

    @Test func aKeyAlwaysGoesToOnePartitionAndKeysSpread() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("keys", partitions: 6, replicationFactor: 3)
        let producer = try kafka.producer()
        let keys = (0..<12).map { "70228955\($0)" }
        let messages = (0..<60).map { n in MockKafka.message("keys", key: keys[n % keys.count], value: "\(n)") }
        let reports = try await producer.send(messages).map { try $0.get() }
        var partitionsByKey: [String: Set<Int32>] = [:]
        for (message, report) in zip(messages, reports) {
            partitionsByKey[String(decoding: message.key!, as: UTF8.self), default: []].insert(report.partition)
        }
        #expect(partitionsByKey.values.allSatisfy { $0.count == 1 }, "one partition per key: \(partitionsByKey)")
        #expect(Set(partitionsByKey.values.flatMap { $0 }).count > 1, "keys spread over partitions")
        // Per key, offsets grow in send order (order kept within the partition).
        for key in keys {
            let offsets = zip(messages, reports).filter { $0.0.key == Data(key.utf8) }.map(\.1.offset)
            #expect(offsets == offsets.sorted())
        }
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test func injectedRetriableProduceErrorsAreRetriedWithoutLossOrDuplicates() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("flaky", partitions: 1, replicationFactor: 3)
        let producer = try kafka.producer()
        // Warm up the connection so the errors hit produce requests of the real batch.
        _ = try await producer.send(MockKafka.message("flaky", key: "k", value: "warm-up")).get()
        kafka.cluster.pushRequestErrors(.produce, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas])
        let messages = (0..<20).map { MockKafka.message("flaky", key: "k", value: "m\($0)") }
        let results = await producer.send(messages)
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
        let read = try await kafka.readBack("flaky", count: 21, timeout: .seconds(5))
        let values = read.map { String(decoding: $0.value ?? Data(), as: UTF8.self) }
        #expect(values == ["warm-up"] + (0..<20).map { "m\($0)" }, "in order, once each")
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test(arguments: [KafkaError.Code.messageSizeTooLarge, .topicAuthorizationFailed, .invalidRecord])
    func aPermanentBrokerErrorIsReportedPermanent(code: KafkaError.Code) async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("strict", partitions: 1, replicationFactor: 3)
        let producer = try kafka.producer()
        _ = try await producer.send(MockKafka.message("strict", key: "k", value: "warm-up")).get()
        kafka.cluster.pushRequestErrors(.produce, [code])
        let result = await producer.send(MockKafka.message("strict", key: "k", value: "refused"))
        guard case .failure(let error) = result else { Issue.record("expected \(code.name), got \(result)"); return }
        #expect(error.code == code)
        #expect(error.isPermanent)
        // The producer stays usable: a later message goes through (after an authorization
        // failure librdkafka may fail the topic's next message too, until its metadata refresh).
        var later: KafkaDeliveryResult = .failure(error)
        for _ in 0..<20 {
            later = await producer.send(MockKafka.message("strict", key: "k", value: "after"))
            if case .success = later { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = try later.get()
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test func aLostSequenceWithGaplessGuaranteeIsFatal() async throws {
        let kafka = try MockKafka(brokers: 1)
        try kafka.cluster.createTopic("gapless", partitions: 1, replicationFactor: 1)
        let producer = try kafka.producer { $0.properties["enable.gapless.guarantee"] = "true" }
        _ = try await producer.send(MockKafka.message("gapless", key: "k", value: "warm-up")).get()
        kafka.cluster.pushRequestErrors(.produce, [.outOfOrderSequenceNumber])
        let result = await producer.send(MockKafka.message("gapless", key: "k", value: "lost"))
        guard case .failure(let error) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(error.isFatal || error.isRetriable, "\(error)")
        #expect(await eventually { producer.fatalError != nil })
        #expect(producer.fatalError?.isFatal == true)
        // A fatal producer refuses new messages at once.
        let refused = await producer.send(MockKafka.message("gapless", key: "k", value: "after"))
        guard case .failure(let after) = refused else { Issue.record("expected a failure, got \(refused)"); return }
        #expect(after.isFatal)
        await producer.close(flushTimeout: .milliseconds(200))
    }

    @Test func aMessageOverMessageMaxBytesIsRefusedAtOnceAsPermanent() async throws {
        let kafka = try MockKafka(brokers: 1)
        let producer = try kafka.producer { $0.properties["message.max.bytes"] = "2000" }
        let result = await producer.send(MockKafka.message("big", key: "k", value: String(repeating: "x", count: 5000)))
        guard case .failure(let error) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(error.code == .messageSizeTooLarge)
        #expect(error.isPermanent)
        await producer.close(flushTimeout: .seconds(1))
    }

    @Test func anUnknownTopicIsPermanent() async throws {
        let kafka = try MockKafka(brokers: 1)
        try kafka.cluster.createTopic("gone", partitions: 1, replicationFactor: 1)
        // The broker says the topic does not exist (as with auto-create off).
        kafka.cluster.setTopicError("gone", .unknownTopicOrPartition)
        let producer = try kafka.producer(messageTimeout: .seconds(5))
        let result = await producer.send(MockKafka.message("gone", key: "k", value: "v"))
        guard case .failure(let error) = result else { Issue.record("expected a failure, got \(result)"); return }
        #expect(error.isPermanent, "\(error)")
        await producer.close(flushTimeout: .seconds(1))
    }

    @Test func allBrokersDownIsRetriableThenDeliveredWhenUp() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("outage", partitions: 3, replicationFactor: 3)
        let producer = try kafka.producer(messageTimeout: .seconds(2))
        _ = try await producer.send(MockKafka.message("outage", key: "k", value: "before")).get()

        try kafka.cluster.setAllBrokers(up: false)
        let messages = (0..<10).map { MockKafka.message("outage", key: "k\($0)", value: "during \($0)") }
        let failed = await producer.send(messages)
        #expect(failed.allSatisfy { if case .failure(let error) = $0 { error.isRetriable } else { false } }, "\(failed)")
        await #expect(throws: KafkaError.self) { try await producer.metadata(timeout: .milliseconds(500)) }

        try kafka.cluster.setAllBrokers(up: true)
        let retried = await producer.send(messages)
        #expect(retried.allSatisfy { (try? $0.get()) != nil }, "\(retried)")
        let read = try await kafka.readBack("outage", count: 11, timeout: .seconds(5))
        let values = Set(read.map { String(decoding: $0.value ?? Data(), as: UTF8.self) })
        #expect(values == Set(["before"] + (0..<10).map { "during \($0)" }))
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test func oneLeaderDownKeepsMessagesQueuedUntilItIsBack() async throws {
        let kafka = try MockKafka(brokers: 3)
        try kafka.cluster.createTopic("leader", partitions: 1, replicationFactor: 3)
        try kafka.cluster.setPartitionLeader(topic: "leader", partition: 0, broker: 2)
        let producer = try kafka.producer(messageTimeout: .seconds(20))
        _ = try await producer.send(MockKafka.message("leader", key: "k", value: "before")).get()
        try kafka.cluster.setBrokerDown(2)
        let sending = Task { await producer.send((0..<5).map { MockKafka.message("leader", key: "k", value: "m\($0)") }) }
        #expect(await eventually { producer.inFlight == 5 }, "waiting for the leader, not failed")
        try await Task.sleep(for: .milliseconds(300))
        #expect(producer.inFlight == 5, "still waiting, not failed")
        try kafka.cluster.setBrokerUp(2)
        let results = await sending.value
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
        await producer.close(flushTimeout: .seconds(5))
    }

    @Test func closeWithinItsBoundFailsUnconfirmedMessagesAsRetriable() async throws {
        let kafka = try MockKafka(brokers: 1)
        try kafka.cluster.createTopic("closing", partitions: 1, replicationFactor: 1)
        let producer = try kafka.producer(messageTimeout: .seconds(60))
        _ = try await producer.send(MockKafka.message("closing", key: "k", value: "before")).get()
        try kafka.cluster.setBrokerDown(1)
        let sending = Task { await producer.send((0..<5).map { MockKafka.message("closing", key: "k", value: "m\($0)") }) }
        #expect(await eventually { producer.inFlight == 5 })
        let clock = ContinuousClock()
        let started = clock.now
        await producer.close(flushTimeout: .milliseconds(500))
        #expect(clock.now - started < .seconds(5), "bounded by the flush timeout, not message.timeout")
        let results = await sending.value
        #expect(results.allSatisfy { if case .failure(let error) = $0 { error.isRetriable } else { false } }, "\(results)")
        // After close, sends fail at once, retriable.
        let late = await producer.send(MockKafka.message("closing", key: "k", value: "late"))
        guard case .failure(let error) = late else { Issue.record("expected a failure"); return }
        #expect(error.isRetriable)
    }

    @Test func aCancelledSendReturnsAtOnce() async throws {
        let kafka = try MockKafka(brokers: 1)
        try kafka.cluster.createTopic("cancel", partitions: 1, replicationFactor: 1)
        try kafka.cluster.setBrokerDown(1)
        let producer = try kafka.producer(messageTimeout: .seconds(60))
        let sending = Task { await producer.send((0..<3).map { MockKafka.message("cancel", key: "k", value: "m\($0)") }) }
        #expect(await eventually { producer.inFlight == 3 })
        sending.cancel()
        let results = await sending.value
        #expect(results.count == 3)
        #expect(results.allSatisfy { if case .failure(let error) = $0 { error.isRetriable } else { false } })
        #expect(producer.inFlight == 0)
        await producer.close(flushTimeout: .milliseconds(200))
    }
}
