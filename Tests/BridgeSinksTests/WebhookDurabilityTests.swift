@testable import BridgeCore
import BridgeSinks
import Foundation
import Logging
import Testing
import TestSupport
import WebhookTestSupport

/// The webhook sink with the journal: breaker state across restarts, an operator's
/// enable/disable, `Retry-After` and retry schedules through the real dispatcher.
@Suite(.timeLimit(.minutes(2))) struct WebhookDurabilityTests {
    static func journal(_ directory: TemporaryDirectory) throws -> SQLiteJournal {
        try SQLiteJournal(path: directory.appending("journal.sqlite").path)
    }

    @Test func anOpenBreakerIsStillOpenAfterARestart() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(500))
            let breaker = WebhookBreakerConfig(failureThreshold: 2, coolDown: .seconds(120))
            var journal = try Self.journal(directory)
            var sink = try WebhookFixture.sink(to: receiver, breaker: breaker, journal: journal, clock: clock)
            _ = await sink.deliver(try SinkConformance.items(1...2, tag: "restart"))
            #expect(sink.state.condition == .open)
            await sink.close()
            try journal.close()

            // Restart: a new journal handle, a new sink; the breaker is still open.
            clock.advance(60)
            journal = try Self.journal(directory)
            sink = try WebhookFixture.sink(to: receiver, breaker: breaker, journal: journal, clock: clock)
            #expect(sink.state.condition == .open)
            #expect(sink.state.consecutiveFailures == 2)
            #expect(await sink.availability() == .unavailable)
            clock.advance(61)
            #expect(await sink.availability() == .limited(1))
            let stored = try #require(try await journal.endpointStates().first)
            #expect(stored.sink == "hooks/a" && stored.condition == .open)
            await sink.close()
            try journal.close()
            await receiver.stop()
        }
    }

    @Test func anOperatorsDisableAndEnableReachTheRunningSink() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret])
            let journal = try Self.journal(directory)
            let sink = try WebhookFixture.sink(to: receiver, journal: journal, clock: clock)
            #expect(await sink.availability() == .available)

            // `thingbridge endpoints disable` writes the journal; the sink reads it within a second.
            try await journal.saveEndpointState(EndpointState(sink: "hooks/a", condition: .disabled, reason: "maintenance"))
            clock.advance(1.5)
            #expect(await sink.availability() == .unavailable)
            #expect(sink.state.reason == "maintenance")
            // The sink's own writes after a batch cannot undo the operator's disable.
            #expect(try await journal.saveEndpointState(EndpointState(sink: "hooks/a", consecutiveFailures: 1), overridingDisabled: false) == false)
            #expect(try journal.endpointState(sink: "hooks/a")?.condition == .disabled)

            try await journal.saveEndpointState(EndpointState(sink: "hooks/a", condition: .closed))
            clock.advance(1.5)
            #expect(await sink.availability() == .available)
            #expect(await sink.deliver(try SinkConformance.items(1...1, tag: "enabled")) == [.delivered])

            // An operator's enable also closes a breaker that is open (no wait for the probe).
            receiver.setBehaviour(.status(500))
            _ = await sink.deliver(try SinkConformance.items(1...5, tag: "open"))
            #expect(sink.state.condition == .open)
            #expect(try journal.endpointState(sink: "hooks/a")?.condition == .open)
            clock.advance(1.5)
            #expect(await sink.availability() == .unavailable, "its own write is not taken for an operator's")
            receiver.setBehaviour(.ok)
            try await journal.saveEndpointState(EndpointState(sink: "hooks/a", condition: .closed))
            clock.advance(1.5)
            #expect(await sink.availability() == .available)
            #expect(sink.state.consecutiveFailures == 0)
            await sink.close()
            try journal.close()
            await receiver.stop()
        }
    }

    @Test func theDispatcherHonoursRetryAfter() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(503, headers: ["Retry-After": "120"]))
            let journal = try Self.journal(directory)
            let sink = try WebhookFixture.sink(to: receiver, journal: journal, clock: clock)
            let dispatcher = Dispatcher(
                sink: sink, journal: journal, signal: DeliverySignal(), retry: RetryPolicy(base: .seconds(1), cap: .seconds(10)),
                logger: WebhookFixture.logger, now: { clock.now }
            )
            let event = try SinkConformance.items(1...1, tag: "retry-after")[0].event
            _ = try await journal.append([JournalEntry(event: event, deliveries: [.init(route: "r", sink: "hooks/a")])])
            // The dispatcher's clock starts at the journal's enqueue time (wall clock) or later.
            clock.advance(Date().timeIntervalSince(clock.now) + 1)
            await dispatcher.drainDue()
            #expect(receiver.requests.count == 1)
            // The backoff alone (at most 1 s) would make it due at once; Retry-After says 120 s.
            #expect(try await journal.dueDeliveries(sink: "hooks/a", limit: 10, now: clock.now.addingTimeInterval(119)).isEmpty)
            #expect(try await journal.dueDeliveries(sink: "hooks/a", limit: 10, now: clock.now.addingTimeInterval(121)).count == 1)
            clock.advance(60)
            await dispatcher.drainDue()
            #expect(receiver.requests.count == 1, "not tried before Retry-After")
            receiver.setBehaviour(.ok)
            clock.advance(61)
            await dispatcher.drainDue()
            #expect(receiver.acceptedEventIDs == [event.id])
            #expect(try await journal.stats().deliveredBySink["hooks/a"] == 1)
            await sink.close()
            try journal.close()
            await receiver.stop()
        }
    }

    @Test func aRestartInTheMiddleOfRetriesKeepsTheSchedule() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            clock.advance(Date().timeIntervalSince(clock.now) + 1)
            let receiver = try await WebhookReceiver.start(secrets: [WebhookFixture.secret], behaviour: .status(500))
            let policy = RetryPolicy(base: .seconds(100), cap: .seconds(100), maxAttempts: 10)
            var journal = try Self.journal(directory)
            var sink = try WebhookFixture.sink(to: receiver, journal: journal, clock: clock)
            var dispatcher = Dispatcher(sink: sink, journal: journal, signal: DeliverySignal(), retry: policy, logger: WebhookFixture.logger, now: { clock.now })
            let items = try SinkConformance.items(1...3, tag: "resume")
            _ = try await journal.append(items.map { JournalEntry(event: $0.event, deliveries: [.init(route: "r", sink: "hooks/a")]) })
            await dispatcher.drainDue()
            #expect(receiver.requests.count == 3)
            let scheduled = try await journal.dueDeliveries(sink: "hooks/a", limit: 10, now: clock.now.addingTimeInterval(101))
            #expect(scheduled.map(\.attempts) == [1, 1, 1])
            // The schedule as stored: how many are due after t seconds.
            var dueAfter: [Int] = []
            for t in 0...101 {
                dueAfter.append(try await journal.dueDeliveries(sink: "hooks/a", limit: 10, now: clock.now.addingTimeInterval(Double(t))).count)
            }
            await sink.close()
            try journal.close()

            // Restart (new journal handle, sink and dispatcher); the receiver has healed.
            receiver.setBehaviour(.ok)
            journal = try Self.journal(directory)
            sink = try WebhookFixture.sink(to: receiver, journal: journal, clock: clock)
            dispatcher = Dispatcher(sink: sink, journal: journal, signal: DeliverySignal(), retry: policy, logger: WebhookFixture.logger, now: { clock.now })
            // Walk the clock a second at a time: after each round exactly what was due by then
            // has gone out, nothing earlier.
            for t in 0...101 {
                await dispatcher.drainDue()
                #expect(receiver.acceptedEventIDs.count == dueAfter[t], "at +\(t) s")
                clock.advance(1)
            }
            #expect(Set(receiver.acceptedEventIDs) == Set(items.map(\.event.id)))
            #expect(receiver.acceptedEventIDs.count == 3, "each once after the restart")
            #expect(try await journal.stats().deliveredBySink["hooks/a"] == 3)
            await sink.close()
            try journal.close()
            await receiver.stop()
        }
    }
}
