import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// Callback listener registration, listing and deregistration (thingspace-api.md §1.5).
@Suite(.timeLimit(.minutes(2)))
struct CallbackListenerTests {
    @Test func registerListReplaceAndDelete() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            let account = SimulatorHarness.account

            let empty = try await h.m2m(.GET, "/callbacks/\(account)", credentials)
            #expect(empty.status == 200)
            #expect(try empty.decode([CallbackListener].self).isEmpty)

            let registered = try await h.register(credentials, url: "https://example.com/one")
            #expect(registered.status == 200)
            #expect(try registered.decode(CallbackActionResult.self) == CallbackActionResult(accountName: account, serviceName: "EnhancedConnectivityService"))
            _ = try await h.register(credentials, url: "https://example.com/confirm", name: "SMSDeliveryConfirmation", username: nil, password: nil)
            // Re-registering the same name replaces it.
            _ = try await h.register(credentials, url: "https://example.com/two", username: "u2", password: "p2")

            let listed = try await h.m2m(.GET, "/callbacks/\(account)", credentials).decode([CallbackListener].self)
            #expect(listed == [
                CallbackListener(accountName: account, serviceName: "EnhancedConnectivityService", url: "https://example.com/two", username: "u2", password: "p2"),
                CallbackListener(accountName: account, serviceName: "SMSDeliveryConfirmation", url: "https://example.com/confirm"),
            ])

            let deleted = try await h.m2m(.DELETE, "/callbacks/\(account)/name/EnhancedConnectivityService", credentials)
            #expect(deleted.status == 200)
            #expect(try deleted.decode(CallbackActionResult.self).serviceName == "EnhancedConnectivityService")
            #expect(h.simulator.listeners(account: account).map(\.serviceName) == ["SMSDeliveryConfirmation"])

            let again = try await h.m2m(.DELETE, "/callbacks/\(account)/name/EnhancedConnectivityService", credentials)
            #expect(again.status == 400)
            #expect(again.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.CallbackNotRegistered")
        }
    }

    @Test func registrationIsValidated() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            let badName = try await h.register(credentials, url: "https://example.com/x", name: "DeviceMessages")
            #expect(badName.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.ServiceName.Invalid")
            let badURL = try await h.register(credentials, url: "not a url")
            #expect(badURL.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.Url.Invalid")
            let notJSON = try await h.m2m(.POST, "/callbacks/\(SimulatorHarness.account)", credentials, body: "{")
            #expect(notJSON.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.RequestUndefined")
            let unknownAccount = try await h.register(credentials, url: "https://example.com/x", account: "0000999999-00001")
            #expect(unknownAccount.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.AccountNotFound")
        }
    }

    @Test func emptyListCanBeAnEmptyBody() async throws {
        var config = SimulatorConfig()
        config.emptyListenerList = .emptyBody
        try await SimulatorHarness.with(config: config) { h in
            let answer = try await h.m2m(.GET, "/callbacks/\(SimulatorHarness.account)", try await h.credentials())
            #expect(answer.status == 200)
            #expect(answer.body.isEmpty)
        }
    }
}
