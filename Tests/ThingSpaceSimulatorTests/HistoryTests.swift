import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// `GET /sms/{account}/history`: pages, 202 + Location, ack-by-next (thingspace-api.md §2.1).
@Suite(.timeLimit(.minutes(2)))
struct HistoryTests {
    static let account = SimulatorHarness.account

    @Test func twoHundredFiftyMessagesComeAsHundredHundredFifty() async throws {
        try await SimulatorHarness.with { h in
            try await h.simulator.sendMO(message: "m", count: 250, deliver: .queue)
            let credentials = try await h.credentials()

            let first = try await h.history(credentials)
            #expect(first.status == 202)
            let page1 = try first.decode(SMSHistoryPage.self)
            #expect(page1.messages.count == 100)
            #expect(page1.hasMoreData)
            let location = try #require(first.headers["location"])
            #expect(location.wholeMatch(of: /\/sms\/0000123456-00001\/history\?next=[0-9]+/) != nil)
            let token1 = try #require(SimulatorHarness.nextToken(first))

            let second = try await h.history(credentials, next: token1)
            #expect(second.status == 202)
            let page2 = try second.decode(SMSHistoryPage.self)
            #expect(page2.messages.count == 100)
            let token2 = try #require(SimulatorHarness.nextToken(second))
            #expect(token2 != token1)

            let third = try await h.history(credentials, next: token2)
            #expect(third.status == 200)
            #expect(third.headers["location"] == nil)
            let page3 = try third.decode(SMSHistoryPage.self)
            #expect(page3.messages.count == 50)
            #expect(!page3.hasMoreData)

            let texts = (page1.messages + page2.messages + page3.messages).map(\.message)
            #expect(texts == (1...250).map { "m #\($0)" })
            let first1 = try #require(page1.messages.first)
            #expect(first1.deviceIds == SimulatorConfig.defaultDevices[0].ids)
            let timestamp = try #require(first1.timestamp)
            #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-08:00/) != nil)

            let empty = try await h.history(credentials)
            #expect(empty.status == 200)
            #expect(try empty.decode(SMSHistoryPage.self) == SMSHistoryPage(messages: [], hasMoreData: false))

            let stats = h.simulator.stats()[Self.account]
            #expect(stats.queued == 0)
            #expect(stats.servedByHistory == 250)
            #expect(stats.acknowledged == 250)
        }
    }

    @Test func unacknowledgedPagesAreServedAgain() async throws {
        try await SimulatorHarness.with { h in
            try await h.simulator.sendMO(message: "m", count: 250, deliver: .queue)
            let credentials = try await h.credentials()

            let first = try await h.history(credentials)
            let staleToken = try #require(SimulatorHarness.nextToken(first))
            // No `next`: the same head is served again, nothing was acknowledged.
            let again = try await h.history(credentials)
            #expect(try again.decode(SMSHistoryPage.self).messages == (try first.decode(SMSHistoryPage.self)).messages)
            let currentToken = try #require(SimulatorHarness.nextToken(again))
            #expect(h.simulator.stats()[Self.account].queued == 250)

            // The first token is stale now: it acknowledges nothing and the head is served again.
            let stale = try await h.history(credentials, next: staleToken)
            #expect(try stale.decode(SMSHistoryPage.self).messages.first?.message == "m #1")
            #expect(h.simulator.stats()[Self.account].queued == 250)
            let token = try #require(SimulatorHarness.nextToken(stale))
            #expect(token != currentToken)

            let acked = try await h.history(credentials, next: token)
            #expect(try acked.decode(SMSHistoryPage.self).messages.first?.message == "m #101")
            let stats = h.simulator.stats()[Self.account]
            #expect(stats.queued == 150)
            #expect(stats.acknowledged == 100)
            #expect(stats.servedByHistory == 400)
        }
    }

