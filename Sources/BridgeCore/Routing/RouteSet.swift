//===----------------------------------------------------------------------===//
// ThingBridge — loading, validating and evaluating the routes folder
//===----------------------------------------------------------------------===//

import Foundation

/// What the router decided for one event: one delivery per (route, destination).
public struct RoutedDelivery: Sendable, Equatable {
    public var route: String
    public var sink: String

    public init(route: String, sink: String) {
        self.route = route
        self.sink = sink
    }
}

/// What happens to an event that no route matches. It is never dropped silently.
public enum UnmatchedPolicy: Sendable, Equatable, Decodable, CustomStringConvertible {
    /// Keep it in the journal (marked unmatched), count it and log it; deliver nowhere.
    case drop
    /// Deliver it to this sink, as route `_unmatched`.
    case sink(String)

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text == "drop" {
            self = .drop
        } else if text.hasPrefix("sink:") {
            self = .sink(text.dropFirst("sink:".count).trimmingCharacters(in: .whitespaces))
        } else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected 'drop' or 'sink:<name>', found '\(text)'"
            ))
        }
    }

    public var description: String {
        switch self {
        case .drop: "drop"
        case .sink(let name): "sink:\(name)"
        }
    }
}

/// The loaded, validated routes: every route file of a folder, in file-name order.
public struct RouteSet: Sendable {
    /// The route name used for deliveries made by the unmatched policy.
    public static let unmatchedRouteName = "_unmatched"

    public var routes: [Route]
    public var unmatched: UnmatchedPolicy

    public init(routes: [Route], unmatched: UnmatchedPolicy = .drop) {
        self.routes = routes
        self.unmatched = unmatched
    }

    /// Decides where an event goes. Fan-out across matching routes; `stop: true` ends evaluation.
    /// - Returns: The deliveries, empty when nothing matched and the unmatched policy is `drop`.
    public func route(_ event: BridgeEvent) -> [RoutedDelivery] {
        var deliveries: [RoutedDelivery] = []
        var matchedAny = false
        for route in routes where route.match.matches(event) {
            matchedAny = true
            for destination in route.to {
                deliveries.append(RoutedDelivery(route: route.name.value, sink: destination.sink.value))
            }
            if route.stop { break }
        }
        if !matchedAny, case .sink(let sink) = unmatched {
            deliveries.append(RoutedDelivery(route: Self.unmatchedRouteName, sink: sink))
        }
        return deliveries
    }

    /// The route files of a folder: `*.yaml` and `*.yml`, not the `*.test.yaml` fixtures, by name.
    public static func routeFiles(in directory: URL) throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return names
            .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.contains(".test.") && !$0.hasPrefix(".") }
            .sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// Loads and validates every route file in a folder.
    ///
    /// Validation is complete before anything runs: all errors of all files are collected,
    /// each with file, line and column.
    /// - Parameters:
    ///   - directory: The routes folder.
    ///   - sinks: The names of the sinks defined in the main config.
    ///   - unmatched: The policy for events no route matches.
    ///   - decoder: The YAML decoder (its environment expands `${VAR}`).
    /// - Throws: ``ConfigErrors`` listing every problem found.
    public static func load(
        from directory: URL, sinks: Set<String>, unmatched: UnmatchedPolicy = .drop,
        decoder: YAMLConfigDecoder = YAMLConfigDecoder()
    ) throws(ConfigErrors) -> RouteSet {
        var errors: [ConfigError] = []
        let files: [URL]
        do {
            files = try routeFiles(in: directory)
        } catch {
            throw ConfigErrors([ConfigError(
                location: nil, keyPath: "", message: "\(directory.path): cannot read the routes folder: \(error.localizedDescription)"
            )])
        }
        var routes: [Route] = []
        for file in files {
            let displayName = displayPath(file)
            do {
                let parsed = try decoder.decode(RouteFile.self, contentsOf: file, displayName: displayName)
                for var route in parsed.routes {
                    route.file = displayName
                    routes.append(route)
                }
            } catch {
                errors.append(error)
            }
        }
        errors += validate(routes, sinks: sinks, unmatched: unmatched)
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return RouteSet(routes: routes, unmatched: unmatched)
    }

    /// Checks what a single file cannot: names unique across files, sinks that exist.
    static func validate(_ routes: [Route], sinks: Set<String>, unmatched: UnmatchedPolicy) -> [ConfigError] {
        var errors: [ConfigError] = []
        var seen: [String: Route] = [:]
        let known = sinks.sorted().joined(separator: ", ")
        for route in routes {
            let name = route.name.value
            if name.isEmpty || name.hasPrefix("_") {
                errors.append(ConfigError(
                    location: route.name.location, keyPath: "name",
                    message: "route name '\(name)' is not allowed (names must be non-empty and not start with '_')"
                ))
            }
            if let first = seen[name] {
                let where_ = first.name.location.map { " (first defined at \($0))" } ?? ""
                errors.append(ConfigError(location: route.name.location, keyPath: "name", message: "duplicate route name '\(name)'\(where_)"))
            } else {
                seen[name] = route
            }
            if route.to.isEmpty {
                errors.append(ConfigError(location: route.name.location, keyPath: "to", message: "route '\(name)' has no destinations in 'to'"))
            }
            for destination in route.to where !sinks.contains(destination.sink.value) {
                errors.append(ConfigError(
                    location: destination.sink.location, keyPath: "to.sink",
                    message: "route '\(name)' names unknown sink '\(destination.sink.value)' (sinks defined in the main config: \(known.isEmpty ? "none" : known))"
                ))
            }
        }
        if case .sink(let name) = unmatched, !sinks.contains(name) {
            errors.append(ConfigError(
                location: nil, keyPath: "routing.unmatched",
                message: "the unmatched policy names unknown sink '\(name)' (sinks: \(known.isEmpty ? "none" : known))"
            ))
        }
        return errors
    }

    /// A path relative to the working directory when it is inside it, for shorter messages.
    static func displayPath(_ url: URL) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let path = url.standardizedFileURL.path
        return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
    }
}
