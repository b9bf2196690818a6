//===----------------------------------------------------------------------===//
// ThingBridge — loading, validating and evaluating the routes folder
//===----------------------------------------------------------------------===//

import Crypto
import Foundation
import ThingSpace

/// What the router decided for one event: one delivery per (route, destination).
public struct RoutedDelivery: Sendable, Equatable {
    public var route: String
    public var sink: String
    /// The destination's options, resolved now and stored with the delivery.
    public var options: DeliveryOptions {
        didSet { storedOptions = options.storedJSON() }
    }
    /// ``options`` as the journal stores them (nil for the defaults), encoded once per route
    /// destination when the routes load, not per event inside the journal's transaction.
    public private(set) var storedOptions: String?
    /// The unmatched policy `deadLetter`: stored directly as a dead letter, handed to no sink.
    public var isDeadLetter: Bool

    public init(route: String, sink: String, options: DeliveryOptions = .default, isDeadLetter: Bool = false) {
        self.route = route
        self.sink = sink
        self.options = options
        self.storedOptions = options.storedJSON()
        self.isDeadLetter = isDeadLetter
    }

    init(route: String, destination: Destination) {
        self.route = route
        self.sink = destination.sink.value
        self.options = destination.options
        self.storedOptions = destination.storedOptions
        self.isDeadLetter = false
    }
}

/// What happens to an event that no route matches. It is never dropped silently.
public enum UnmatchedPolicy: Sendable, Equatable, Decodable, CustomStringConvertible {
    /// Keep it in the journal (marked unmatched), count it and log it; deliver nowhere.
    case drop
    /// Deliver it to this sink, as route `_unmatched`.
    case sink(String)
    /// Store it as a dead letter (sink `_deadletter`, route `_unmatched`): `thingbridge dlq list`
    /// shows it, with the reason "no route matched".
    case deadLetter

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let policy = UnmatchedPolicy(parsing: text) {
            self = policy
        } else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected 'drop', 'deadLetter' or 'sink:<name>', found '\(text)'"
            ))
        }
    }

    public init?(parsing text: String) {
        if text == "drop" {
            self = .drop
        } else if text == "deadLetter" {
            self = .deadLetter
        } else if text.hasPrefix("sink:") {
            self = .sink(text.dropFirst("sink:".count).trimmingCharacters(in: .whitespaces))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .drop: "drop"
        case .sink(let name): "sink:\(name)"
        case .deadLetter: "deadLetter"
        }
    }
}

/// The loaded, validated routes: every route file of a folder, in file-name order.
public struct RouteSet: Sendable {
    /// The route name used for deliveries made by the unmatched policy.
    public static let unmatchedRouteName = "_unmatched"
    /// The sink name of dead letters made by the unmatched policy `deadLetter`.
    public static let deadLetterSinkName = "_deadletter"

    public var routes: [Route]
    public var unmatched: UnmatchedPolicy
    /// Identifies this set: a digest of the route files' names and contents and the unmatched
    /// policy (the same files give the same version across restarts). Recorded with every event.
    public var version: String

    public init(routes: [Route], unmatched: UnmatchedPolicy = .drop, version: String = "") {
        self.routes = routes
        self.unmatched = unmatched
        self.version = version
    }

    /// Decides where an event goes. Fan-out across matching routes; `stop: true` ends evaluation.
    /// - Returns: The deliveries, empty when nothing matched and the unmatched policy is `drop`.
    public func route(_ event: BridgeEvent) -> [RoutedDelivery] {
        var deliveries: [RoutedDelivery] = []
        var matchedAny = false
        var input = MatchInput(event: event)
        for route in routes where route.match.holds(&input, decoding: route.decoding) {
            matchedAny = true
            for destination in route.to {
                deliveries.append(RoutedDelivery(route: route.name.value, destination: destination))
            }
            if route.stop { break }
        }
        if !matchedAny {
            switch unmatched {
            case .drop: break
            case .sink(let sink): deliveries.append(RoutedDelivery(route: Self.unmatchedRouteName, sink: sink))
            case .deadLetter: deliveries.append(RoutedDelivery(route: Self.unmatchedRouteName, sink: Self.deadLetterSinkName, isDeadLetter: true))
            }
        }
        return deliveries
    }

    // MARK: - Explain

    /// One route's part in an explanation.
    public struct RouteTrace: Sendable {
        public enum Outcome: Sendable, Equatable {
            case matched
            case notMatched
            /// Not evaluated: an earlier matching route had `stop: true`.
            case skipped(stoppedBy: String)
        }
        public var route: Route
        public var outcome: Outcome
        public var conditions: [ConditionTrace]
    }

    /// Everything `routes explain` prints for one event.
    public struct Explanation: Sendable {
        public var routes: [RouteTrace]
        public var deliveries: [RoutedDelivery]
        /// Whether the unmatched policy decided.
        public var unmatched: Bool
        /// The set's unmatched policy.
        public var policy: UnmatchedPolicy
    }

