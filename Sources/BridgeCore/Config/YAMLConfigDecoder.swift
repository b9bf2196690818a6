//===----------------------------------------------------------------------===//
// ThingBridge — strict YAML decoding for the main config and route files
//===----------------------------------------------------------------------===//

import Foundation
import Yams

/// Where something was written: file, line and column (both 1-based).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A configuration mistake, located in its file.
///
/// Printed as `file:line:column: message`, the form editors and CI logs link to.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var location: SourceLocation?
    /// The dotted path of the key, e.g. `sinks.archive.path` (empty for the document).
    public var keyPath: String
    public var message: String

    public init(location: SourceLocation?, keyPath: String, message: String) {
        self.location = location
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        return "\(place)\(message)"
    }
}

/// Several configuration mistakes at once, so that a checker can print them all.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A value together with where it was written, for validation messages after decoding.
public struct Located<Value: Decodable & Sendable>: Decodable, Sendable {
    public var value: Value
    public var location: SourceLocation?

    public init(_ value: Value, location: SourceLocation? = nil) {
        self.value = value
        self.location = location
    }

    public init(from decoder: any Decoder) throws {
        self.value = try Value(from: decoder)
        self.location = (decoder as? YAMLNodeDecoder)?.location
    }
}

extension Located: Equatable where Value: Equatable {
    public static func == (lhs: Located, rhs: Located) -> Bool { lhs.value == rhs.value }
}

/// Decodes `Decodable` types from YAML, strictly.
///
/// Unlike a plain `Decoder`, it rejects keys that the type did not ask for (a typo in a
/// config must not be ignored), reports every error with file, line and column, and
/// expands `${VAR}`, `${VAR:-default}` and `${file:/path}` in scalars so that secrets stay
/// out of the file. A key counts as known when the type's `init(from:)` looked at it.
public struct YAMLConfigDecoder: Sendable {
    /// The variables `${VAR}` expands from.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Decodes a value from YAML text.
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - text: The YAML document.
    ///   - file: The file name used in error messages.
    /// - Throws: ``ConfigError`` for syntax errors, type errors, missing and unknown keys.
    public func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws(ConfigError) -> T {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(
                    location: SourceLocation(file: file, line: 1, column: 1), keyPath: "",
                    message: "the file is empty"
                )
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw Self.configError(from: error, file: file)
        } catch {
            throw ConfigError(location: nil, keyPath: "", message: "\(file): \(error)")
        }
        let state = DecodingState(file: file, environment: environment)
        let decoder = YAMLNodeDecoder(node: root, codingPath: [], state: state)
        let value: T
        do {
            value = try T(from: decoder)
        } catch {
            // A misspelt key usually shows up first as a missing or wrong value; name the typo.
            if let unknown = state.firstUnknownKey(declaredOnly: true) { throw unknown }
            switch error {
            case let error as ConfigError: throw error
            case let error as DecodingError: throw state.configError(from: error, root: root)
            default: throw ConfigError(location: decoder.location, keyPath: "", message: "\(error)")
            }
        }
        if let unknown = state.firstUnknownKey() { throw unknown }
        return value
    }

    /// Decodes a file from disk; the error messages name `displayName` (default: the path).
    public func decode<T: Decodable>(_ type: T.Type, contentsOf url: URL, displayName: String? = nil) throws(ConfigError) -> T {
        let name = displayName ?? url.path
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError(location: nil, keyPath: "", message: "\(name): cannot read file: \(error.localizedDescription)")
        }
        return try decode(type, from: text, file: name)
    }

    static func configError(from error: YamlError, file: String) -> ConfigError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return ConfigError(
                location: SourceLocation(file: file, line: mark.line, column: mark.column), keyPath: "",
                message: "YAML syntax error: \(prefix)\(problem)"
            )
        default:
            return ConfigError(location: SourceLocation(file: file, line: 1, column: 1), keyPath: "", message: "YAML error: \(error)")
        }
    }
}

// MARK: - Decoder state

/// Bookkeeping shared by every decoder of one document: which keys each mapping was asked for.
final class DecodingState {
    let file: String
    let environment: [String: String]
    /// Per mapping (by its key path): the mapping and the keys the decoded type looked at.
    private var mappings: [String: MappingRecord] = [:]

