@testable import BridgeCore
import Foundation
import Testing
import ThingSpace

/// The member-by-member reader of stored events (`BridgeEvent.read`, what `decode` tries first)
/// against the JSON-tree reader (`init(json:)`): the same event for every document the tree
/// reader takes, and nil for every document it refuses.
@Suite struct EventReadTests {
    /// What the tree reader makes of `json`: the event, or nil when it throws.
    func viaTree(_ json: String) -> BridgeEvent? {
        guard let value = try? JSONValue(parsing: Array(json.utf8)) else { return nil }
        return try? BridgeEvent(json: value)
    }

    func viaReader(_ json: String) -> BridgeEvent? {
        Array(json.utf8).withUnsafeBytes { BridgeEvent.read($0) }
    }

    static let data = #"{"account":"0000123456-00001","callbackCount":3,"channel":"callback","device":{"id":"7022895555","kind":"mdn"},"deviceIds":[{"id":"7022895555","kind":"mdn"},{"id":"60E5F99D","kind":"esn"}],"receivedAt":"2026-11-29T12:00:00.000Z","requestId":"r-1","text":"temp=21.5","timestamp":"2016-01-01T12:29:49-08:00"}"#
    static let attributes = #""datacontenttype":"application/json","id":"e-1","source":"/thingspace/accounts/0000123456-00001","specversion":"1.0","subject":"7022895555","time":"2026-11-29T12:00:00.000Z","type":"com.verizon.thingspace.sms.mo""#

    /// Documents the tree reader takes: as the journal writes them, and in shapes it may meet in
    /// an older or hand-edited journal (other key order, whitespace, unknown members, nulls,
    /// numbers written otherwise, escapes, a key written twice).
    static let accepted: [String] = [
        "{\"data\":\(data),\(attributes)}",
        "{\(attributes),\"data\":\(data)}",
        " {\n \"data\" : \(data) ,\n \(attributes.replacingOccurrences(of: ",", with: " ,\t")) } \n",
        "{\"data\":\(data),\"extension\":{\"a\":[1,2,{\"b\":null}],\"c\":true},\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"callbackCount\":3", with: "\"callbackCount\":null")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"callbackCount\":3", with: "\"callbackCount\":3.0")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"callbackCount\":3", with: "\"callbackCount\":3e0")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"requestId\":\"r-1\"", with: "\"requestId\":null")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: ",\"timestamp\":\"2016-01-01T12:29:49-08:00\"", with: "")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "temp=21.5", with: #"tab\there \"quoted\" \\ \/ \u00e9\u2028\ud83d\ude9a ünï"#)),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"kind\":\"mdn\"", with: "\"kind\":\"MDN\",\"extra\":1")),\(attributes)}",
        "{\"data\":\(data),\(attributes),\"id\":\"e-2\"}",
        "{\"data\":\(data.replacingOccurrences(of: "\"channel\":\"callback\"", with: "\"channel\":\"nope\",\"channel\":\"poll\"")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"deviceIds\":[", with: "\"deviceIds\":[ ]  ,\"ignored\":[")),\(attributes)}",
    ]

    /// Documents the tree reader refuses.
    static let refused: [String] = [
        "",
        "{}",
        "{\"data\":\(data),\(attributes)} x",
        "{\"data\":\(data),\(attributes),}",
        "{\"data\":\(data.replacingOccurrences(of: "\"callbackCount\":3", with: "\"callbackCount\":3.5")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"callbackCount\":3", with: "\"callbackCount\":\"3\"")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"channel\":\"callback\"", with: "\"channel\":\"carrier-pigeon\"")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"requestId\":\"r-1\"", with: "\"requestId\":7")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "\"text\":\"temp=21.5\",", with: "")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: ",\"kind\":\"esn\"", with: "")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "temp=21.5", with: "bad \\x escape")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "temp=21.5", with: "lone \\ud83d surrogate")),\(attributes)}",
        "{\"data\":\(data.replacingOccurrences(of: "temp=21.5", with: "raw \u{01} control")),\(attributes)}",
        "{\"data\":[],\(attributes)}",
        "{\"data\":\(data),\(attributes.replacingOccurrences(of: "\"subject\":\"7022895555\",", with: ""))}",
        "{\"data\":\(data),\(attributes.replacingOccurrences(of: "\"id\":\"e-1\"", with: "\"id\":1"))}",
        "{\"data\":\(data),\(attributes),\"extension\":[1,2,]}",
        "{\"data\":\(data),\(attributes)",
        "[\"data\"]",
    ]

    @Test(arguments: accepted)
    func takesWhatTheTreeReaderTakesAndGivesTheSameEvent(json: String) throws {
        let expected = try #require(viaTree(json), "the tree reader should take this document")
        #expect(viaReader(json) == expected)
        #expect(try BridgeEvent.decode(Data(json.utf8)) == expected)
    }

    @Test(arguments: refused)
    func refusesWhatTheTreeReaderRefuses(json: String) {
        #expect(viaTree(json) == nil, "the tree reader should refuse this document")
        #expect(viaReader(json) == nil)
        #expect(throws: (any Error).self) { try BridgeEvent.decode(Data(json.utf8)) }
    }

    @Test func readsEveryEventTheJournalWrites() throws {
        for n in 0..<500 {
            let scalars = (0..<(n % 40)).map { i in Character(Unicode.Scalar(UInt32((n * 31 + i * 7) % 0x2FF + 1))!) }
            let message = MOSMSCallback(
                requestID: n % 3 == 0 ? nil : "r-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "70228\(n)"), DeviceID(kind: "ESN", id: "\(n)")],
                text: String(scalars), timestamp: n % 2 == 0 ? nil : "2016-01-01T12:29:49-08:00", callbackCount: n % 5 == 0 ? nil : n % 4
            )
            let event = EventNormalizer.normalize(message, account: "0000123456-00001", channel: n % 2 == 0 ? .callback : .poll, receivedAt: Date())
            let stored = try event.jsonData()
            #expect(stored.withUnsafeBytes { BridgeEvent.read($0) } == event)
        }
    }
}
