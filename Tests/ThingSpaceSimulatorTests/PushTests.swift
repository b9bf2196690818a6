import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// MO pushes to a real listener, startCallbacks, and push failures (thingspace-api.md §2.2, §3).
@Suite(.timeLimit(.minutes(2)))
struct PushTests {
    static let account = SimulatorHarness.account

    @Test func moMessagesArePushedInTheDocumentedShape() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            #expect(try await h.register(credentials, url: await h.recorder.url()).status == 200)

            let sent = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000123456-00001", "message": "temp", "count": 3}"#)
            #expect(sent.status == 200)
            #expect(try sent.decode(SendResult.self) == SendResult(sent: 3, pushed: 3, queued: 0))

            let bodies = h.recorder.accepted()
            #expect(bodies.map(\.smsMessage) == ["temp #1", "temp #2", "temp #3"])
            #expect(bodies.map(\.deviceIds) == SimulatorConfig.defaultDevices.map(\.ids))
            #expect(Set(bodies.map(\.requestId)).count == 3)
            for body in bodies {
                #expect(body.username == "cb-user")
                #expect(body.password == "cb-pass")
                #expect(UUID(uuidString: body.requestId) != nil)
                #expect(body.callbackCount == 1)
                #expect(body.maxCallbackThreshold == 4)
                #expect(body.timestamp?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d/) != nil)
            }
            let stats = h.simulator.stats()[Self.account]
            #expect(stats.sent == 3)
            #expect(stats.pushedOk == 3)
            #expect(stats.queued == 0)
        }
    }

    @Test func listenerWithoutCredentialsGetsEmptyStrings() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url(), username: nil, password: nil)
            try await h.simulator.sendMO(message: "x")
            let raw = try #require(h.recorder.deliveries().first?.raw)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
            #expect(object["username"] as? String == "")
            #expect(object["password"] as? String == "")
        }
    }

    @Test func aKnownDeviceIsReportedWithAllItsIdentifiers() async throws {
        try await SimulatorHarness.with { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            let sent = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000123456-00001", "deviceIds": [{"id": "89148000000012345679", "kind": "ICCID"}], "message": "hi"}"#)
            #expect(try sent.decode(SendResult.self).pushed == 1)
            #expect(h.recorder.accepted().first?.deviceIds == SimulatorConfig.defaultDevices[2].ids)
            #expect(h.recorder.accepted().first?.smsMessage == "hi")

            let unknownDevice = [DeviceID(kind: "imei", id: "490154203237518")]
            try await h.simulator.sendMO(deviceIds: unknownDevice, message: "stranger")
            #expect(h.recorder.accepted().last?.deviceIds == unknownDevice)
        }
    }

    @Test func withoutListenerMessagesQueueAndStartCallbacksFlushesThem() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            let account = Self.account
            #expect(try await h.simulator.sendMO(message: "q", count: 5) == SendResult(sent: 5, pushed: 0, queued: 5))

            let noListener = try await h.m2m(.PUT, "/sms/\(account)/startCallbacks", credentials)
            #expect(noListener.status == 400)
            #expect(noListener.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.CallbackNotRegistered")

            _ = try await h.register(credentials, url: await h.recorder.url())
            let start = try await h.m2m(.PUT, "/sms/\(account)/startCallbacks", credentials)
            #expect(start.status == 200)
            #expect(try start.decode(SuccessBody.self) == SuccessBody(success: true))
            await h.simulator.waitUntilIdle()

            #expect(h.recorder.accepted().map(\.smsMessage) == (1...5).map { "q #\($0)" })
            let stats = h.simulator.stats()[account]
            #expect(stats.queued == 0)
            #expect(stats.pushedOk == 5)
        }
    }

    @Test func failedPushesGoToTheQueueAndKeepTheirRequestID() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            _ = try await h.register(credentials, url: await h.recorder.url())
            h.recorder.fail(next: 2, status: 503)

            let result = try await h.simulator.sendMO(message: "f", count: 3)
            #expect(result == SendResult(sent: 3, pushed: 1, queued: 2))
            var stats = h.simulator.stats()[Self.account]
            #expect(stats.pushFailed == 2)
            #expect(stats.queued == 2)
            let failedIDs = h.recorder.deliveries().prefix(2).compactMap(\.body?.requestId)

            let flush = try await h.simulator.startCallbacks(account: Self.account)
            #expect(flush == FlushResult(attempted: 2, pushed: 2, requeued: 0))
            let retried = h.recorder.accepted().suffix(2)
            #expect(retried.map(\.requestId) == failedIDs)
            #expect(retried.map(\.callbackCount) == [2, 2])
            stats = h.simulator.stats()[Self.account]
            #expect(stats.queued == 0)
            #expect(stats.pushedOk == 3)
        }
    }

    @Test func unreachableListenerQueues() async throws {
        var config = SimulatorConfig()
        config.callbackTimeout = .milliseconds(300)
        try await SimulatorHarness.with(config: config) { h in
            // Port 9 (discard) on localhost: nothing listens there.
            _ = try await h.register(try await h.credentials(), url: "http://127.0.0.1:9/callback")
            #expect(try await h.simulator.sendMO(message: "lost", count: 2) == SendResult(sent: 2, pushed: 0, queued: 2))
            #expect(h.simulator.stats()[Self.account].pushFailed == 2)
        }
    }

    @Test func pushAttemptsAreConfigurable() async throws {
        var config = SimulatorConfig()
        config.pushAttempts = 3
        try await SimulatorHarness.with(config: config) { h in
            _ = try await h.register(try await h.credentials(), url: await h.recorder.url())
            h.recorder.fail(next: 2)
            #expect(try await h.simulator.sendMO(message: "retry").pushed == 1)
            #expect(h.recorder.deliveries().compactMap(\.body?.callbackCount) == [1, 2, 3])
            #expect(h.simulator.stats()[Self.account].pushFailed == 2)
        }
    }

    @Test func burstsSpreadOverGeneratedDevices() async throws {
        let config = try SimulatorConfig.parse(yaml: """
            accounts:
              - name: "0000555555-00001"
            generatedDevices: 4
            """)
        try await SimulatorHarness.with(config: config) { h in
            let devices = h.simulator.devices(account: "0000555555-00001")
            #expect(devices.count == 4)
            #expect(devices.allSatisfy { ids in ids.contains { $0.kind == "mdn" } })
            try await h.simulator.sendMO(account: "0000555555-00001", message: "b", count: 8, deliver: .queue)
            let credentials = try await h.credentials()
            let page = try await h.history(credentials, account: "0000555555-00001").decode(SMSHistoryPage.self)
            #expect(page.messages.map(\.deviceIds) == devices + devices)
        }
    }
}