    struct MappingRecord {
        var mapping: Node.Mapping
        var asked: Set<String>
        /// Every key the decoding types declare (their `CodingKeys` are `CaseIterable`), or nil
        /// when a type's keys cannot be listed. Used to name typos even when decoding failed
        /// before every key was asked for.
        var declared: Set<String>?
    }
    private var order: [String] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func location(of node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    func register(_ mapping: Node.Mapping, at path: [any CodingKey], declaredKeys: Set<String>?) {
        let key = path.dottedPath
        if var record = mappings[key] {
            if let declared = record.declared, let declaredKeys {
                record.declared = declared.union(declaredKeys)
            } else {
                record.declared = nil
            }
            mappings[key] = record
        } else {
            mappings[key] = MappingRecord(mapping: mapping, asked: [], declared: declaredKeys)
            order.append(key)
        }
    }

    func asked(_ key: String, in path: [any CodingKey]) {
        mappings[path.dottedPath]?.asked.insert(key)
    }

    /// The first key (in document order) that no decoded type asked for.
    /// - Parameter declaredOnly: Only judge mappings whose types declare all their keys (used
    ///   after a failed decode, when not every key has been asked for yet).
    func firstUnknownKey(declaredOnly: Bool = false) -> ConfigError? {
        var found: [(SourceLocation?, ConfigError)] = []
        for pathKey in order {
            guard let entry = mappings[pathKey] else { continue }
            if declaredOnly, entry.declared == nil { continue }
            let knownKeys = entry.asked.union(entry.declared ?? [])
            for (keyNode, _) in entry.mapping {
                let name = keyNode.scalar?.string ?? "?"
                guard !knownKeys.contains(name) else { continue }
                let known = knownKeys.sorted().joined(separator: ", ")
                let owner = pathKey.isEmpty ? "the top level" : "'\(pathKey)'"
                let hint = known.isEmpty ? "" : " (known keys here: \(known))"
                let location = location(of: keyNode)
                found.append((location, ConfigError(
                    location: location, keyPath: pathKey.isEmpty ? name : "\(pathKey).\(name)",
                    message: "unknown key '\(name)' in \(owner)\(hint)"
                )))
            }
        }
        return found.min { ($0.0?.line ?? 0, $0.0?.column ?? 0) < ($1.0?.line ?? 0, $1.0?.column ?? 0) }?.1
    }

    /// Maps a `DecodingError` thrown by a type's own `init(from:)` to the node it was about.
    func configError(from error: DecodingError, root: Node) -> ConfigError {
        let (path, message): ([any CodingKey], String)
        switch error {
        case let .dataCorrupted(context):
            (path, message) = (context.codingPath, context.debugDescription)
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            (path, message) = (context.codingPath, context.debugDescription)
        case let .keyNotFound(key, context):
            (path, message) = (context.codingPath, "missing required key '\(key.stringValue)'")
        @unknown default:
            (path, message) = ([], "\(error)")
        }
        var node = root
        for key in path {
            if let index = key.intValue, let sequence = node.sequence, index < sequence.count {
                node = sequence[index]
            } else if let mapping = node.mapping, let child = mapping[key.stringValue] {
                node = child
            } else {
                break
            }
        }
        let where_ = path.isEmpty ? "" : "'\(path.dottedPath)': "
        return ConfigError(location: location(of: node), keyPath: path.dottedPath, message: "\(where_)\(message)")
    }

    /// Expands `${VAR}`, `${VAR:-default}` and `${file:/path}` in a scalar.
    func expand(_ text: String, node: Node, path: [any CodingKey]) throws -> String {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[rest.startIndex..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw ConfigError(
                    location: location(of: node), keyPath: path.dottedPath,
                    message: "unterminated '${' in the value of '\(path.dottedPath)'"
                )
            }
            let expression = String(rest[start.upperBound..<end])
            result += try resolve(expression, node: node, path: path)
            rest = rest[rest.index(after: end)...]
        }
        result += rest
        return result
    }

    private func resolve(_ expression: String, node: Node, path: [any CodingKey]) throws -> String {
        if expression.hasPrefix("file:") {
            let filePath = String(expression.dropFirst("file:".count))
            guard let contents = try? String(contentsOfFile: filePath, encoding: .utf8) else {
                throw ConfigError(
                    location: location(of: node), keyPath: path.dottedPath,
                    message: "'\(path.dottedPath)' refers to file '\(filePath)', which cannot be read"
                )
            }
            return contents.hasSuffix("\n") ? String(contents.dropLast()) : contents
        }
        let name: String
        let fallback: String?
        if let range = expression.range(of: ":-") {
            name = String(expression[..<range.lowerBound])
            fallback = String(expression[range.upperBound...])
        } else {
            name = expression
            fallback = nil
        }
        if let value = environment[name], !value.isEmpty { return value }
        if let fallback { return fallback }
        throw ConfigError(
            location: location(of: node), keyPath: path.dottedPath,
            message: "environment variable '\(name)' is not set (used by '\(path.dottedPath)')"
        )
    }
}

extension Array where Element == any CodingKey {
    var dottedPath: String {
        var out = ""
        for key in self {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out
    }
}

struct IndexKey: CodingKey {
    var stringValue: String { "\(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

// MARK: - Decoder

/// A `Decoder` over one YAML node.
struct YAMLNodeDecoder: Decoder {
    let node: Node
    let codingPath: [any CodingKey]
    let state: DecodingState
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey], state: DecodingState) {
        self.node = node
        self.codingPath = codingPath
        self.state = state
    }

    var location: SourceLocation? { state.location(of: node) }