    /// The same decision as ``route(_:)``, with each route's outcome and each condition's reason.
    public func explain(_ event: BridgeEvent) -> Explanation {
        var traces: [RouteTrace] = []
        var input = MatchInput(event: event)
        var stoppedBy: String?
        for route in routes {
            if let stoppedBy {
                traces.append(RouteTrace(route: route, outcome: .skipped(stoppedBy: stoppedBy), conditions: []))
                continue
            }
            let conditions = route.match.conditions.map { $0.trace(&input, decoding: route.decoding) }
            let matched = conditions.allSatisfy(\.holds)
            traces.append(RouteTrace(route: route, outcome: matched ? .matched : .notMatched, conditions: conditions))
            if matched && route.stop { stoppedBy = route.name.value }
        }
        let deliveries = route(event)
        return Explanation(routes: traces, deliveries: deliveries, unmatched: !traces.contains { $0.outcome == .matched }, policy: unmatched)
    }

    // MARK: - Loading

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
    /// each with file, line and column and what would be right.
    /// - Parameters:
    ///   - directory: The routes folder.
    ///   - sinks: The names of the sinks defined in the main config.
    ///   - sinkTypes: The sinks' types (`file`, `kafka`, `webhook`), to check per-destination
    ///     options (a `topic` only for Kafka sinks, …). Sinks missing here are not checked.
    ///   - unmatched: The policy for events no route matches.
    ///   - defaultDecoding: How text decodes into fields for files without `decode:`.
    ///   - decoder: Its environment expands `${VAR}` in route files.
    /// - Throws: ``ConfigErrors`` listing every problem found.
    public static func load(
        from directory: URL, sinks: Set<String>, sinkTypes: [String: String] = [:], unmatched: UnmatchedPolicy = .drop,
        defaultDecoding: PayloadDecoding? = nil, decoder: YAMLConfigDecoder = YAMLConfigDecoder()
    ) throws(ConfigErrors) -> RouteSet {
        let files: [URL]
        do {
            files = try routeFiles(in: directory)
        } catch {
            throw ConfigErrors([ConfigError(
                location: nil, keyPath: "", message: "\(directory.path): cannot read the routes folder: \(error.localizedDescription)"
            )])
        }
        var sources: [(name: String, text: String)] = []
        var errors: [ConfigError] = []
        for file in files {
            do {
                sources.append((displayPath(file), try String(contentsOf: file, encoding: .utf8)))
            } catch {
                errors.append(ConfigError(location: nil, keyPath: "", message: "\(displayPath(file)): cannot read file: \(error.localizedDescription)"))
            }
        }
        let set: RouteSet
        do {
            set = try load(
                sources: sources, sinks: sinks, sinkTypes: sinkTypes, unmatched: unmatched,
                defaultDecoding: defaultDecoding, environment: decoder.environment
            )
        } catch {
            throw ConfigErrors(errors + error.errors)
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return set
    }

    /// Loads and validates route files given as text (name, contents), in the order given.
    public static func load(
        sources: [(name: String, text: String)], sinks: Set<String>, sinkTypes: [String: String] = [:],
        unmatched: UnmatchedPolicy = .drop, defaultDecoding: PayloadDecoding? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> RouteSet {
        var errors: [ConfigError] = []
        var routes: [Route] = []
        var digest = SHA256()
        for (name, text) in sources {
            // The file's own name, not the path it was read by: the same files give the same
            // version whatever the working directory.
            digest.update(data: Data("\((name as NSString).lastPathComponent)\u{0}\(text)\u{0}".utf8))
            var parser = RouteFileParser(file: name, environment: environment)
            if let parsed = parser.parse(text) {
                for var route in parsed.routes {
                    if route.decoding == nil { route.decoding = defaultDecoding }
                    // A template keeps its file's decoding, so that `fields` is in its scope when sent.
                    for index in route.to.indices where route.to[index].options.format == .template {
                        route.to[index].options.decoding = route.decoding
                    }
                    routes.append(route)
                }
            }
            errors += parser.errors
        }
        digest.update(data: Data("unmatched:\(unmatched)".utf8))
        errors += validate(routes, sinks: sinks, sinkTypes: sinkTypes, unmatched: unmatched)
        guard errors.isEmpty else {
            // In reading order: by file (in load order), line, column; errors without a place last.
            let order = Dictionary(sources.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
            func key(_ error: ConfigError) -> (Int, Int, Int) {
                guard let location = error.location else { return (Int.max, 0, 0) }
                return (order[location.file] ?? Int.max - 1, location.line, location.column)
            }
            let sorted = errors.enumerated().sorted { key($0.element) < key($1.element) || (key($0.element) == key($1.element) && $0.offset < $1.offset) }
            throw ConfigErrors(sorted.map(\.element))
        }
        let version = digest.finalize().prefix(6).map { String(format: "%02x", $0) }.joined()
        return RouteSet(routes: routes, unmatched: unmatched, version: version)
    }

    /// Checks what a single file cannot: names unique across files, sinks that exist, options
    /// that suit the sink's type, routes that can never be reached.
    static func validate(_ routes: [Route], sinks: Set<String>, sinkTypes: [String: String] = [:], unmatched: UnmatchedPolicy) -> [ConfigError] {
        var errors: [ConfigError] = []
        var seen: [String: Route] = [:]
        let known = sinks.sorted().joined(separator: ", ")
        /// The first route that matches everything and stops: nothing after it runs.
        var catchAll: Route?
        for route in routes {
            let name = route.name.value
            if let catchAll {
                errors.append(ConfigError(
                    location: route.name.location, keyPath: "name",
                    message: "route '\(name)' is unreachable: route '\(catchAll.name.value)'\(catchAll.name.location.map { " at \($0)" } ?? "") matches every event and has 'stop: true' (give it a match, remove its stop, or move it after the routes that must run)"
                ))
            }
            if name.isEmpty || name.hasPrefix("_") {
                errors.append(ConfigError(
                    location: route.name.location, keyPath: "name",
                    message: "route name '\(name)' is not allowed (names must be non-empty and not start with '_', which marks built-in routes such as _unmatched)"
                ))
            }
            if let first = seen[name] {
                let where_ = first.name.location.map { " (first defined at \($0))" } ?? ""
                errors.append(ConfigError(
                    location: route.name.location, keyPath: "name",
                    message: "duplicate route name '\(name)'\(where_); route names must be unique across all route files"
                ))
            } else {
                seen[name] = route
            }
            for destination in route.to {
                let sink = destination.sink.value
                guard sinks.contains(sink) else {
                    errors.append(ConfigError(
                        location: destination.sink.location, keyPath: "to.sink",
                        message: "route '\(name)' names unknown sink '\(sink)'\(RouteFileParser.suggestion(sink, Array(sinks))) (sinks defined in the main config: \(known.isEmpty ? "none" : known); sinks are added there, and need a restart)"
                    ))
                    continue
                }
                guard let type = sinkTypes[sink] else { continue }
                let allowed: Set<String> = switch type {
                case "kafka": ["topic", "key"]
                case "file": ["path"]
                default: []
                }
                for option in ["topic", "key", "path"] where !allowed.contains(option) {
                    guard let location = destination.optionLocations[option] else { continue }
                    let fits = option == "path" ? "file sinks" : "kafka sinks"
                    errors.append(ConfigError(
                        location: location, keyPath: "to.\(option)",
                        message: "'\(option)' applies to \(fits), but sink '\(sink)' is a \(type) sink\(allowed.isEmpty ? "" : " (it takes: \(allowed.sorted().joined(separator: ", ")))")"
                    ))
                }
            }
            if route.stop, route.match.matchesEverything, catchAll == nil { catchAll = route }
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

// MARK: - Explanation as text

extension RouteSet.Explanation {
    /// The explanation as `routes explain` prints it: each route in order, each condition's
    /// result and why, and the final destinations.
    public func text(for event: BridgeEvent) -> String {
        var lines: [String] = []
        let ids = event.data.deviceIds.map { "\($0.kind):\($0.id)" }.joined(separator: ", ")
        lines.append("event \(event.id)")
        lines.append("  account \(event.data.account), devices \(ids), channel \(event.data.channel.rawValue), type \(event.type)")
        lines.append("  text \"\(event.data.text)\"")
        lines.append("")
        for trace in routes {
            let route = trace.route
            let place = route.name.location.map { "\($0)" } ?? route.file
            let verdict: String
            switch trace.outcome {
            case .matched: verdict = "MATCH"
            case .notMatched: verdict = "no match"
            case .skipped(let stopper): verdict = "not evaluated (route '\(stopper)' matched and has stop: true)"
            }
            lines.append("route \(route.name.value)  [\(place)]  \(verdict)")
            if case .skipped = trace.outcome { continue }
            if route.match.matchesEverything { lines.append("  (no conditions: matches every event)") }
            for condition in trace.conditions { Self.append(condition, depth: 1, to: &lines) }
            if trace.outcome == .matched {
                for destination in route.to {
                    let options = destination.options.summary
                    lines.append("  → \(destination.sink.value)\(options.isEmpty ? "" : " (\(options))")")
                }
                if route.stop { lines.append("  stop: true — later routes are not evaluated") }
            }
        }
        lines.append("")
        if unmatched {
            lines.append("no route matched: routing.unmatched is \(policy)")
        }
        if deliveries.isEmpty {
            lines.append("destinations: none (kept in the journal, counted, delivered nowhere)")
        } else {
            lines.append("destinations:")
            for delivery in deliveries {
                let options = delivery.options.summary
                let sink = delivery.isDeadLetter ? "dead letters" : delivery.sink
                lines.append("  \(sink)  by route \(delivery.route)\(options.isEmpty ? "" : "  (\(options))")")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func append(_ trace: ConditionTrace, depth: Int, to lines: inout [String]) {
        let indent = String(repeating: "  ", count: depth)
        let mark = trace.holds ? "✓" : "✗"
        let place = trace.location.map { "  [\($0.line):\($0.column)]" } ?? ""
        lines.append("\(indent)\(mark) \(trace.summary) — \(trace.because)\(place)")
        for child in trace.children { append(child, depth: depth + 1, to: &lines) }
    }
}
