//===----------------------------------------------------------------------===//
// ThingBridge — match conditions: what they test, and why they held or not
//===----------------------------------------------------------------------===//

import Foundation
import ThingSpace

/// One condition of a route's `match`, with where it was written.
///
/// The keys of one `match` mapping all must hold (an implicit `all`); `all`, `any` and `not`
/// combine nested matches. Plain data: there is no expression language.
public struct Condition: Sendable {
    public indirect enum Test: Sendable {
        /// A glob on the account name.
        case account(Glob)
        /// Some device identifier of the given kind (any kind when nil) matches the glob.
        case device(kind: String?, id: Glob)
        case channel(Channel)
        /// A glob on the CloudEvents `type`.
        case type(Glob)
        case text(TextTest)
        /// A condition on a field decoded from the text (see ``PayloadDecoding``).
        case field(path: [String], FieldTest)
        case all([Condition])
        case any([Condition])
        case not(Condition)
    }

    public var test: Test
    public var location: SourceLocation?

    public init(_ test: Test, location: SourceLocation? = nil) {
        self.test = test
        self.location = location
    }
}

/// A condition on the SMS text.
public struct TextTest: Sendable {
    public enum Operation: Sendable {
        case equals(String)
        case prefix(String)
        case contains(String)
        /// Compiled at load time; a pattern that does not compile is a validation error.
        case regex(String, NSRegularExpressionBox)
    }
    public var operation: Operation
    public var ignoreCase: Bool

    public init(_ operation: Operation, ignoreCase: Bool = false) {
        self.operation = operation
        self.ignoreCase = ignoreCase
    }

    func holds(for text: String) -> Bool {
        let options: String.CompareOptions = ignoreCase ? [.caseInsensitive] : []
        switch operation {
        case .equals(let value):
            return ignoreCase ? text.compare(value, options: options) == .orderedSame : text == value
        case .prefix(let value):
            return ignoreCase ? text.range(of: value, options: options.union(.anchored)) != nil : text.hasPrefix(value)
        case .contains(let value):
            return ignoreCase ? text.range(of: value, options: options) != nil : text.contains(value)
        case .regex(_, let box):
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            return box.regex.firstMatch(in: text, options: [], range: range) != nil
        }
    }

    var summary: String {
        let suffix = ignoreCase ? " (ignoring case)" : ""
        switch operation {
        case .equals(let value): return "text equals \"\(value)\"\(suffix)"
        case .prefix(let value): return "text starts with \"\(value)\"\(suffix)"
        case .contains(let value): return "text contains \"\(value)\"\(suffix)"
        case .regex(let pattern, _): return "text matches /\(pattern)/\(ignoreCase ? "i" : "")"
        }
    }
}

/// A compiled regular expression. `NSRegularExpression` is immutable and safe to share across
/// threads (Foundation documents it as thread-safe), but is not marked `Sendable` everywhere.
public struct NSRegularExpressionBox: @unchecked Sendable {
    public let regex: NSRegularExpression
    public init(_ regex: NSRegularExpression) { self.regex = regex }
}

/// A condition on a decoded field.
public enum FieldTest: Sendable {
    /// Equal: numbers compare as numbers (`51` equals `"51.0"` from key=value text), others as text.
    case equals(FieldValue)
    case notEquals(FieldValue)
    case greaterThan(Double)
    case greaterOrEqual(Double)
    case lessThan(Double)
    case lessOrEqual(Double)
    /// Equal to one of the values.
    case oneOf([FieldValue])
    /// The field is present (`true`) or absent (`false`). Undecodable text: every field is absent.
    case exists(Bool)

    /// Whether the test holds for the field's value (nil: absent, or the text did not decode).
    func holds(for value: FieldValue?) -> Bool {
        switch self {
        case .exists(let expected): return (value != nil) == expected
        case .equals(let expected): return value.map { Self.same($0, expected) } ?? false
        case .notEquals(let expected): return value.map { !Self.same($0, expected) } ?? false
        case .oneOf(let options): return value.map { actual in options.contains { Self.same(actual, $0) } } ?? false
        case .greaterThan(let bound): return value?.numeric.map { $0 > bound } ?? false
        case .greaterOrEqual(let bound): return value?.numeric.map { $0 >= bound } ?? false
        case .lessThan(let bound): return value?.numeric.map { $0 < bound } ?? false
        case .lessOrEqual(let bound): return value?.numeric.map { $0 <= bound } ?? false
        }
    }

    static func same(_ actual: FieldValue, _ expected: FieldValue) -> Bool {
        switch expected {
        case .number:
            guard let left = actual.numeric, let right = expected.numeric else { return false }
            return left == right
        case .string(let text):
            switch actual {
            case .string(let other): return other == text
            case .number(let literal): return literal == text
            case .bool(let value): return "\(value)" == text
            default: return false
            }
        case .bool(let flag):
            switch actual {
            case .bool(let value): return value == flag
            case .string(let text): return text.lowercased() == "\(flag)"
            default: return false
            }
        default:
            return actual == expected
        }
    }

