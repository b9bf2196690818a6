import BridgeCore
import Foundation
import Testing
import ThingSpace

@Suite struct EventNormalizerTests {
    let account = "0000123456-00001"
    let received = Date(timeIntervalSince1970: 1_795_000_000.25)

    func message(requestID: String? = nil, timestamp: String? = nil, text: String = "hello") -> MOSMSCallback {
        MOSMSCallback(
            deviceIDs: [DeviceID(kind: "ESN", id: "60E5F99D"), DeviceID(kind: "mdn", id: "7022895555")],
            text: text, timestamp: timestamp, callbackCount: 2
        ).with(requestID: requestID)
    }

    @Test func producesACloudEvent() throws {
        let event = EventNormalizer.normalize(message(requestID: "r-1"), account: account, channel: .callback, receivedAt: received)
        let json = try #require(try JSONSerialization.jsonObject(with: event.jsonData()) as? [String: Any])
        #expect(json["specversion"] as? String == "1.0")
        #expect(json["type"] as? String == "com.verizon.thingspace.sms.mo")
        #expect(json["source"] as? String == "/thingspace/accounts/0000123456-00001")
        #expect(json["subject"] as? String == "7022895555")
        #expect(json["datacontenttype"] as? String == "application/json")
        #expect((json["id"] as? String)?.isEmpty == false)
        #expect(json["time"] as? String == "2026-11-18T11:06:40.250Z")
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["account"] as? String == account)
        #expect(data["text"] as? String == "hello")
        #expect(data["channel"] as? String == "callback")
        #expect(data["requestId"] as? String == "r-1")
        #expect(data["callbackCount"] as? Int == 2)
        #expect((data["device"] as? [String: String]) == ["kind": "mdn", "id": "7022895555"])
        #expect((data["deviceIds"] as? [[String: String]])?.count == 2)
        #expect((data["deviceIds"] as? [[String: String]])?.first?["kind"] == "esn")
        #expect(data["timestamp"] == nil)
    }

    @Test func upstreamTimestampBecomesUTCTime() {
        let event = EventNormalizer.normalize(
            message(timestamp: "2016-01-01T12:29:49-08:00"), account: account, channel: .poll, receivedAt: received
        )
        #expect(event.time == "2016-01-01T20:29:49.000Z")
        #expect(event.data.timestamp == "2016-01-01T12:29:49-08:00")
        #expect(event.data.channel == .poll)
    }

    @Test func idIsStableForTheSameUpstreamMessage() {
        let a = EventNormalizer.normalize(message(requestID: "r-1"), account: account, channel: .callback, receivedAt: received)
        let b = EventNormalizer.normalize(message(requestID: "r-1", text: "other"), account: account, channel: .callback, receivedAt: Date())
        let c = EventNormalizer.normalize(message(requestID: "r-2"), account: account, channel: .callback, receivedAt: received)
        #expect(a.id == b.id)
        #expect(a.id != c.id)

        let t1 = EventNormalizer.normalize(message(timestamp: "2016-01-01T12:29:49-08:00"), account: account, channel: .callback, receivedAt: received)
        let t2 = EventNormalizer.normalize(message(timestamp: "2016-01-01T12:29:49-08:00"), account: account, channel: .poll, receivedAt: Date())
        let t3 = EventNormalizer.normalize(message(timestamp: "2016-01-01T12:29:50-08:00"), account: account, channel: .poll, receivedAt: Date())
        #expect(t1.id == t2.id)
        #expect(t1.id != t3.id)
    }

    @Test func messagesWithNothingToRecogniseThemByAreNeverMerged() {
        // Two identical "PING"s without requestId or timestamp are two messages: dedup would lose one.
        let a = EventNormalizer.normalize(message(text: "PING"), account: account, channel: .callback, receivedAt: received)
        let b = EventNormalizer.normalize(message(text: "PING"), account: account, channel: .callback, receivedAt: received)
        #expect(a.id != b.id)
    }

    @Test func roundTripsThroughJSON() throws {
        let event = EventNormalizer.normalize(message(requestID: "r"), account: account, channel: .callback, receivedAt: received)
        #expect(try BridgeEvent.decode(event.jsonData()) == event)
    }
}

