import Foundation
import Testing
@testable import ThingSpace

@Suite struct CallbackParsingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        let text: String
        let ids: [DeviceID]
        let requestID: String?
        let timestamp: String?
        var testDescription: String { name }
    }

    static let accepted: [Case] = [
        Case(
            name: "documented shape (smsMessage, two ids, requestId)",
            body: #"{"username":"u","password":"p","requestId":"595f5c44","deviceIds":[{"id":"7022895555","kind":"mdn"},{"id":"60E5F99D","kind":"esn"}],"smsMessage":"hello","callbackCount":1,"maxCallbackThreshold":4}"#,
            text: "hello", ids: [DeviceID(kind: "mdn", id: "7022895555"), DeviceID(kind: "esn", id: "60E5F99D")],
            requestID: "595f5c44", timestamp: nil
        ),
        Case(
            name: "text in message, upper-case kind, timestamp",
            body: #"{"username":"u","password":"p","deviceIds":[{"id":"89148000000000000001","kind":"ICCID"}],"message":"t=41","timestamp":"2016-01-01T12:29:49-08:00"}"#,
            text: "t=41", ids: [DeviceID(kind: "iccid", id: "89148000000000000001")],
            requestID: nil, timestamp: "2016-01-01T12:29:49-08:00"
        ),
        Case(
            name: "nested deviceResponse with its own ids",
            body: #"{"username":"u","password":"p","deviceResponse":{"moSmsResponse":{"smsMessage":"nested","deviceIds":[{"id":"490154203237518","kind":"Imei"}]}}}"#,
            text: "nested", ids: [DeviceID(kind: "imei", id: "490154203237518")], requestID: nil, timestamp: nil
        ),
        Case(
            name: "numeric id and requestId, empty text, duplicate ids collapsed",
            body: #"{"username":"u","password":"p","requestId":12345,"deviceIds":[{"id":7022895555,"kind":"mdn"},{"id":"7022895555","kind":"MDN"}],"smsMessage":""}"#,
            text: "", ids: [DeviceID(kind: "mdn", id: "7022895555")], requestID: "12345", timestamp: nil
        ),
    ]

    @Test(arguments: accepted)
    func parsesTolerantly(_ example: Case) throws {
        let envelope = try CallbackEnvelope(body: Array(example.body.utf8))
        #expect(envelope.username == "u")
        #expect(envelope.password == "p")
        let message = try envelope.moSMS()
        #expect(message.text == example.text)
        #expect(message.deviceIDs == example.ids)
        #expect(message.requestID == example.requestID)
        #expect(message.timestamp == example.timestamp)
    }

    @Test(arguments: [
        (#"{"username":"u","password":"p","deviceIds":[{"id":"1","kind":"mdn"}]}"#, CallbackParseError.missingText),
        (#"{"username":"u","password":"p","smsMessage":"x"}"#, CallbackParseError.missingDeviceIDs),
        (#"{"username":"u","password":"p","smsMessage":"x","deviceIds":[{"id":"","kind":"mdn"},{"kind":"esn"}]}"#, CallbackParseError.missingDeviceIDs),
        (#"{"username":"u","password":"p","smsMessage":42,"deviceIds":[{"id":"1","kind":"mdn"}]}"#, CallbackParseError.missingText),
    ])
    func rejectsBodiesWithoutTheEssentials(body: String, expected: CallbackParseError) throws {
        let envelope = try CallbackEnvelope(body: Array(body.utf8))
        #expect(throws: expected) { try envelope.moSMS() }
    }

    @Test(arguments: ["", "not json", "[1,2]", "\"text\"", "{\"username\":"])
    func rejectsNonObjects(body: String) {
        #expect(throws: CallbackParseError.notJSONObject) { try CallbackEnvelope(body: Array(body.utf8)) }
    }

    @Test func primaryIdentifierPrefersMDNThenSIM() {
        let esn = DeviceID(kind: "esn", id: "1"), iccid = DeviceID(kind: "ICCID", id: "2"), mdn = DeviceID(kind: "mdn", id: "3")
        #expect(DeviceID.primary(of: [esn, iccid, mdn]) == mdn)
        #expect(DeviceID.primary(of: [esn, iccid]) == iccid)
        #expect(DeviceID.primary(of: [DeviceID(kind: "weird", id: "9")])?.id == "9")
        #expect(DeviceID.primary(of: []) == nil)
    }
}

@Suite struct CallbackCredentialsTests {
    let credentials = CallbackCredentials(username: "thingspace", password: "s3cret-pass")

    @Test func acceptsTheExactPair() {
        #expect(credentials.matches(username: "thingspace", password: "s3cret-pass"))
    }

    @Test(arguments: [
        ("thingspace", "s3cret-pasS"), ("thingspace", "s3cret-pas"), ("thingspace", "s3cret-pass "),
        ("Thingspace", "s3cret-pass"), ("", ""), ("thingspace", ""),
    ])
    func rejectsAnyDifference(username: String, password: String) {
        #expect(!credentials.matches(username: username, password: password))
    }

    @Test func missingFieldsCountAsEmpty() {
        #expect(!credentials.matches(username: nil, password: nil))
        #expect(CallbackCredentials(username: "", password: "").matches(username: nil, password: nil))
    }

    @Test func comparisonCoversLengthDifferences() {
        #expect(CallbackCredentials.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!CallbackCredentials.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!CallbackCredentials.constantTimeEquals(Array("abc".utf8), []))
        // A length difference that is a multiple of 256 must still count.
        #expect(!CallbackCredentials.constantTimeEquals([], [UInt8](repeating: 0, count: 256)))
    }
}