    func summary(_ name: String) -> String {
        switch self {
        case .equals(let value): "\(name) == \(value.brief)"
        case .notEquals(let value): "\(name) != \(value.brief)"
        case .greaterThan(let bound): "\(name) > \(Self.number(bound))"
        case .greaterOrEqual(let bound): "\(name) >= \(Self.number(bound))"
        case .lessThan(let bound): "\(name) < \(Self.number(bound))"
        case .lessOrEqual(let bound): "\(name) <= \(Self.number(bound))"
        case .oneOf(let values): "\(name) in [\(values.map(\.brief).joined(separator: ", "))]"
        case .exists(let flag): flag ? "\(name) exists" : "\(name) does not exist"
        }
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

// MARK: - Evaluation

/// What conditions are evaluated against: the event and, once asked for, its decoded fields.
public struct MatchInput: Sendable {
    public let event: BridgeEvent
    /// Decoded fields per decoding, computed once per event and decoding.
    private var decoded: [PayloadDecoding: FieldValue?] = [:]

    public init(event: BridgeEvent) { self.event = event }

    mutating func fields(_ decoding: PayloadDecoding?) -> FieldValue? {
        guard let decoding else { return nil }
        if let cached = decoded[decoding] { return cached }
        let value = decoding.decode(event.data.text)
        decoded[decoding] = .some(value)
        return value
    }
}

/// Why a condition held or did not, for `routes explain`.
public struct ConditionTrace: Sendable {
    public var summary: String
    public var holds: Bool
    /// What was found (the actual value), e.g. `account is "0000123456-00001"`.
    public var because: String
    public var location: SourceLocation?
    public var children: [ConditionTrace]
}

extension Condition {
    /// Whether the condition holds for an event.
    /// - Parameter decoding: How the route's file decodes text into fields (nil: no decoding).
    func holds(_ input: inout MatchInput, decoding: PayloadDecoding?) -> Bool {
        let event = input.event
        switch test {
        case .account(let glob): return glob.matches(event.data.account)
        case .device(let kind, let glob): return Self.deviceHolds(kind: kind, glob: glob, event: event)
        case .channel(let channel): return event.data.channel == channel
        case .type(let glob): return glob.matches(event.type)
        case .text(let textTest): return textTest.holds(for: event.data.text)
        case .field(let path, let fieldTest):
            return fieldTest.holds(for: input.fields(decoding)?.lookup(path))
        case .all(let conditions):
            for condition in conditions where !condition.holds(&input, decoding: decoding) { return false }
            return true
        case .any(let conditions):
            for condition in conditions where condition.holds(&input, decoding: decoding) { return true }
            return false
        case .not(let condition): return !condition.holds(&input, decoding: decoding)
        }
    }

    static func deviceHolds(kind: String?, glob: Glob, event: BridgeEvent) -> Bool {
        event.data.deviceIds.contains { (kind == nil || $0.kind == kind) && glob.matches($0.id) }
    }

    /// The same decision as ``holds(_:decoding:)``, with the reasons.
    func trace(_ input: inout MatchInput, decoding: PayloadDecoding?) -> ConditionTrace {
        let event = input.event
        func leaf(_ summary: String, _ holds: Bool, _ because: String) -> ConditionTrace {
            ConditionTrace(summary: summary, holds: holds, because: because, location: location, children: [])
        }
        switch test {
        case .account(let glob):
            return leaf("account matches \"\(glob)\"", glob.matches(event.data.account), "account is \"\(event.data.account)\"")
        case .device(let kind, let glob):
            let ids = event.data.deviceIds.map { "\($0.kind):\($0.id)" }.joined(separator: ", ")
            return leaf(
                "device \(kind.map { "of kind \($0) " } ?? "(any kind) ")matches \"\(glob)\"",
                Self.deviceHolds(kind: kind, glob: glob, event: event), "device ids are \(ids.isEmpty ? "none" : ids)"
            )
        case .channel(let channel):
            return leaf("channel is \(channel.rawValue)", event.data.channel == channel, "channel is \(event.data.channel.rawValue)")
        case .type(let glob):
            return leaf("type matches \"\(glob)\"", glob.matches(event.type), "type is \"\(event.type)\"")
        case .text(let textTest):
            let text = event.data.text
            let shown = text.count > 60 ? "\(text.prefix(60))…" : text
            return leaf(textTest.summary, textTest.holds(for: text), "text is \"\(shown)\"")
        case .field(let path, let fieldTest):
            let name = "fields." + path.joined(separator: ".")
            let fields = input.fields(decoding)
            let value = fields?.lookup(path)
            let because: String
            if decoding == nil {
                because = "no decoding is declared (add 'decode:' to the route file), so there are no fields"
            } else if fields == nil {
                because = "the text does not decode as \(decoding!), so there are no fields"
            } else if let value {
                because = "\(name) is \(value.brief)"
            } else {
                because = "\(name) is absent"
            }
            return leaf(fieldTest.summary(name), fieldTest.holds(for: value), because)
        case .all(let conditions):
            let children = conditions.map { $0.trace(&input, decoding: decoding) }
            let failed = children.filter { !$0.holds }.count
            return ConditionTrace(
                summary: "all of \(children.count)", holds: failed == 0,
                because: failed == 0 ? "every condition holds" : "\(failed) of \(children.count) do not hold",
                location: location, children: children
            )
        case .any(let conditions):
            let children = conditions.map { $0.trace(&input, decoding: decoding) }
            let held = children.filter(\.holds).count
            return ConditionTrace(
                summary: "any of \(children.count)", holds: held > 0,
                because: held > 0 ? "\(held) of \(children.count) hold" : "none holds",
                location: location, children: children
            )
        case .not(let condition):
            let child = condition.trace(&input, decoding: decoding)
            return ConditionTrace(
                summary: "not", holds: !child.holds, because: child.holds ? "the condition holds" : "the condition does not hold",
                location: location, children: [child]
            )
        }
    }
}