extension MOSMSCallback {
    func with(requestID: String?) -> MOSMSCallback {
        var copy = self
        copy.requestID = requestID
        return copy
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2016-01-01T12:29:49-08:00", "2016-01-01T20:29:49.000Z"),
        ("2016-01-01T12:29:49Z", "2016-01-01T12:29:49.000Z"),
        ("2016-01-01T12:29:49.5+05:30", "2016-01-01T06:59:49.500Z"),
        ("2024-02-29T23:59:59.123456Z", "2024-02-29T23:59:59.123Z"),
        ("1969-12-31T23:59:59.250Z", "1969-12-31T23:59:59.250Z"),
    ])
    func parsesAndFormatsRFC3339(input: String, utc: String) throws {
        let date = try #require(Timestamps.parse(input))
        #expect(Timestamps.format(date) == utc)
    }

    @Test(arguments: ["", "2016-01-01", "2016-13-01T00:00:00Z", "2016-01-01T12:29:49", "2016-01-01T12:29:49+0800", "yesterday", "2016-01-01T12:29:49Zjunk"])
    func rejectsWhatIsNotRFC3339(input: String) {
        #expect(Timestamps.parse(input) == nil)
    }

    @Test func agreesWithFoundation() {
        let date = Date(timeIntervalSince1970: 1_795_000_000.789)
        #expect(Timestamps.format(date) == date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)))
    }
}

@Suite struct EventJSONTests {
    static let texts = [
        "plain", "", "quote \" backslash \\ slash / tab \t newline \n cr \r", "bell \u{07} nul \u{00} esc \u{1B}",
        "ünïcödé ✓ 🚚", "{\"t\":21.5,\"door\":\"closed\"}", "\u{2028}line separator",
    ]

    @Test(arguments: texts)
    func handWrittenJSONEqualsFoundationsEncoding(text: String) throws {
        var message = MOSMSCallback(
            requestID: "r-\"1\"", deviceIDs: [DeviceID(kind: "MDN", id: "7022895555"), DeviceID(kind: "iccid", id: "8914/0")],
            text: text, timestamp: "2016-01-01T12:29:49-08:00", callbackCount: 3
        )
        for variant in 0..<2 {
            if variant == 1 {
                message.requestID = nil
                message.timestamp = nil
                message.callbackCount = nil
            }
            let event = EventNormalizer.normalize(message, account: "0000123456-00001", channel: .callback, receivedAt: Date())
            let foundation = try BridgeEvent.foundationJSON(event)
            #expect(try event.jsonData() == foundation)
            #expect(try BridgeEvent.decode(event.jsonData()) == event)
            // The hand-written reader agrees with JSONDecoder.
            #expect(try BridgeEvent.decode(foundation) == JSONDecoder().decode(BridgeEvent.self, from: foundation))
        }
    }

    @Test func aStoredEventMissingAFieldIsAnErrorNamingIt() throws {
        let event = EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: [DeviceID(kind: "mdn", id: "1")], text: "x"), account: "a", channel: .poll, receivedAt: Date()
        )
        var object = try #require(try JSONSerialization.jsonObject(with: event.jsonData()) as? [String: Any])
        var data = try #require(object["data"] as? [String: Any])
        data["channel"] = "carrier-pigeon"
        object["data"] = data
        let broken = try JSONSerialization.data(withJSONObject: object)
        #expect { try BridgeEvent.decode(broken) } throws: { ($0 as? EventDecodingError)?.field == "data.channel" }
        object.removeValue(forKey: "subject")
        #expect(throws: (any Error).self) { try BridgeEvent.decode(JSONSerialization.data(withJSONObject: object)) }
    }
}
