//===----------------------------------------------------------------------===//
// ThingBridge — decoding structured SMS text into fields that routes match on
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// How devices encode their SMS text, so that routes can match on `fields`.
///
/// Declared per route file (`decode:`); a file without one inherits the main config's
/// `routing.decode`. Text that does not decode is not an error: every field condition on it is
/// simply false (and `exists: false` holds).
public enum PayloadDecoding: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The text is a JSON object: `{"kind":"alarm","temperature":51}`. Nested members are reached
    /// with dotted paths (`fields.gps.lat`).
    case json
    /// `key=value` pairs: `kind=alarm temp=51;bat=3.7`. Pairs are separated by `pairSeparators`
    /// (any of the characters; default space, comma, semicolon and newline), key and value by
    /// `separator` (default `=`). Text with no pair at all does not decode.
    case keyValue(separator: String = "=", pairSeparators: String = " ,;\n")
    /// One CSV line with named columns: `alarm,51,3.7` with `columns: [kind, temperature, battery]`.
    /// A line with a different number of values does not decode.
    case csv(columns: [String], delimiter: Character = ",")

    /// The decoded fields as an object, or nil when the text does not decode.
    public func decode(_ text: String) -> FieldValue? {
        switch self {
        case .json:
            guard let value = try? JSONValue(parsing: Array(text.utf8)), value.object != nil else { return nil }
            return FieldValue(value)
        case .keyValue(let separator, let pairSeparators):
            var members: [String: FieldValue] = [:]
            let pairs = text.split(whereSeparator: { pairSeparators.contains($0) })
            for pair in pairs {
                guard let range = pair.range(of: separator), range.lowerBound != pair.startIndex else { return nil }
                let key = String(pair[..<range.lowerBound]).trimmingCharacters(in: .whitespaces)
                let value = String(pair[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                members[key] = .string(value)
            }
            guard !members.isEmpty else { return nil }
            return .object(members)
        case .csv(let columns, let delimiter):
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.contains("\n") else { return nil }
            let values = Self.splitCSV(line, delimiter: delimiter)
            guard values.count == columns.count else { return nil }
            var members: [String: FieldValue] = [:]
            for (column, value) in zip(columns, values) { members[column] = .string(value) }
            return .object(members)
        }
    }

    /// Splits one CSV line; double quotes protect delimiters, `""` is a quote inside quotes.
    static func splitCSV(_ line: String, delimiter: Character) -> [String] {
        var values: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.isEmpty {
                quoted = true
            } else if character == delimiter {
                values.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        values.append(current.trimmingCharacters(in: .whitespaces))
        return values
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case format, separator, pairSeparators, columns, delimiter }

    /// Stored with template deliveries (`{"format":"csv","columns":[…]}`), so that `fields` is
    /// in the template's scope when the delivery is sent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .json:
            try container.encode("json", forKey: .format)
        case .keyValue(let separator, let pairSeparators):
            try container.encode("keyValue", forKey: .format)
            try container.encode(separator, forKey: .separator)
            try container.encode(pairSeparators, forKey: .pairSeparators)
        case .csv(let columns, let delimiter):
            try container.encode("csv", forKey: .format)
            try container.encode(columns, forKey: .columns)
            try container.encode(String(delimiter), forKey: .delimiter)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .format) {
        case "json": self = .json
        case "keyValue":
            self = .keyValue(
                separator: try container.decodeIfPresent(String.self, forKey: .separator) ?? "=",
                pairSeparators: try container.decodeIfPresent(String.self, forKey: .pairSeparators) ?? " ,;\n"
            )
        case "csv":
            let delimiter = try container.decodeIfPresent(String.self, forKey: .delimiter) ?? ","
            self = .csv(columns: try container.decode([String].self, forKey: .columns), delimiter: delimiter.first ?? ",")
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .format, in: container, debugDescription: "unknown decoding '\(other)'")
        }
    }

    public var description: String {
        switch self {
        case .json: "json"
        case .keyValue: "keyValue"
        case .csv(let columns, _): "csv(\(columns.joined(separator: ",")))"
        }
    }
}

/// A decoded field: JSON's value kinds. Numbers keep their literal text.
public indirect enum FieldValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([FieldValue])
    case object([String: FieldValue])

    init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let literal): self = .number(literal)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(FieldValue.init))
        case .object(let object):
            var members: [String: FieldValue] = [:]
            for member in object.members { members[member.key] = FieldValue(member.value) }
            self = .object(members)
        }
    }

    /// The member at a dotted path (`gps.lat`, `readings.0`), or nil.
    public func lookup(_ path: [String]) -> FieldValue? {
        var current = self
        for component in path {
            switch current {
            case .object(let members):
                guard let next = members[component] else { return nil }
                current = next
            case .array(let items):
                guard let index = Int(component), items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }

    /// A number, when the value is one or is a string that reads as one (`"51"` from key=value text).
    public var numeric: Double? {
        switch self {
        case .number(let literal): Double(literal)
        case .string(let text): Double(text.trimmingCharacters(in: .whitespaces))
        default: nil
        }
    }

    /// The value as Foundation objects, for templates.
    var foundationObject: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .number(let literal): Double(literal).map { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) as Any : $0 as Any } ?? literal
        case .string(let text): text
        case .array(let items): items.map(\.foundationObject)
        case .object(let members): members.mapValues(\.foundationObject)
        }
    }

    /// A short rendering for explanations.
    public var brief: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let literal): literal
        case .string(let text): "\"\(text)\""
        case .array(let items): "a list of \(items.count)"
        case .object(let members): "an object of \(members.count)"
        }
    }
}
