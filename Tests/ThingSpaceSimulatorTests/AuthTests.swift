import Foundation
import NIOHTTP1
import Testing
import ThingSpace
import ThingSpaceSimulator

/// OAuth bearer, M2M session and account checks (thingspace-api.md §1.2, §1.3, §5).
@Suite(.timeLimit(.minutes(2)))
struct AuthTests {
    @Test func tokenIsReusedWhileValidAndRenewedAfterExpiry() async throws {
        try await SimulatorHarness.with { h in
            let first = try await h.requestToken()
            #expect(first.status == 200)
            let token = try first.decode(OAuthToken.self)
            #expect(token.tokenType == "Bearer")
            #expect(token.expiresIn == 3600)

            h.simulator.advanceClock(by: .seconds(600))
            let again = try await h.requestToken().decode(OAuthToken.self)
            #expect(again.accessToken == token.accessToken)
            // 600 s moved on the simulator's clock, plus the real time between the two requests
            // (its clock is the wall clock plus the advances): over a second on a loaded machine.
            #expect((2990...3000).contains(again.expiresIn))

            h.simulator.advanceClock(by: .seconds(3001))
            let renewed = try await h.requestToken().decode(OAuthToken.self)
            #expect(renewed.accessToken != token.accessToken)
            #expect(renewed.expiresIn == 3600)
            #expect(h.simulator.stats().tokensIssued == 2)
        }
    }

    @Test func tokenEndpointRejectsBadClientsAndGrants() async throws {
        try await SimulatorHarness.with { h in
            let badSecret = try await h.requestToken(secret: "nope")
            #expect(badSecret.status == 401)
            #expect(badSecret.oauthError?.error == "invalid_client")

            let unknownKey = try await h.requestToken(key: "who")
            #expect(unknownKey.status == 401)
            #expect(unknownKey.oauthError?.error == "invalid_client")

            let noBasic = try await h.call(.POST, "/api/ts/v1/oauth2/token", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "grant_type=client_credentials")
            #expect(noBasic.status == 401)
            #expect(noBasic.fault == .missingCredentials)

            let wrongGrant = try await h.requestToken(grant: "password")
            #expect(wrongGrant.status == 400)
            #expect(wrongGrant.oauthError?.error == "unsupported_grant_type")

            let noGrant = try await h.requestToken(grant: nil)
            #expect(noGrant.status == 400)
            #expect(noGrant.oauthError?.error == "invalid_request")
            #expect(h.simulator.stats().tokensIssued == 0)
        }
    }

    @Test func bearerFaultsOnM2MCalls() async throws {
        try await SimulatorHarness.with { h in
            let login = try await h.call(.POST, "/api/m2m/v1/session/login", body: SimulatorHarness.json(LoginRequest(username: "demo-user", password: "demo-pass")))
            #expect(login.status == 401)
            #expect(login.fault == .missingCredentials)

            let unknown = try await h.login(bearer: "not-a-token")
            #expect(unknown.status == 401)
            #expect(unknown.fault == .invalidCredentials)

            let credentials = try await h.credentials()
            #expect(try await h.history(credentials).status == 200)

            // Expired by the clock: the token lifetime is one hour.
            h.simulator.advanceClock(by: .seconds(3601))
            let expired = try await h.history(credentials)
            #expect(expired.status == 401)
            #expect(expired.fault == .invalidCredentials)

            // Expired by a fault: a fresh token is issued afterwards.
            let bearer = try await h.bearer()
            h.simulator.inject(.expireBearerTokens)
            let revoked = try await h.login(bearer: bearer)
            #expect(revoked.fault == .invalidCredentials)
            #expect(try await h.bearer() != bearer)
        }
    }

