//===----------------------------------------------------------------------===//
// ThingBridge — reading route files: every error, with its line, column and a hint
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace
import Mustache
import Yams

/// Reads one route file from its YAML nodes.
///
/// Unlike a `Decodable` pass, it does not stop at the first mistake: it keeps reading and
/// collects every error (unknown keys, wrong types, bad regexes and templates), each with the
/// file, line and column of the node at fault and what would be right.
public struct RouteFileParser {
    public let file: String
    private let state: DecodingState
    public private(set) var errors: [ConfigError] = []

    public init(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.file = file
        self.state = DecodingState(file: file, environment: environment)
    }

    static let fileKeys = ["decode", "routes"]
    static let routeKeys = ["name", "description", "match", "to", "stop"]
    static let matchKeys = ["account", "device", "channel", "type", "text", "fields", "all", "any", "not"]
    static let deviceKeys = ["kind", "id"]
    static let textKeys = ["equals", "prefix", "contains", "regex", "ignoreCase"]
    static let fieldKeys = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"]
    static let destinationKeys = ["sink", "format", "template", "contentType", "topic", "key", "path"]
    static let decodeKeys = ["format", "separator", "pairSeparators", "columns", "delimiter"]
    /// The placeholders each pattern option understands (as the sinks render them).
    static let placeholders: [String: Set<String>] = [
        "topic": ["account", "sink", "route"],
        "key": ["device", "account", "sink", "route", "id"],
        "path": ["account", "date", "sink", "route"],
    ]

    /// Parses a file's text; nil when nothing usable could be read (the errors say why).
    public mutating func parse(_ text: String) -> RouteFile? {
        guard let root = compose(text, whenEmpty: "the file is empty; a route file holds 'routes:' with a list of routes") else { return nil }
        guard let mapping = mapping(root, "the route file", expected: "'routes:' with a list of routes") else { return nil }
        checkKeys(mapping, allowed: Self.fileKeys, owner: "the top level")
        let decoding = mapping["decode"].flatMap { parseDecoding($0) }
        guard let routesNode = mapping["routes"] else {
            fail(location(root), "missing key 'routes' (a route file holds 'routes:' with a list of routes)")
            return nil
        }
        guard let list = sequence(routesNode, "'routes'", expected: "a list of routes (each starting with '- name:')") else { return nil }
        var routes: [Route] = []
        for node in list {
            if var route = parseRoute(node) {
                route.decoding = decoding
                route.file = file
                routes.append(route)
            }
        }
        return RouteFile(decoding: decoding, routes: routes)
    }

    // MARK: - Routes

    mutating func parseRoute(_ node: Node) -> Route? {
        guard let mapping = mapping(node, "a route", expected: "a mapping with 'name', 'match', 'to'") else { return nil }
        checkKeys(mapping, allowed: Self.routeKeys, owner: "a route")
        var name: Located<String>?
        if let nameNode = mapping["name"] {
            if let text = string(nameNode, "'name'") { name = Located(text, location: location(nameNode)) }
        } else {
            fail(location(node), "a route needs a 'name' (unique across all route files)")
        }
        let match: RouteMatch
        if let matchNode = mapping["match"] {
            match = RouteMatch(parseMatch(matchNode, owner: "'match'"))
        } else {
            match = RouteMatch()
        }
        var destinations: [Destination] = []
        if let toNode = mapping["to"] {
            if let list = toNode.sequence {
                if list.isEmpty { fail(location(toNode), "'to' is empty; name at least one sink (e.g. 'to: [archive]')") }
                for item in list { if let destination = parseDestination(item) { destinations.append(destination) } }
            } else if toNode.scalar != nil || toNode.mapping != nil {
                // A single destination without the list brackets.
                if let destination = parseDestination(toNode) { destinations.append(destination) }
            }
        } else {
            fail(location(node), "a route needs 'to' with at least one sink (e.g. 'to: [archive]')")
        }
        var stop = false
        var stopLocation: SourceLocation?
        if let stopNode = mapping["stop"] {
            stop = bool(stopNode, "'stop'") ?? false
            stopLocation = location(stopNode)
        }
        if mapping["description"] != nil { _ = mapping["description"].flatMap { string($0, "'description'") } }
        guard let name else { return nil }
        var route = Route(name: name.value, match: match, to: destinations, stop: stop)
        route.name = name
        route.stopLocation = stopLocation
        return route
    }

