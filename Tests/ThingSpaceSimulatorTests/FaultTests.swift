import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// Fault injection through the control API and the Swift API.
@Suite(.timeLimit(.minutes(2)))
struct FaultTests {
    static let account = SimulatorHarness.account

    @Test func callbackFailureForTheNextKPushes() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            let injected = try await h.call(.POST, "/simulator/faults", body: #"{"callbackFailure": {"count": 2}}"#)
            #expect(injected.status == 200)
            #expect(try injected.decode(FaultSnapshot.self).callbackFailure?.remaining == 2)

            #expect(try await h.simulator.sendMO(message: "f", count: 3) == SendResult(sent: 3, pushed: 1, queued: 2))
            // The listener was not called for the failed ones.
            #expect(h.recorder.deliveries().map(\.body?.smsMessage) == ["f #3"])
            #expect(h.simulator.stats()[Self.account].pushFailed == 2)
            #expect(h.simulator.faults().callbackFailure == nil)
        }
    }

    @Test func callbackFailureWindowEndsWithTheClock() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            h.simulator.inject(.callbackFailure(.duration(.seconds(60))))
            #expect(try await h.simulator.sendMO(message: "a", count: 4).queued == 4)
            #expect(h.recorder.deliveries().isEmpty)
            h.simulator.advanceClock(by: .seconds(61))
            #expect(try await h.simulator.sendMO(message: "b").pushed == 1)
            #expect(try await h.simulator.startCallbacks(account: Self.account).pushed == 4)
        }
    }

    @Test func callbackTimeoutDeliversButQueuesAnyway() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            h.simulator.inject(.callbackTimeout(.next(1)))
            #expect(try await h.simulator.sendMO(message: "t") == SendResult(sent: 1, pushed: 0, queued: 1))
            #expect(h.recorder.deliveries().count == 1)
            // The gateway got it once by callback, and will see it again via history.
            let page = try await h.history(try await h.credentials()).decode(SMSHistoryPage.self)
            #expect(page.messages.map(\.message) == ["t"])
        }
    }

    @Test func duplicatePushesSendTheSameBodyTwice() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            _ = try await h.call(.POST, "/simulator/faults", body: #"{"duplicatePushes": 2}"#)
            #expect(try await h.simulator.sendMO(message: "d", count: 3) == SendResult(sent: 3, pushed: 3, queued: 0))
            let bodies = h.recorder.accepted()
            #expect(bodies.map(\.smsMessage) == ["d #1", "d #1", "d #2", "d #2", "d #3"])
            #expect(bodies[0] == bodies[1])
            let stats = h.simulator.stats()[Self.account]
            #expect(stats.duplicatesPushed == 2)
            #expect(stats.pushedOk == 3)
        }
    }

    @Test func outOfOrderReversesTheNextKMessages() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.call(.POST, "/simulator/faults", body: #"{"outOfOrder": 3}"#)
            try await h.simulator.sendMO(message: "o", count: 5, deliver: .queue)
            let page = try await h.history(try await h.credentials()).decode(SMSHistoryPage.self)
            #expect(page.messages.map(\.message) == ["o #3", "o #2", "o #1", "o #4", "o #5"])
        }
    }

    @Test func injectedHTTPErrorsOnAPathPrefix() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            _ = try await h.call(.POST, "/simulator/faults", body: #"{"httpErrors": [{"status": 429, "pathPrefix": "/api/m2m/v1/sms", "count": 2}, {"status": 503, "pathPrefix": "/api/ts/v1/oauth2/token"}]}"#)

            let throttled = try await h.history(credentials)
            #expect(throttled.status == 429)
            #expect(throttled.headers["retry-after"] == "1")
            #expect(throttled.fault?.fault.code == "900800")
            // Other paths are untouched.
            #expect(try await h.m2m(.GET, "/callbacks/\(Self.account)", credentials).status == 200)
            #expect(try await h.history(credentials).status == 429)
            #expect(try await h.history(credentials).status == 200)

            let unavailable = try await h.requestToken()
            #expect(unavailable.status == 503)
            #expect(unavailable.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.UnexpectedError")
            #expect(try await h.requestToken().status == 200)
            #expect(h.simulator.stats().injectedHTTPErrors == 3)
        }
    }

    @Test func faultsCanBeListedAndCleared() async throws {
        try await SimulatorHarness.with { h in
            h.simulator.inject(.httpError(status: 500, pathPrefix: "/api/", count: 5))
            h.simulator.inject(.duplicatePushes(count: 1))
            let listed = try await h.call(.GET, "/simulator/faults").decode(FaultSnapshot.self)
            #expect(listed.httpErrors.map(\.status) == [500])
            #expect(listed.duplicatePushes == 1)
            let cleared = try await h.call(.DELETE, "/simulator/faults")
            #expect(try cleared.decode(FaultSnapshot.self) == FaultSnapshot(duplicatePushes: 0, outOfOrder: 0, httpErrors: []))
            #expect(try await h.requestToken().status == 200)
        }
    }

    @Test(arguments: [
        #"{"callbackFailur": {"count": 1}}"#,
        #"{"callbackFailure": {"count": 1, "seconds": 3}}"#,
        #"{"httpError": {"status": 200}}"#,
        #"{}"#,
        #"[1]"#,
    ])
    func badFaultRequestsAreRejected(body: String) async throws {
        try await SimulatorHarness.with { h in
            let answer = try await h.call(.POST, "/simulator/faults", body: body)
            #expect(answer.status == 400)
            #expect(answer.text.contains("error"))
        }
    }
}
