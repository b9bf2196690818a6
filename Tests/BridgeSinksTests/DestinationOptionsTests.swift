import BridgeCore
import BridgeSinks
import Foundation
import Logging
import RdKafka
import Testing
import TestSupport
import ThingSpace

/// Route destination options reach the sinks: payload format, Kafka topic and key, file path.
@Suite struct DestinationOptionsTests {
    static func item(text: String = #"{"kind":"alarm","t":51}"#, options: DeliveryOptions) throws -> SinkItem {
        let event = EventNormalizer.normalize(
            MOSMSCallback(requestID: "req-1", deviceIDs: [DeviceID(kind: "mdn", id: "7022895555")], text: text),
            account: "0000123456-00001", channel: .callback, receivedAt: Date(timeIntervalSince1970: 1_795_000_000)
        )
        return SinkItem(deliveryID: 1, route: "alarms", attempt: 1, event: event, eventJSON: try event.jsonData(), options: options)
    }

    @Test func theRendererFollowsTheFormat() throws {
        let cloud = try Self.item(options: .default)
        #expect(PayloadRenderer.render(cloud) == .init(bytes: cloud.eventJSON, contentType: PayloadRenderer.cloudEventsContentType))
        let data = PayloadRenderer.render(try Self.item(options: DeliveryOptions(format: .data)))
        #expect(data.contentType == "application/json")
        #expect(try JSONDecoder().decode(SMSData.self, from: data.bytes) == cloud.event.data)
        #expect(data.bytes == PayloadRenderer.encodeData(cloud.event))
        let template = PayloadRenderer.render(try Self.item(options: DeliveryOptions(
            format: .template, template: "{{route}}/{{sink}} {{subject}} {{data.account}} kind={{fields.kind}} t={{fields.t}} {{data.text}} {{{data.text}}}",
            contentType: "text/x-alarm", decoding: .json
        )), sink: "oncall")
        #expect(template.contentType == "text/x-alarm")
        #expect(String(decoding: template.bytes, as: UTF8.self)
            == #"alarms/oncall 7022895555 0000123456-00001 kind=alarm t=51 {&quot;kind&quot;:&quot;alarm&quot;,&quot;t&quot;:51} {"kind":"alarm","t":51}"#)
        // Text that does not decode: the fields are simply empty.
        let plain = PayloadRenderer.render(try Self.item(text: "plain", options: DeliveryOptions(format: .template, template: "[{{fields.kind}}] {{data.text}}", decoding: .json)))
        #expect(String(decoding: plain.bytes, as: UTF8.self) == "[] plain")
        #expect(plain.contentType == PayloadRenderer.defaultTemplateContentType)
    }

    /// The Kafka value in binary mode is the stored event's `data` member, cut from its bytes: texts
    /// with quotes, backslashes (runs of them before a quote), braces and brackets inside strings
    /// must not end it early or late.
    @Test(arguments: [
        #"plain"#, #"say "hi" {now}"#, #"back\slash\\ and \\\"quoted\\"#, #"}]{["#, #"ends with a backslash \"#,
        #"ends with two \\"#, "line\nbreak\t\u{01}", "日本 ünï 😀",
    ])
    func theDataMemberIsCutWhereverItsStringsEnd(_ text: String) throws {
        let item = try Self.item(text: text, options: .default)
        let cut = try #require(PayloadRenderer.dataMember(of: item.eventJSON))
        #expect(try JSONDecoder().decode(SMSData.self, from: cut) == item.event.data)
        #expect(try JSONDecoder().decode(SMSData.self, from: cut).text == text)
    }

    @Test func theFileSinkWritesTheDestinationsPathAndPayload() async throws {
        try await withTemporaryDirectory { directory in
            let sink = FileSink(name: "oncall", config: FileSinkConfig(path: "default.jsonl"), dataDirectory: directory.url, logger: Logger(label: "test"))
            let items = [
                try Self.item(options: DeliveryOptions(format: .template, template: "ALARM {{subject}}", path: "pages/{account}.log")),
                try Self.item(options: DeliveryOptions(format: .data)),
                try Self.item(options: .default),
            ]
            #expect(await sink.deliver(items) == [.delivered, .delivered, .delivered])
            #expect(try String(contentsOf: directory.appending("pages/0000123456-00001.log"), encoding: .utf8) == "ALARM 7022895555\n")
            let lines = try String(contentsOf: directory.appending("default.jsonl"), encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 2)
            #expect(lines[0].hasPrefix(#"{"account":"0000123456-00001""#))
            #expect(Data(lines[1].utf8) == items[2].eventJSON)
            await sink.close()
        }
    }

    @Test func theKafkaSinkTakesTheDestinationsTopicKeyAndFormat() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let config = KafkaSinkConfig(brokers: [cluster.bootstrapServers], topic: "thingbridge.{account}", mode: .binary, flushTimeout: .seconds(2))
        let sink = try KafkaSink(name: "kafka", config: config, logger: Logger(label: "test"))
        let defaults = sink.record(for: try Self.item(options: .default))
        #expect(defaults.topic == "thingbridge.0000123456-00001")
        #expect(defaults.key == Data("7022895555".utf8))
        let routed = sink.record(for: try Self.item(options: DeliveryOptions(format: .template, template: "{{subject}}!", topic: "alarms.{account}.{route}", key: "{account}")))
        #expect(routed.topic == "alarms.0000123456-00001.alarms")
        #expect(routed.key == Data("0000123456-00001".utf8))
        #expect(routed.value == Data("7022895555!".utf8))
        #expect(routed.headers.first { $0.name == "content-type" }?.stringValue == PayloadRenderer.defaultTemplateContentType)
        #expect(routed.headers.first { $0.name == "ce_id" } != nil)
        let data = sink.record(for: try Self.item(options: DeliveryOptions(format: .data)))
        #expect(data.value == defaults.value)
        await sink.close()
    }
}
