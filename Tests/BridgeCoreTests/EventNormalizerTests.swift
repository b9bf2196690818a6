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
