//===----------------------------------------------------------------------===//
// ThingBridge — the route model
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// One route file: how its devices encode text, and a list of routes evaluated in order.
///
/// ```yaml
/// decode: json
/// routes:
///   - name: fleet-alarms
///     match:
///       account: "0000123456-*"
///       device: { kind: mdn, id: "70228*" }
///       fields: { kind: alarm, temperature: { gt: 40 } }
///     to:
///       - sink: kafka
///         topic: "alarms.{account}"
///       - archive
///     stop: true
/// ```
/// Parsed by ``RouteFileParser`` (every error with its line and column), not `Decodable`.
public struct RouteFile: Sendable {
    /// How text is decoded into `fields` for this file's routes (nil: the main config's default).
    public var decoding: PayloadDecoding?
    public var routes: [Route]

    public init(decoding: PayloadDecoding? = nil, routes: [Route]) {
        self.decoding = decoding
        self.routes = routes
    }
}

/// A named rule: when `match` holds for an event, deliver it to each destination in `to`.
public struct Route: Sendable {
    public var name: Located<String>
    /// The conditions; empty matches every event.
    public var match: RouteMatch
    public var to: [Destination]
    /// When true, routes after this one are not evaluated for an event this one matched.
    public var stop: Bool
    /// How this route's file decodes text into fields (set by the loader).
    public var decoding: PayloadDecoding?
    /// Where `stop` was written, for messages about it.
    public var stopLocation: SourceLocation?

    /// The file the route came from (set by the loader).
    public internal(set) var file: String = ""

    public init(
        name: String, match: RouteMatch = RouteMatch(), to: [Destination], stop: Bool = false,
        decoding: PayloadDecoding? = nil, file: String = ""
    ) {
        self.name = Located(name)
        self.match = match
        self.to = to
        self.stop = stop
        self.decoding = decoding
        self.file = file
    }

    /// Whether the route's conditions hold for an event.
    public func matches(_ event: BridgeEvent) -> Bool {
        var input = MatchInput(event: event)
        return match.holds(&input, decoding: decoding)
    }
}

/// The conditions of a route: every one must hold. No conditions: every event matches.
public struct RouteMatch: Sendable {
    public var conditions: [Condition]

    public init(_ conditions: [Condition] = []) { self.conditions = conditions }

    /// The first version's shape: account glob, device condition, channel.
    public init(account: Glob? = nil, device: DeviceMatch? = nil, channel: Channel? = nil) {
        var conditions: [Condition] = []
        if let account { conditions.append(Condition(.account(account))) }
        if let device { conditions.append(Condition(.device(kind: device.kind, id: device.id))) }
        if let channel { conditions.append(Condition(.channel(channel))) }
        self.conditions = conditions
    }

    /// Whether the match holds for every event (no conditions).
    public var matchesEverything: Bool { conditions.isEmpty }

    public func matches(_ event: BridgeEvent, decoding: PayloadDecoding? = nil) -> Bool {
        var input = MatchInput(event: event)
        return holds(&input, decoding: decoding)
    }

    func holds(_ input: inout MatchInput, decoding: PayloadDecoding?) -> Bool {
        for condition in conditions where !condition.holds(&input, decoding: decoding) { return false }
        return true
    }
}

/// A condition on a device: an id glob, optionally limited to one identifier kind.
public struct DeviceMatch: Sendable {
    public var kind: String?
    public var id: Glob

    public init(kind: String? = nil, id: Glob) {
        self.kind = kind?.lowercased()
        self.id = id
    }
}

/// Where a matched event goes: a sink named in the main config, with per-destination options.
///
/// Written as `- archive`, or as a mapping with `sink:` and options.
public struct Destination: Sendable {
    public var sink: Located<String>
    /// Options given for this destination (anything not given: the sink's own config).
    public var options: DeliveryOptions {
        didSet { storedOptions = options.storedJSON() }
    }
    /// ``options`` as the journal stores them, encoded once.
    public private(set) var storedOptions: String?
    /// Where each option was written (`topic`, `key`, `path`, …), for validation against the
    /// sink's type once the main config is known.
    public var optionLocations: [String: SourceLocation]

    public init(sink: String, options: DeliveryOptions = .default) {
        self.sink = Located(sink)
        self.options = options
        self.storedOptions = options.storedJSON()
        self.optionLocations = [:]
    }

