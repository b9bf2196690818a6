//===----------------------------------------------------------------------===//
// ThingBridge — the route model (first version)
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// One route file: a list of routes, evaluated in order.
///
/// ```yaml
/// routes:
///   - name: fleet-archive
///     match:
///       account: "0000123456-*"
///       device: { kind: mdn, id: "70228*" }
///     to:
///       - sink: archive
/// ```
public struct RouteFile: Sendable, Decodable {
    public var routes: [Route]
}

/// A named rule: when `match` holds for an event, deliver it to each destination in `to`.
public struct Route: Sendable, Decodable {
    public var name: Located<String>
    /// The conditions; absent or empty matches every event.
    public var match: RouteMatch
    public var to: [Destination]
    /// When true, routes after this one are not evaluated for an event this one matched.
    public var stop: Bool

    /// The file the route came from (set by the loader).
    public internal(set) var file: String = ""

    enum CodingKeys: String, CodingKey, CaseIterable { case name, match, to, stop }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(Located<String>.self, forKey: .name)
        self.match = try container.decodeIfPresent(RouteMatch.self, forKey: .match) ?? RouteMatch()
        self.to = try container.decode([Destination].self, forKey: .to)
        self.stop = try container.decodeIfPresent(Bool.self, forKey: .stop) ?? false
    }

    public init(name: String, match: RouteMatch = RouteMatch(), to: [Destination], stop: Bool = false, file: String = "") {
        self.name = Located(name)
        self.match = match
        self.to = to
        self.stop = stop
        self.file = file
    }
}

/// The conditions of a route; every condition given must hold.
///
/// The full route language (text, decoded fields, `all`/`any`/`not`) grows from here.
public struct RouteMatch: Sendable, Decodable {
    /// A glob on the account name (`*`, `?`, `[…]`).
    public var account: Glob?
    /// A condition on the device's identifiers.
    public var device: DeviceMatch?
    /// `callback` or `poll`.
    public var channel: Channel?

    public init(account: Glob? = nil, device: DeviceMatch? = nil, channel: Channel? = nil) {
        self.account = account
        self.device = device
        self.channel = channel
    }

    public func matches(_ event: BridgeEvent) -> Bool {
        if let account, !account.matches(event.data.account) { return false }
        if let device, !device.matches(event.data.deviceIds) { return false }
        if let channel, channel != event.data.channel { return false }
        return true
    }
}

/// A condition on a device: an id glob, optionally limited to one identifier kind.
///
/// Written either as a glob string (any kind: `device: "70228*"`) or as
/// `device: { kind: iccid, id: "8914*" }`. Kinds compare case-insensitively.
public struct DeviceMatch: Sendable, Decodable {
    public var kind: String?
    public var id: Glob

    public init(kind: String? = nil, id: Glob) {
        self.kind = kind?.lowercased()
        self.id = id
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case kind, id }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let pattern = try? single.decode(Glob.self) {
            self.init(id: pattern)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try container.decodeIfPresent(String.self, forKey: .kind),
            id: try container.decode(Glob.self, forKey: .id)
        )
    }

    public func matches(_ ids: [DeviceID]) -> Bool {
        ids.contains { (kind == nil || $0.kind == kind) && id.matches($0.id) }
    }
}

/// Where a matched event goes: a sink named in the main config, with per-destination options.
///
/// Written as `- sink: archive` or, with no options, just `- archive`.
public struct Destination: Sendable, Decodable {
    public var sink: Located<String>

    public init(sink: String) { self.sink = Located(sink) }

    enum CodingKeys: String, CodingKey, CaseIterable { case sink }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(Located<String>.self) {
            self.sink = name
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.sink = try container.decode(Located<String>.self, forKey: .sink)
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