    @Test func loginLogoutAndSessionErrors() async throws {
        try await SimulatorHarness.with { h in
            let bearer = try await h.bearer()
            let login = try await h.login(bearer: bearer)
            #expect(login.status == 200)
            let session = try login.decode(SessionTokenBody.self).sessionToken
            #expect(UUID(uuidString: session) != nil)
            let credentials = SimulatorHarness.Credentials(bearer: bearer, session: session)

            let missing = try await h.call(.GET, "/api/m2m/v1/sms/\(SimulatorHarness.account)/history", headers: ["Authorization": "Bearer \(bearer)"])
            #expect(missing.status == 400)
            #expect(missing.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.SessionToken.Format")

            let unknown = try await h.history(.init(bearer: bearer, session: UUID().uuidString))
            #expect(unknown.status == 400)
            #expect(unknown.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid")

            let wrongAccount = try await h.history(credentials, account: "0000999999-00001")
            #expect(wrongAccount.status == 400)
            #expect(wrongAccount.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.AccountNotFound")

            let logout = try await h.m2m(.POST, "/session/logout", credentials)
            #expect(logout.status == 200)
            #expect(try logout.decode(SessionTokenBody.self).sessionToken == session)
            let afterLogout = try await h.history(credentials)
            #expect(afterLogout.envelope?.errorCode == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid")
            #expect(h.simulator.stats().logins == 1)
        }
    }

    @Test func sessionExpiresAfterTwentyIdleMinutesAndUseRefreshesIt() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            h.simulator.advanceClock(by: .seconds(19 * 60))
            #expect(try await h.history(credentials).status == 200)
            h.simulator.advanceClock(by: .seconds(19 * 60))
            #expect(try await h.history(credentials).status == 200)

            // Keep the bearer valid (it lives one hour) so that only the session expires.
            let fresh = SimulatorHarness.Credentials(bearer: try await h.bearer(), session: credentials.session)
            _ = try await h.call(.POST, "/simulator/clock/advance", body: #"{"seconds": 1201}"#)
            let expired = try await h.history(fresh)
            #expect(expired.status == 400)
            #expect(expired.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired")
            #expect(expired.envelope?.detail == "REQUEST_FAILED.SessionToken.Expired")
        }
    }

    @Test func expireSessionsFault() async throws {
        try await SimulatorHarness.with { h in
            let credentials = try await h.credentials()
            let fault = try await h.call(.POST, "/simulator/faults", body: #"{"expireSessions": true}"#)
            #expect(fault.status == 200)
            #expect(try await h.history(credentials).envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired")
            // A new login works at once.
            #expect(try await h.history(try await h.credentials()).status == 200)
        }
    }

    @Test func userIsLockedAfterFiveFailedLoginsUntilUnlocked() async throws {
        try await SimulatorHarness.with { h in
            let bearer = try await h.bearer()
            for _ in 1...5 {
                let failed = try await h.login(bearer: bearer, password: "wrong")
                #expect(failed.status == 400)
                #expect(failed.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.LoginFailed")
            }
            let locked = try await h.login(bearer: bearer)
            #expect(locked.status == 400)
            #expect(locked.envelope?.errorCode == "UnifiedWebService.REQUEST_FAILED.UserLocked")

            let unlock = try await h.call(.POST, "/simulator/users/demo-user/unlock")
            #expect(unlock.status == 200)
            #expect(try await h.login(bearer: bearer).status == 200)
            #expect(try await h.call(.POST, "/simulator/users/nobody/unlock").status == 404)

            let stats = h.simulator.stats()
            #expect(stats.loginFailures == 6)
            #expect(stats.logins == 1)
        }
    }

    @Test func successfulLoginResetsTheFailureCount() async throws {
        try await SimulatorHarness.with { h in
            let bearer = try await h.bearer()
            for _ in 1...4 { _ = try await h.login(bearer: bearer, password: "wrong") }
            #expect(try await h.login(bearer: bearer).status == 200)
            for _ in 1...4 { _ = try await h.login(bearer: bearer, password: "wrong") }
            #expect(try await h.login(bearer: bearer).status == 200)
        }
    }

    @Test func unknownUpstreamPathGetsTheGatewayFault() async throws {
        try await SimulatorHarness.with { h in
            let answer = try await h.call(.GET, "/api/m2m/v2/session/token")
            #expect(answer.status == 404)
            #expect(answer.fault?.fault.code == "900906")
        }
    }
}