    // MARK: - Conditions

    /// A `match` mapping: each key is one condition; all must hold.
    mutating func parseMatch(_ node: Node, owner: String) -> [Condition] {
        if isNull(node) { return [] }
        guard let mapping = mapping(node, owner, expected: "a mapping of conditions (account, device, channel, type, text, fields, all, any, not)") else { return [] }
        checkKeys(mapping, allowed: Self.matchKeys, owner: owner)
        var conditions: [Condition] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else { continue }
            let at = location(keyNode)
            switch key {
            case "account":
                conditions += globs(value, "'account'").map { Condition(.account($0), location: at) }.anyOf(at)
            case "device":
                conditions += parseDevice(value, at: at)
            case "channel":
                var channels: [Condition] = []
                for text in stringList(value, "'channel'") {
                    guard let channel = Channel(rawValue: text) else {
                        fail(location(value), "unknown channel '\(text)' (expected \(Channel.allCases.map(\.rawValue).joined(separator: " or ")))\(Self.suggestion(text, Channel.allCases.map(\.rawValue)))")
                        continue
                    }
                    channels.append(Condition(.channel(channel), location: at))
                }
                conditions += channels.anyOf(at)
            case "type":
                conditions += globs(value, "'type'").map { Condition(.type($0), location: at) }.anyOf(at)
            case "text":
                if let textTest = parseText(value) { conditions.append(Condition(.text(textTest), location: at)) }
            case "fields":
                conditions += parseFields(value)
            case "all", "any":
                guard let list = sequence(value, "'\(key)'", expected: "a list of matches (each a mapping of conditions)") else { continue }
                // An item with one condition is that condition; with several, all of them.
                let nested = list.map { item in
                    let conditions = parseMatch(item, owner: "an item of '\(key)'")
                    return conditions.count == 1 ? conditions[0] : Condition(.all(conditions), location: location(item))
                }
                conditions.append(Condition(key == "all" ? .all(nested) : .any(nested), location: at))
            case "not":
                let negated = parseMatch(value, owner: "'not'")
                let inner = negated.count == 1 ? negated[0] : Condition(.all(negated), location: location(value))
                conditions.append(Condition(.not(inner), location: at))
            default:
                break  // reported by checkKeys
            }
        }
        return conditions
    }

    mutating func parseDevice(_ node: Node, at: SourceLocation?) -> [Condition] {
        if node.scalar != nil || node.sequence != nil {
            return globs(node, "'device'").map { Condition(.device(kind: nil, id: $0), location: at) }.anyOf(at)
        }
        guard let mapping = mapping(node, "'device'", expected: "a glob (\"70228*\") or { kind: mdn, id: \"70228*\" }") else { return [] }
        checkKeys(mapping, allowed: Self.deviceKeys, owner: "'device'")
        var kind: String?
        if let kindNode = mapping["kind"], let text = string(kindNode, "'device.kind'") {
            let lowered = text.lowercased()
            kind = lowered == "any" || lowered == "*" ? nil : lowered
        }
        guard let idNode = mapping["id"] else {
            fail(location(node), "'device' needs 'id' (a glob such as \"70228*\"; \"*\" for any id)")
            return []
        }
        return globs(idNode, "'device.id'").map { Condition(.device(kind: kind, id: $0), location: at) }.anyOf(at)
    }

    mutating func parseText(_ node: Node) -> TextTest? {
        if node.scalar != nil {
            return string(node, "'text'").map { TextTest(.equals($0)) }
        }
        guard let mapping = mapping(node, "'text'", expected: "a string, or one of equals/prefix/contains/regex with optional ignoreCase") else { return nil }
        checkKeys(mapping, allowed: Self.textKeys, owner: "'text'")
        let ignoreCase = mapping["ignoreCase"].flatMap { bool($0, "'text.ignoreCase'") } ?? false
        let operations = ["equals", "prefix", "contains", "regex"].filter { mapping[$0] != nil }
        guard operations.count == 1, let operation = operations.first, let valueNode = mapping[operation] else {
            fail(location(node), operations.isEmpty
                 ? "'text' needs one of equals, prefix, contains or regex"
                 : "'text' takes one of equals, prefix, contains or regex, found \(operations.joined(separator: " and ")) (use 'any:' or 'all:' to combine)")
            return nil
        }
        guard let value = string(valueNode, "'text.\(operation)'") else { return nil }
        switch operation {
        case "equals": return TextTest(.equals(value), ignoreCase: ignoreCase)
        case "prefix": return TextTest(.prefix(value), ignoreCase: ignoreCase)
        case "contains": return TextTest(.contains(value), ignoreCase: ignoreCase)
        default:
            do {
                let regex = try NSRegularExpression(pattern: value, options: ignoreCase ? [.caseInsensitive] : [])
                return TextTest(.regex(value, NSRegularExpressionBox(regex)), ignoreCase: ignoreCase)
            } catch {
                fail(location(valueNode), "invalid regex '\(value)': \(Self.regexProblem(value)) (ICU syntax; in YAML prefer single quotes so that backslashes stay as written, e.g. regex: '^ALM\\d+')")
                return nil
            }
        }
    }

    /// Why a pattern does not compile, in words (ICU's error has no message on every platform).
    static func regexProblem(_ pattern: String) -> String {
        var depth = 0, square = false, escaped = false
        for character in pattern {
            if escaped { escaped = false; continue }
            switch character {
            case "\\": escaped = true
            case "[": square = true
            case "]": square = false
            case "(" where !square: depth += 1
            case ")" where !square: depth -= 1
            default: break
            }
        }
        if escaped { return "it ends with a lone backslash" }
        if square { return "a '[' is not closed" }
        if depth > 0 { return "a '(' is not closed" }
        if depth < 0 { return "a ')' has no matching '('" }
        if let first = pattern.first, "*+?{".contains(first) { return "'\(first)' has nothing to repeat" }
        return "the pattern does not compile"
    }

    /// `fields:` — each key a dotted path into the decoded text, each value a test.
    mutating func parseFields(_ node: Node) -> [Condition] {
        guard let mapping = mapping(node, "'fields'", expected: "a mapping of field paths to tests (e.g. temperature: { gt: 40 })") else { return [] }
        var conditions: [Condition] = []
        for (keyNode, value) in mapping {
            guard let name = keyNode.scalar?.string, !name.isEmpty else {
                fail(location(keyNode), "a field name must be a non-empty string (a dotted path such as gps.lat)")
                continue
            }
            let path = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if path.contains(where: \.isEmpty) {
                fail(location(keyNode), "field path '\(name)' has an empty part (write a dotted path such as gps.lat)")
                continue
            }
            let at = location(keyNode)
            if value.mapping == nil {
                // A scalar is equality, a list is `in`.
                if let list = value.sequence {
                    conditions.append(Condition(.field(path: path, .oneOf(list.compactMap { fieldValue($0, "'fields.\(name)'") })), location: at))
                } else if let expected = fieldValue(value, "'fields.\(name)'") {
                    conditions.append(Condition(.field(path: path, .equals(expected)), location: at))
                }
                continue
            }
            let tests = value.mapping!
            checkKeys(tests, allowed: Self.fieldKeys, owner: "'fields.\(name)'")
            for (opNode, operand) in tests {
                guard let op = opNode.scalar?.string else { continue }
                let what = "'fields.\(name).\(op)'"
                let test: FieldTest?
                switch op {
                case "eq": test = fieldValue(operand, what).map(FieldTest.equals)
                case "ne": test = fieldValue(operand, what).map(FieldTest.notEquals)
                case "gt": test = number(operand, what).map(FieldTest.greaterThan)
                case "gte": test = number(operand, what).map(FieldTest.greaterOrEqual)
                case "lt": test = number(operand, what).map(FieldTest.lessThan)
                case "lte": test = number(operand, what).map(FieldTest.lessOrEqual)
                case "in":
                    if let list = sequence(operand, what, expected: "a list of values (e.g. in: [alarm, fault])") {
                        test = .oneOf(list.compactMap { fieldValue($0, what) })
                    } else {
                        test = nil
                    }
                case "exists": test = bool(operand, what).map(FieldTest.exists)
                default: test = nil
                }
                if let test { conditions.append(Condition(.field(path: path, test), location: location(opNode))) }
            }
        }
        return conditions
    }

    // MARK: - Destinations

    mutating func parseDestination(_ node: Node) -> Destination? {
        if node.scalar != nil {
            guard let name = string(node, "a destination") else { return nil }
            return Destination(sink: Located(name, location: location(node)), options: .default, optionLocations: [:])
        }
        guard let mapping = mapping(node, "a destination", expected: "a sink name, or a mapping with 'sink' and options") else { return nil }
        checkKeys(mapping, allowed: Self.destinationKeys, owner: "a destination")
        guard let sinkNode = mapping["sink"], let sink = string(sinkNode, "'sink'") else {
            if mapping["sink"] == nil { fail(location(node), "a destination needs 'sink' (a sink defined in the main config)") }
            return nil
        }
        var options = DeliveryOptions()
        var locations: [String: SourceLocation] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string, key != "sink", Self.destinationKeys.contains(key) else { continue }
            locations[key] = location(value)
            switch key {
            case "format":
                guard let text = string(value, "'format'") else { continue }
                guard let format = PayloadFormat(rawValue: text) else {
                    fail(location(value), "unknown format '\(text)' (expected cloudevents, data or template)\(Self.suggestion(text, PayloadFormat.allCases.map(\.rawValue)))")
                    continue
                }
                options.format = format
            case "template":
                guard let text = rawString(value, "'template'") else { continue }
                do {
                    _ = try MustacheTemplate(string: text)
                    options.template = text
                } catch let error as MustacheTemplate.ParserError {
                    fail(location(value), "invalid Mustache template: \(Self.templateProblem(error.error)) at line \(error.context.lineNumber), column \(error.context.columnNumber) of the template (write {{name}}, {{#section}}…{{/section}}, {{{raw}}})")
                } catch {
                    fail(location(value), "invalid Mustache template: \(error)")
                }
            case "contentType": options.contentType = string(value, "'contentType'")
            case "topic", "key", "path":
                guard let text = string(value, "'\(key)'") else { continue }
                if let problem = Self.placeholderProblem(text, allowed: Self.placeholders[key]!) {
                    fail(location(value), "'\(key)': \(problem)")
                    continue
                }
                switch key {
                case "topic": options.topic = text
                case "key": options.key = text
                default: options.path = text
                }
            default: break
            }
        }
        if options.format == .template, options.template == nil, mapping["template"] == nil {
            fail(location(node), "format 'template' needs 'template' (a Mustache template, e.g. template: \"{{data.device.id}}: {{data.text}}\")")
        }
        if options.format != .template, mapping["template"] != nil {
            fail(locations["template"], "'template' is used only with 'format: template' (add format: template, or remove template)")
        }
        if options.format != .template, mapping["contentType"] != nil {
            fail(locations["contentType"], "'contentType' is used only with 'format: template' (cloudevents and data are JSON)")
        }
        return Destination(sink: Located(sink, location: location(sinkNode)), options: options, optionLocations: locations)
    }

    static func templateProblem(_ error: any Error) -> String {
        guard let error = error as? MustacheTemplate.Error else { return "\(error)" }
        switch error {
        case .sectionCloseNameIncorrect: return "a section is closed with the wrong name"
        case .unfinishedName: return "a tag is not closed"
        case .expectedSectionEnd: return "a section is not closed (missing {{/name}})"
        case .invalidSetDelimiter: return "invalid set-delimiter tag"
        default: return "\(error)"
        }
    }

    /// Checks `{name}` placeholders; nil when all are known.
    static func placeholderProblem(_ pattern: String, allowed: Set<String>) -> String? {
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "'{' is not closed" }
            let name = String(rest[rest.index(after: open)..<close])
            guard allowed.contains(name) else {
                return "unknown placeholder '{\(name)}' (known: \(allowed.sorted().map { "{\($0)}" }.joined(separator: ", ")))\(suggestion(name, Array(allowed)))"
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    // MARK: - Decoding

    mutating func parseDecoding(_ node: Node) -> PayloadDecoding? {
        let formats = ["json", "keyValue", "csv"]
        if node.scalar != nil {
            guard let text = string(node, "'decode'") else { return nil }
            switch text {
            case "json": return .json
            case "keyValue": return .keyValue()
            case "csv": fail(location(node), "'decode: csv' needs named columns: decode: { format: csv, columns: [kind, temperature] }"); return nil
            default:
                fail(location(node), "unknown decoding '\(text)' (expected json, keyValue or csv)\(Self.suggestion(text, formats))")
                return nil
            }
        }
        guard let mapping = mapping(node, "'decode'", expected: "json, keyValue, or a mapping with 'format'") else { return nil }
        checkKeys(mapping, allowed: Self.decodeKeys, owner: "'decode'")
        guard let formatNode = mapping["format"], let format = string(formatNode, "'decode.format'") else {
            if mapping["format"] == nil { fail(location(node), "'decode' needs 'format' (json, keyValue or csv)") }
            return nil
        }
        func only(_ keys: [String], for name: String) {
            for key in keys where mapping[key] != nil {
                fail(location(mapping[key]!), "'decode.\(key)' does not apply to format \(name)")
            }
        }
        switch format {
        case "json":
            only(["separator", "pairSeparators", "columns", "delimiter"], for: "json")
            return .json
        case "keyValue":
            only(["columns", "delimiter"], for: "keyValue")
            let separator = mapping["separator"].flatMap { string($0, "'decode.separator'") } ?? "="
            let pairs = mapping["pairSeparators"].flatMap { rawString($0, "'decode.pairSeparators'") } ?? " ,;\n"
            if separator.isEmpty { fail(location(mapping["separator"]!), "'decode.separator' must not be empty") }
            return .keyValue(separator: separator.isEmpty ? "=" : separator, pairSeparators: pairs)
        case "csv":
            only(["separator", "pairSeparators"], for: "csv")
            guard let columnsNode = mapping["columns"] else {
                fail(location(node), "'decode' with format csv needs 'columns' (the names of the values, in order)")
                return nil
            }
            let columns = stringList(columnsNode, "'decode.columns'")
            if columns.isEmpty { fail(location(columnsNode), "'decode.columns' needs at least one column name") }
            var delimiter: Character = ","
            if let delimiterNode = mapping["delimiter"], let text = rawString(delimiterNode, "'decode.delimiter'") {
                if text.count == 1 { delimiter = text.first! } else { fail(location(delimiterNode), "'decode.delimiter' must be one character, found '\(text)'") }
            }
            return .csv(columns: columns, delimiter: delimiter)
        default:
            fail(location(formatNode), "unknown decoding format '\(format)' (expected json, keyValue or csv)\(Self.suggestion(format, formats))")
            return nil
        }
    }

    // MARK: - Node helpers

    /// The YAML node tree of a file's text; nil (with the error recorded) when it is empty or
    /// not YAML. Shared by route files and their test files.
    mutating func compose(_ text: String, whenEmpty: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                fail(SourceLocation(file: file, line: 1, column: 1), whenEmpty)
                return nil
            }
            return node
        } catch let error as YamlError {
            errors.append(YAMLConfigDecoder.configError(from: error, file: file))
            return nil
        } catch {
            fail(nil, "\(file): \(error)")
            return nil
        }
    }

    mutating func fail(_ location: SourceLocation?, _ message: String) {
        errors.append(ConfigError(location: location, keyPath: "", message: location == nil ? "\(file): \(message)" : message))
    }

    func location(_ node: Node) -> SourceLocation? { state.location(of: node) }

    func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    mutating func mapping(_ node: Node, _ what: String, expected: String) -> Node.Mapping? {
        if let mapping = node.mapping { return mapping }
        fail(location(node), "expected \(expected) for \(what), found \(node.kindName)")
        return nil
    }

    mutating func sequence(_ node: Node, _ what: String, expected: String) -> Node.Sequence? {
        if let sequence = node.sequence { return sequence }
        fail(location(node), "expected \(expected) for \(what), found \(node.kindName)")
        return nil
    }

    /// A scalar as text, without `${VAR}` expansion (templates and separators are literal).
    mutating func rawString(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar else {
            fail(location(node), "expected a string for \(what), found \(node.kindName)")
            return nil
        }
        return scalar.string
    }

    /// A scalar as text, with `${VAR}` expanded.
    mutating func string(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar else {
            fail(location(node), "expected a string for \(what), found \(node.kindName)")
            return nil
        }
        do {
            return try state.expand(scalar.string, node: node, path: [])
        } catch let error as ConfigError {
            errors.append(error)
            return nil
        } catch {
            fail(location(node), "\(error)")
            return nil
        }
    }

    /// One string or a list of strings.
    mutating func stringList(_ node: Node, _ what: String) -> [String] {
        if let list = node.sequence {
            if list.isEmpty { fail(location(node), "\(what) is an empty list") }
            return list.compactMap { string($0, what) }
        }
        return string(node, what).map { [$0] } ?? []
    }

    mutating func globs(_ node: Node, _ what: String) -> [Glob] {
        stringList(node, what).map(Glob.init)
    }

    mutating func bool(_ node: Node, _ what: String) -> Bool? {
        guard let scalar = node.scalar else {
            fail(location(node), "expected true or false for \(what), found \(node.kindName)")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(location(node), "expected true or false for \(what), found '\(scalar.string)'")
            return nil
        }
    }

    mutating func number(_ node: Node, _ what: String) -> Double? {
        guard let scalar = node.scalar, let value = Double(scalar.string.replacingOccurrences(of: "_", with: "")) else {
            let found = node.scalar.map { "'\($0.string)'" } ?? node.kindName
            fail(location(node), "expected a number for \(what), found \(found) (write e.g. gt: 40; numeric comparisons need numbers)")
            return nil
        }
        return value
    }

    /// A value to compare a field with: plain numbers and booleans are typed, quoted text is text.
    mutating func fieldValue(_ node: Node, _ what: String) -> FieldValue? {
        guard let scalar = node.scalar else {
            fail(location(node), "expected a value (text, number, true/false or null) for \(what), found \(node.kindName)")
            return nil
        }
        guard scalar.style == .plain else { return string(node, what).map(FieldValue.string) }
        if isNull(node) { return .null }
        switch scalar.string {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        if Double(scalar.string) != nil { return .number(scalar.string) }
        return string(node, what).map(FieldValue.string)
    }

    /// Reports keys that are not among `allowed`, with the nearest known key as a hint.
    mutating func checkKeys(_ mapping: Node.Mapping, allowed: [String], owner: String) {
        for (keyNode, _) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            guard !allowed.contains(name) else { continue }
            fail(location(keyNode), "unknown key '\(name)' in \(owner)\(Self.suggestion(name, allowed)) (known keys here: \(allowed.joined(separator: ", ")))")
        }
    }

    /// ` (did you mean 'x'?)` for the nearest candidate within a small edit distance, else "".
    static func suggestion(_ word: String, _ candidates: [String]) -> String {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        let allowed = word.count <= 3 ? 1 : word.count <= 8 ? 2 : 3
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= allowed, best.1 > 0 || best.0 != word else { return "" }
        return " (did you mean '\(best.0)'?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension Array where Element == Condition {
    /// Several alternatives written as a list (`account: [a*, b*]`) hold when any holds.
    func anyOf(_ location: SourceLocation?) -> [Condition] {
        count <= 1 ? self : [Condition(.any(self), location: location)]
    }
}