    @Test func strictModeKeepsTheFinalPageUntilTheNextCall() async throws {
        var config = SimulatorConfig()
        config.finalPageMode = .strict
        try await SimulatorHarness.with(config: config) { h in
            try await h.simulator.sendMO(message: "m", count: 150, deliver: .queue)
            let credentials = try await h.credentials()
            let first = try await h.history(credentials)
            let final = try await h.history(credentials, next: SimulatorHarness.nextToken(first))
            #expect(final.status == 200)
            #expect(try final.decode(SMSHistoryPage.self).messages.count == 50)
            #expect(h.simulator.stats()[Self.account].queued == 50)

            // New messages arriving meanwhile are not part of the final page's acknowledgement.
            try await h.simulator.sendMO(message: "late", deliver: .queue)
            let next = try await h.history(credentials)
            #expect(next.status == 200)
            #expect(try next.decode(SMSHistoryPage.self).messages.map(\.message) == ["late"])
            #expect(h.simulator.stats()[Self.account].queued == 1)
            #expect(try await h.history(credentials).decode(SMSHistoryPage.self).messages.isEmpty)
            #expect(h.simulator.stats()[Self.account].queued == 0)
            // Every follow-up came from the session that was served the page.
            #expect(h.simulator.stats()[Self.account].finalPageTakenByAnotherSession == 0)
        }
    }

    @Test func strictModeCountsAFinalPageTakenByAnotherSession() async throws {
        var config = SimulatorConfig()
        config.finalPageMode = .strict
        try await SimulatorHarness.with(config: config) { h in
            try await h.simulator.sendMO(message: "m", count: 30, deliver: .queue)
            let served = try await h.history(try await h.credentials())
            #expect(served.status == 200)
            // A client that restarted logs in again; its first call takes the page away.
            let restarted = try await h.credentials()
            #expect(try await h.history(restarted).decode(SMSHistoryPage.self).messages.isEmpty)
            #expect(h.simulator.stats()[Self.account].finalPageTakenByAnotherSession == 30)
            #expect(h.simulator.finalPageTakenByAnotherSession(account: Self.account) == (1...30).map { "m #\($0)" })
            #expect(h.simulator.stats()[Self.account].queued == 0)
        }
    }

    @Test func removeOnDeliveryDropsTheFinalPageAtOnce() async throws {
        try await SimulatorHarness.with { h in
            try await h.simulator.sendMO(message: "only", count: 3, deliver: .queue)
            let credentials = try await h.credentials()
            let page = try await h.history(credentials)
            #expect(page.status == 200)
            #expect(try page.decode(SMSHistoryPage.self).messages.count == 3)
            #expect(h.simulator.stats()[Self.account].queued == 0)
        }
    }

    @Test func pageSizeIsConfigurable() async throws {
        let config = try SimulatorConfig.parse(yaml: "pageSize: 7\n")
        try await SimulatorHarness.with(config: config) { h in
            try await h.simulator.sendMO(message: "m", count: 10, deliver: .queue)
            let credentials = try await h.credentials()
            let first = try await h.history(credentials)
            #expect(try first.decode(SMSHistoryPage.self).messages.count == 7)
            let second = try await h.history(credentials, next: SimulatorHarness.nextToken(first))
            #expect(second.status == 200)
            #expect(try second.decode(SMSHistoryPage.self).messages.count == 3)
        }
    }

    @Test func textsSurviveJSONEscaping() async throws {
        try await SimulatorHarness.with { h in
            let texts = ["quote \" backslash \\ slash /", "line\nbreak\ttab\r", "bell \u{07} nul \u{00}", "ünïcödé ✓ 🚀", ""]
            for text in texts { try await h.simulator.sendMO(message: text, deliver: .queue) }
            let answer = try await h.history(try await h.credentials())
            #expect(answer.headers["content-type"] == "application/json")
            #expect(try answer.decode(SMSHistoryPage.self).messages.map(\.message) == texts)
            let object = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])
            #expect(Set(object.keys) == ["messages", "hasMoreData"])
        }
    }
}
