//===----------------------------------------------------------------------===//
// ThingBridge — the payload a sink sends for a delivery
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace
import Mustache
import Synchronization

/// Turns a delivery into the bytes its sink sends, by the destination's payload format.
///
/// Shared by every sink (file, Kafka, webhook) so that a format means the same everywhere:
/// - `cloudevents`: the stored structured-mode CloudEvent, byte for byte;
/// - `data`: the event's `data` object alone, as stored;
/// - `template`: the destination's Mustache template rendered with the event in scope
///   (`{{id}}`, `{{subject}}`, `{{data.text}}`, `{{data.device.id}}`, `{{fields.temperature}}`
///   when the route file decodes text, `{{route}}`, `{{sink}}`). `{{x}}` escapes HTML
///   characters; write `{{{x}}}` for the raw value.
public enum PayloadRenderer {
    public struct Payload: Sendable, Equatable {
        public var bytes: Data
        public var contentType: String

        public init(bytes: Data, contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
        }
    }

    public static let cloudEventsContentType = "application/cloudevents+json; charset=UTF-8"
    public static let jsonContentType = "application/json"
    public static let defaultTemplateContentType = "text/plain; charset=utf-8"

    /// The payload for one delivery.
    /// - Parameter sink: The sink's name, in scope for templates as `sink`.
    public static func render(_ item: SinkItem, sink: String = "") -> Payload {
        switch item.options.format {
        case .cloudevents:
            return Payload(bytes: item.eventJSON, contentType: cloudEventsContentType)
        case .data:
            return Payload(bytes: dataMember(of: item.eventJSON) ?? encodeData(item.event), contentType: jsonContentType)
        case .template:
            let text = renderTemplate(item.options.template ?? "", item: item, sink: sink)
            return Payload(bytes: Data(text.utf8), contentType: item.options.contentType ?? defaultTemplateContentType)
        }
    }

    /// What a template sees: the CloudEvent's attributes and `data` as JSON objects, the decoded
    /// `fields` (when the route's file declares a decoding), `route` and `sink`.
    static func scope(_ item: SinkItem, sink: String) -> [String: Any] {
        var scope = (try? JSONSerialization.jsonObject(with: item.eventJSON)) as? [String: Any] ?? [:]
        scope["route"] = item.route
        scope["sink"] = sink
        if let decoding = item.options.decoding, let fields = decoding.decode(item.event.data.text) {
            scope["fields"] = fields.foundationObject
        }
        return scope
    }

    static func renderTemplate(_ text: String, item: SinkItem, sink: String) -> String {
        guard let template = compiled(text) else { return text }
        return template.render(scope(item, sink: sink))
    }

    /// Parsed templates by text. Templates are validated when routes load, so a parse failure
    /// here means a stored delivery from a template that no longer parses: its text is sent.
    private static let cache = Mutex<[String: MustacheTemplate]>([:])

    static func compiled(_ text: String) -> MustacheTemplate? {
        if let template = cache.withLock({ $0[text] }) { return template }
        guard let template = try? MustacheTemplate(string: text) else { return nil }
        cache.withLock { cache in
            // Bounded: a few templates per route set; reloads may add more over time.
            if cache.count > 256 { cache.removeAll() }
            cache[text] = template
        }
        return template
    }

    /// The bytes of the `data` member of a stored CloudEvent, exactly as stored. The journal
    /// writes keys sorted, so `data` comes first: `{"data":{…},"datacontenttype":…`. Returns nil
    /// for anything else (then the data is encoded again).
    public static func dataMember(of json: Data) -> Data? {
        let prefix = dataPrefix
        return json.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Data? in
            guard let base = bytes.baseAddress, bytes.count > prefix.count, bytes.prefix(prefix.count).elementsEqual(prefix) else { return nil }
            let start = prefix.count
            guard bytes[start] == UInt8(ascii: "{") else { return nil }
            var depth = 0
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    // To the string's closing quote: the next quote after an even run of backslashes
                    // (memchr finds the candidates; most strings have no escape at all).
                    var from = index + 1
                    while true {
                        guard let found = memchr(base + from, Int32(UInt8(ascii: "\"")), bytes.count - from) else { return nil }
                        let quote = base.distance(to: UnsafeRawPointer(found))
                        var backslashes = 0
                        while quote - backslashes - 1 > index, bytes[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                        if backslashes % 2 == 0 {
                            index = quote
                            break
                        }
                        from = quote + 1
                    }
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return Data(UnsafeRawBufferPointer(rebasing: bytes[start...index])) }
                default: break
                }
                index += 1
            }
            return nil
        }
    }

    private static let dataPrefix: [UInt8] = Array(#"{"data":"#.utf8)

    private static let dataEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The event's `data` encoded afresh (keys sorted).
    public static func encodeData(_ event: BridgeEvent) -> Data {
        (try? dataEncoder.encode(event.data)) ?? Data("{}".utf8)
    }
}