    func error(_ message: String, at node: Node? = nil) -> ConfigError {
        ConfigError(location: state.location(of: node ?? self.node), keyPath: codingPath.dottedPath, message: message)
    }

    var describedPath: String { codingPath.isEmpty ? "the document" : "'\(codingPath.dottedPath)'" }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let mapping = node.mapping else {
            throw error("expected a mapping (key: value pairs) for \(describedPath), found \(node.kindName)")
        }
        state.register(mapping, at: codingPath, declaredKeys: Self.declaredKeys(of: type))
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, mapping: mapping))
    }

    /// The names of all keys of a `CaseIterable` `CodingKey` type, or nil.
    static func declaredKeys<Key: CodingKey>(of type: Key.Type) -> Set<String>? {
        guard let iterable = type as? any CaseIterable.Type else { return nil }
        return Set(allCases(of: iterable).compactMap { ($0 as? any CodingKey)?.stringValue })
    }

    private static func allCases<T: CaseIterable>(of type: T.Type) -> [Any] { type.allCases.map { $0 } }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard let sequence = node.sequence else {
            throw error("expected a list for \(describedPath), found \(node.kindName)")
        }
        return UnkeyedContainer(decoder: self, items: Array(sequence))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    func child(_ node: Node, key: any CodingKey) -> YAMLNodeDecoder {
        YAMLNodeDecoder(node: node, codingPath: codingPath + [key], state: state)
    }

    /// Whether this node is YAML null (`~`, `null`, or nothing).
    var isNull: Bool {
        guard let scalar = node.scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func scalarString(expecting what: String) throws -> String {
        guard let scalar = node.scalar else {
            throw error("expected \(what) for \(describedPath), found \(node.kindName)")
        }
        return try state.expand(scalar.string, node: node, path: codingPath)
    }

    func decodeScalar<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is String.Type:
            return try scalarString(expecting: "a string") as! T
        case is Bool.Type:
            let text = try scalarString(expecting: "true or false")
            switch text.lowercased() {
            case "true", "yes", "on": return true as! T
            case "false", "no", "off": return false as! T
            default: throw error("expected true or false for \(describedPath), found '\(text)'")
            }
        case is Double.Type:
            let text = try scalarString(expecting: "a number")
            guard let value = Double(text.replacingOccurrences(of: "_", with: "")) else {
                throw error("expected a number for \(describedPath), found '\(text)'")
            }
            return value as! T
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type, is UInt32.Type, is UInt16.Type:
            let text = try scalarString(expecting: "a whole number")
            let cleaned = text.replacingOccurrences(of: "_", with: "")
            let value: T?
            switch type {
            case is Int.Type: value = Int(cleaned) as? T
            case is Int64.Type: value = Int64(cleaned) as? T
            case is Int32.Type: value = Int32(cleaned) as? T
            case is UInt.Type: value = UInt(cleaned) as? T
            case is UInt64.Type: value = UInt64(cleaned) as? T
            case is UInt32.Type: value = UInt32(cleaned) as? T
            default: value = UInt16(cleaned) as? T
            }
            guard let value else {
                throw error("expected a whole number for \(describedPath), found '\(text)'")
            }
            return value
        default:
            return try T(from: self)
        }
    }
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar(let scalar): return "the value '\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: YAMLNodeDecoder
    let mapping: Node.Mapping

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        mapping.keys.compactMap { $0.scalar.flatMap { Key(stringValue: $0.string) } }
    }

    func contains(_ key: Key) -> Bool {
        decoder.state.asked(key.stringValue, in: codingPath)
        return mapping[key.stringValue] != nil
    }

    private func childDecoder(_ key: Key) throws -> YAMLNodeDecoder {
        decoder.state.asked(key.stringValue, in: codingPath)
        guard let node = mapping[key.stringValue] else {
            let path = (codingPath + [key]).dottedPath
            throw ConfigError(
                location: decoder.location, keyPath: path,
                message: "missing required key '\(key.stringValue)' in \(decoder.describedPath)"
            )
        }
        return decoder.child(node, key: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.state.asked(key.stringValue, in: codingPath)
        guard let node = mapping[key.stringValue] else { return true }
        return decoder.child(node, key: key).isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let child = try childDecoder(key)
        if child.isNull, type != String.self {
            throw child.error("'\(child.codingPath.dottedPath)' needs a value")
        }
        return try child.decodeScalar(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try childDecoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try childDecoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> any Decoder { try childDecoder(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: YAMLNodeDecoder
    let items: [Node]
    var currentIndex = 0

    init(decoder: YAMLNodeDecoder, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> YAMLNodeDecoder {
        guard !isAtEnd else {
            throw decoder.error("the list \(decoder.describedPath) has fewer items than expected")
        }
        defer { currentIndex += 1 }
        return decoder.child(items[currentIndex], key: IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return true }
        if decoder.child(items[currentIndex], key: IndexKey(currentIndex)).isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeScalar(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: YAMLNodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeScalar(type) }
}
