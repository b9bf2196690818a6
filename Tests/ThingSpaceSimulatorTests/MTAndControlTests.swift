import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// `POST /sms` (MT) and the control API's own behaviour.
@Suite(.timeLimit(.minutes(2)))
struct MTAndControlTests {
    static let account = SimulatorHarness.account

    @Test func mtSendIsValidatedAndCounted() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            let device = [DeviceID(kind: "mdn", id: "7022895555")]
            let ok = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: "reboot", deviceIds: device)))
            #expect(ok.status == 200)
            let id = try ok.decode(RequestIDBody.self).requestId
            #expect(UUID(uuidString: id) != nil)

            let empty = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: "", deviceIds: device)))
            #expect(empty.status == 400)
            #expect(empty.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.SmsMessage.Null")

            let missing = try await h.m2m(.POST, "/sms", credentials, body: #"{"accountName": "0000123456-00001", "deviceIds": [{"id": "1", "kind": "mdn"}]}"#)
            #expect(missing.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.SmsMessage.Null")

            let long = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: String(repeating: "x", count: 161), deviceIds: device)))
            #expect(long.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.SmsMessage.TooLong")
            let exactly160 = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: String(repeating: "x", count: 160), groupName: "all")))
            #expect(exactly160.status == 200)

            let noTargets = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: "hi")))
            #expect(noTargets.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.DeviceIds.Missing")

            let unknownAccount = try await h.m2m(.POST, "/sms", credentials, body: SimulatorHarness.json(SendSMSRequest(accountName: "0000999999-00001", smsMessage: "hi", deviceIds: device)))
            #expect(unknownAccount.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.AccountNotFound")

            #expect(h.simulator.stats().mtSent == 2)
            let records = try await h.call(.GET, "/simulator/mt").decode([MTRecord].self)
            #expect(records.map(\.request.smsMessage) == ["reboot", String(repeating: "x", count: 160)])
            #expect(records.first?.requestId == id)
        }
    }

    @Test func mtNeedsBearerAndSession() async throws {
        try await SimulatorHarness.with { h in
            let body = SimulatorHarness.json(SendSMSRequest(accountName: Self.account, smsMessage: "hi", deviceIds: [DeviceID(kind: "mdn", id: "1")]))
            #expect(try await h.call(.POST, "/api/m2m/v1/sms", body: body).status == 401)
            let bearerOnly = try await h.call(.POST, "/api/m2m/v1/sms", headers: ["Authorization": "Bearer \(try await h.bearer())"], body: body)
            #expect(bearerOnly.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.SessionToken.Format")
        }
    }

    @Test func controlMOAnswersErrors() async throws {
        try await SimulatorHarness.with { h in
            let unknown = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000999999-00001", "message": "x"}"#)
            #expect(unknown.status == 404)
            let typo = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000123456-00001", "mesage": "x"}"#)
            #expect(typo.status == 400)
            let badDelivery = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000123456-00001", "deliver": "fax"}"#)
            #expect(badDelivery.status == 400)
            let queued = try await h.call(.POST, "/simulator/mo", body: #"{"account": "0000123456-00001", "count": 1000, "deliver": "queue"}"#)
            #expect(try queued.decode(SendResult.self) == SendResult(sent: 1000, pushed: 0, queued: 1000))
        }
    }

    @Test func statsAndClockOverHTTP() async throws {
        try await SimulatorHarness.with { h in
            try await h.simulator.sendMO(message: "s", count: 2, deliver: .queue)
            let stats = try await h.call(.GET, "/simulator/stats").decode(SimulatorStats.self)
            #expect(stats[Self.account].queued == 2)
            #expect(stats[Self.account].sent == 2)

            let before = h.simulator.now()
            let advanced = try await h.call(.POST, "/simulator/clock/advance", body: #"{"seconds": 90}"#)
            #expect(advanced.status == 200)
            #expect(h.simulator.now().timeIntervalSince(before) >= 90)
            #expect(try await h.call(.POST, "/simulator/clock/advance", body: #"{"seconds": -1}"#).status == 400)

            let accounts = try await h.call(.GET, "/simulator/accounts")
            #expect(accounts.status == 200)
            #expect(accounts.text.contains("7022895555"))
        }
    }
}