    init(sink: Located<String>, options: DeliveryOptions, optionLocations: [String: SourceLocation]) {
        self.sink = sink
        self.options = options
        self.storedOptions = options.storedJSON()
        self.optionLocations = optionLocations
    }
}

/// The payload a sink sends for a delivery.
public enum PayloadFormat: String, Sendable, Codable, CaseIterable {
    /// The CloudEvent as stored (structured-mode JSON; Kafka sinks in binary mode send `data`
    /// as the value and the attributes as `ce_` headers).
    case cloudevents
    /// The event's `data` object alone, as JSON.
    case data
    /// A Mustache template rendered with the event in scope.
    case template
}

/// Per-destination options, fixed when the event is routed and stored with its delivery, so a
/// delivery is self-contained: a later reload of the routes does not change it.
///
/// A field that is nil leaves the sink's own config in force.
public struct DeliveryOptions: Sendable, Codable, Equatable, Hashable {
    public var format: PayloadFormat
    /// The Mustache template (format `template`).
    public var template: String?
    /// The payload's content type (format `template`; default `text/plain; charset=utf-8`).
    public var contentType: String?
    /// Kafka: the topic pattern (`{account}`, `{sink}`, `{route}`).
    public var topic: String?
    /// Kafka: the record key pattern (`{device}`, `{account}`, `{sink}`, `{route}`, `{id}`).
    public var key: String?
    /// File: the path pattern (`{account}`, `{date}`, `{sink}`, `{route}`).
    public var path: String?
    /// How the route's file decodes text, kept for templates (`{{fields.x}}`); set by the router
    /// for format `template` only.
    public var decoding: PayloadDecoding?

    public static let `default` = DeliveryOptions()

    public init(
        format: PayloadFormat = .cloudevents, template: String? = nil, contentType: String? = nil,
        topic: String? = nil, key: String? = nil, path: String? = nil, decoding: PayloadDecoding? = nil
    ) {
        self.format = format
        self.template = template
        self.contentType = contentType
        self.topic = topic
        self.key = key
        self.path = path
        self.decoding = decoding
    }

    public var isDefault: Bool { self == .default }

    /// The options as stored in the journal (`deliveries.options`): nil for the defaults.
    public func storedJSON() -> String? {
        guard !isDefault else { return nil }
        return (try? Self.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Reads ``storedJSON()``; nil or unreadable text gives the defaults.
    public init(storedJSON text: String?) {
        guard let text, let options = try? JSONDecoder().decode(DeliveryOptions.self, from: Data(text.utf8)) else {
            self = .default
            return
        }
        self = options
    }

    enum CodingKeys: String, CodingKey { case format, template, contentType, topic, key, path, decoding }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decodeIfPresent(PayloadFormat.self, forKey: .format) ?? .cloudevents
        template = try container.decodeIfPresent(String.self, forKey: .template)
        contentType = try container.decodeIfPresent(String.self, forKey: .contentType)
        topic = try container.decodeIfPresent(String.self, forKey: .topic)
        key = try container.decodeIfPresent(String.self, forKey: .key)
        path = try container.decodeIfPresent(String.self, forKey: .path)
        decoding = try container.decodeIfPresent(PayloadDecoding.self, forKey: .decoding)
    }

    public var summary: String {
        var parts: [String] = []
        if format != .cloudevents { parts.append("format \(format.rawValue)") }
        if let topic { parts.append("topic \(topic)") }
        if let key { parts.append("key \(key)") }
        if let path { parts.append("path \(path)") }
        if let contentType { parts.append("content type \(contentType)") }
        return parts.joined(separator: ", ")
    }
}

/// A shell-style glob: `*` any run, `?` one character, `[abc]` a set (POSIX `fnmatch`).
public struct Glob: Sendable, Hashable, Decodable, CustomStringConvertible {
    public var pattern: String

    public init(_ pattern: String) { self.pattern = pattern }

    public init(from decoder: any Decoder) throws {
        self.pattern = try decoder.singleValueContainer().decode(String.self)
    }

    public func matches(_ text: String) -> Bool {
        if !pattern.contains(where: { "*?[".contains($0) }) { return pattern == text }
        return fnmatch(pattern, text, 0) == 0
    }

    public var description: String { pattern }
}
