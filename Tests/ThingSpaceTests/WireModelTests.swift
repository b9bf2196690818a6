import Foundation
import Testing
@testable import ThingSpace

@Suite struct WireModelTests {
    @Test(arguments: [
        ("/sms/0000123456-00001/history?next=abc123", "abc123"),
        ("https://thingspace.verizon.com/api/m2m/v1/sms/a/history?next=9%2B1", "9+1"),
        ("/sms/a/history?other=1&next=42", "42"),
        ("/sms/a/history", nil),
        ("/sms/a/history?next=", nil),
    ] as [(String, String?)])
    func nextTokenComesFromTheLocationHeader(location: String, token: String?) {
        #expect(ThingSpaceClient.nextToken(fromLocation: location) == token)
    }

    @Test func errorCodesAreMatchedWithoutTheServicePrefix() {
        #expect(ErrorEnvelope(errorCode: "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", errorMessage: "").detail == "REQUEST_FAILED.SessionToken.Expired")
        #expect(ErrorEnvelope(errorCode: "DeviceService.INPUT_INVALID.Device.Kind.Invalid", errorMessage: "").detail == "INPUT_INVALID.Device.Kind.Invalid")
        #expect(ErrorEnvelope(errorCode: "REQUEST_FAILED.AccountNotFound", errorMessage: "").detail == "REQUEST_FAILED.AccountNotFound")
    }

    @Test func oauthTokenUsesTheWireNames() throws {
        let token = try JSONDecoder().decode(OAuthToken.self, from: Data(#"{"access_token":"t","token_type":"Bearer","expires_in":3600,"scope":"a b"}"#.utf8))
        #expect(token == OAuthToken(accessToken: "t", expiresIn: 3600, scope: "a b"))
    }

    @Test func historyPageDecodesTheDocumentedExample() throws {
        let body = #"{"messages":[{"deviceIds":[{"id":"09623489171","kind":"esn"}],"message":"testmessage1","timestamp":"2016-01-01T12:29:49-08:00"}],"hasMoreData":false}"#
        let page = try JSONDecoder().decode(SMSHistoryPage.self, from: Data(body.utf8))
        #expect(page.messages == [SMSMessage(deviceIds: [DeviceID(kind: "esn", id: "09623489171")], message: "testmessage1", timestamp: "2016-01-01T12:29:49-08:00")])
        #expect(!page.hasMoreData)
    }

    @Test func registrationRequestSaysNameAnswersSayServiceName() throws {
        let request = try JSONEncoder().encode(RegisterCallbackRequest(name: "EnhancedConnectivityService", url: "https://x"))
        #expect(String(decoding: request, as: UTF8.self).contains(#""name":"EnhancedConnectivityService""#))
        let answer = try JSONDecoder().decode(CallbackActionResult.self, from: Data(#"{"accountName":"a","serviceName":"EnhancedConnectivityService"}"#.utf8))
        #expect(answer.serviceName == "EnhancedConnectivityService")
    }
}
