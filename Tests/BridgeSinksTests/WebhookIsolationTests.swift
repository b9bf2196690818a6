@testable import BridgeCore
import BridgeSinks
import Foundation
import Logging
import Testing
import TestSupport
import WebhookTestSupport

/// One group, three endpoints: one answers 500, one never answers, one is healthy. Each has its
/// own dispatcher over its own outbox rows; the clock of retries and breakers is injected.
@Suite(.timeLimit(.minutes(2))) struct WebhookIsolationTests {
    @Test func aFailingAndAHungEndpointNeitherDelayNorLoseAnything() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            clock.advance(Date().timeIntervalSince(clock.now) + 1)
            let secret = WebhookFixture.secret
            let failing = try await WebhookReceiver.start(secrets: [secret], behaviour: .status(500))
            let hanging = try await WebhookReceiver.start(secrets: [secret], behaviour: .hang)
            let healthy = try await WebhookReceiver.start(secrets: [secret])
            let hangTimeout = Duration.seconds(5)
            let config = WebhookFixture.config(
                [("failing", failing.url), ("hanging", hanging.url), ("healthy", healthy.url)], timeout: hangTimeout,
                breaker: WebhookBreakerConfig(failureThreshold: 1, coolDown: .seconds(30), disableAfter: nil)
            )
            let journal = try SQLiteJournal(path: directory.appending("journal.sqlite").path)
            let sinks = try config.makeEndpointSinks(group: "hooks", journal: journal, logger: WebhookFixture.logger, now: { clock.now })
            #expect(sinks.map(\.name) == ["hooks/failing", "hooks/hanging", "hooks/healthy"])
            let policy = RetryPolicy(base: .seconds(1), cap: .seconds(10), maxAttempts: 2)
            let dispatchers = sinks.map {
                Dispatcher(sink: $0, journal: journal, signal: DeliverySignal(), retry: policy, logger: WebhookFixture.logger, now: { clock.now })
            }
            let items = try SinkConformance.items(1...30, tag: "isolation")
            let ids = Set(items.map(\.event.id))
            _ = try await journal.append(items.map { item in
                JournalEntry(event: item.event, deliveries: sinks.map { RoutedDelivery(route: "r", sink: $0.name) })
            })

            // All three at once. The healthy endpoint is done long before the hung one's
            // requests time out: it does not wait for its neighbours.
            let start = ContinuousClock.now
            let healthyDone = Task { () -> Duration in
                await dispatchers[2].drainDue()
                return ContinuousClock.now - start
            }
            async let failingRound: Void = { _ = await dispatchers[0].drainDue() }()
            async let hangingRound: Void = { _ = await dispatchers[1].drainDue() }()
            let healthyTime = await healthyDone.value
            #expect(Set(healthy.acceptedEventIDs) == ids)
            #expect(healthyTime < hangTimeout, "healthy took \(healthyTime) while a neighbour hung")
            _ = await (failingRound, hangingRound)
            // Concurrency 8, threshold 1: the first 8 go out together; the first failure opens
            // the breaker and nothing more starts.
            #expect(hanging.requests.count == 8)
            #expect(failing.requests.count == 8)

            // Both failing endpoints opened their breakers; the healthy one did not.
            #expect(sinks[0].state.condition == .open)
            #expect(sinks[1].state.condition == .open)
            #expect(sinks[2].state.condition == .closed)
            #expect(healthy.requests.allSatisfy { $0.signatureIsValid })

            // While open, nothing is sent, however often the dispatchers wake.
            let sentBefore = (failing.requests.count, hanging.requests.count)
            for _ in 0..<29 {
                clock.advance(1)
                for dispatcher in dispatchers { await dispatcher.drainDue() }
            }
            #expect((failing.requests.count, hanging.requests.count) == sentBefore)

            // After the cool-down: one probe each. Still failing: one more attempt for the
            // probed delivery, which exhausts maxAttempts 2 and is dead-lettered.
            hanging.setBehaviour(.status(503))
            clock.advance(1.5)
            for dispatcher in dispatchers.prefix(2) { await dispatcher.drainDue() }
            #expect(failing.requests.count == sentBefore.0 + 1)
            #expect(hanging.requests.count == sentBefore.1 + 1)
            let dead = try await journal.deadLetters()
            #expect(Set(dead.map(\.sink)) == ["hooks/failing", "hooks/hanging"])
            #expect(dead.count == 2)

            // The receivers heal; after the next cool-down the probes succeed, the breakers
            // close, and the backlog drains.
            failing.setBehaviour(.ok)
            hanging.setBehaviour(.ok)
            clock.advance(31)
            for _ in 0..<3 {
                for dispatcher in dispatchers { await dispatcher.drainDue() }
                clock.advance(11)
            }
            #expect(sinks.allSatisfy { $0.state.condition == .closed })
            #expect(Set(failing.acceptedEventIDs).count == 29)
            #expect(Set(hanging.acceptedEventIDs).count == 29)

            // The exhausted ones are in the dead letters; replayed, they arrive too. Nothing lost.
            #expect(try await journal.replayDeadLetters(DeadLetterFilter()) == 2)
            for dispatcher in dispatchers { await dispatcher.drainDue() }
            #expect(Set(failing.acceptedEventIDs) == ids)
            #expect(Set(hanging.acceptedEventIDs) == ids)
            #expect(healthy.acceptedEventIDs.count == 30, "the healthy endpoint got each event once")
            let stats = try await journal.stats()
            #expect(stats.deliveredBySink == ["hooks/failing": 30, "hooks/hanging": 30, "hooks/healthy": 30])
            #expect(stats.pendingBySink.isEmpty && stats.deadBySink.isEmpty)
            for receiver in [failing, hanging, healthy] {
                #expect(receiver.requests.allSatisfy { $0.signatureIsValid })
            }
            for sink in sinks { await sink.close() }
            try journal.close()
            for receiver in [failing, hanging, healthy] { await receiver.stop() }
        }
    }
}
