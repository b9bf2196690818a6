//===----------------------------------------------------------------------===//
// ThingBridge — reading a JSON document member by member, without building a tree
//===----------------------------------------------------------------------===//

/// Reads one JSON document in order, value by value, with the same strictness as
/// ``JSONValue/init(parsing:maxDepth:)`` (it is the same parser).
///
/// For documents of a known shape read on a hot path (the journal reads every stored event
/// back for every delivery): the caller walks the members it expects and takes the values into
/// its own fields, so no `JSONValue` tree is allocated. Members it does not know are skipped
/// (still checked). Every method throws ``JSONParseError`` when the next value is not what it
/// asked for; a caller that needs a precise message for a document of the wrong shape reads it
/// again as a `JSONValue`.
///
/// ```swift
/// try JSONPullReader.read(bytes) { reader throws(JSONParseError) in
///     try reader.beginObject()
///     while let member = try reader.nextMember(Self.keys) { … }
/// }
/// ```
public struct JSONPullReader: ~Copyable {
    private var parser: JSONParser
    /// Whether a member or element has been read in each object or array entered (for commas).
    private var started: [Bool] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
    }

    /// Runs `body` over a reader of `bytes`, then checks that only whitespace follows the value read.
    public static func read<T>(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = 256, _ body: (inout JSONPullReader) throws(JSONParseError) -> T
    ) throws(JSONParseError) -> T {
        var reader = JSONPullReader(bytes: bytes.assumingMemoryBound(to: UInt8.self), maxDepth: maxDepth)
        let value = try body(&reader)
        reader.parser.skipWhitespace()
        guard reader.parser.index == reader.parser.bytes.count else { throw reader.parser.fail("unexpected data after the document") }
        return value
    }

    /// Expects `{`.
    public mutating func beginObject() throws(JSONParseError) {
        try open(UInt8(ascii: "{"), "expected an object")
    }

    /// The next member as the index of its name in `keys` (``JSONKeys/other`` for a name not
    /// among them), its `:` consumed (read its value next), or nil after the object's closing `}`.
    /// No `String` is made of a plain name: it is matched by its bytes.
    public mutating func nextMember(_ keys: JSONKeys) throws(JSONParseError) -> Int? {
        guard try nextItem(closing: UInt8(ascii: "}"), "expected ',' or '}'") else { return nil }
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") else { throw parser.fail("expected a member name") }
        let start = parser.index + 1
        var end = start
        // Plain ASCII up to the closing quote; anything else (an escape, a control character,
        // UTF-8 to validate) goes through the parser.
        while end < parser.bytes.count, parser.bytes[end] != UInt8(ascii: "\""), parser.bytes[end] != UInt8(ascii: "\\"),
              parser.bytes[end] >= 0x20, parser.bytes[end] < 0x80 {
            end += 1
        }
        let member: Int
        if end < parser.bytes.count, parser.bytes[end] == UInt8(ascii: "\"") {
            member = keys.index(of: UnsafeBufferPointer(rebasing: parser.bytes[start..<end]))
            parser.index = end + 1
        } else {
            // The parser decodes (or rejects) it, and the decoded name is matched.
            let name = try parser.parseString()
            member = Array(name.utf8).withUnsafeBufferPointer { keys.index(of: $0) }
        }
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: ":") else { throw parser.fail("expected ':'") }
        parser.index += 1
        parser.skipWhitespace()
        return member
    }

    /// Expects `[`.
    public mutating func beginArray() throws(JSONParseError) {
        try open(UInt8(ascii: "["), "expected an array")
    }

    /// Whether another element follows (read it next); false after the array's closing `]`.
    public mutating func nextElement() throws(JSONParseError) -> Bool {
        try nextItem(closing: UInt8(ascii: "]"), "expected ',' or ']'")
    }

    /// A string value.
    public mutating func string() throws(JSONParseError) -> String {
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") else { throw parser.fail("expected a string") }
        return try parser.parseString()
    }

    /// Consumes a `null` and returns true; false (nothing consumed) for any other value.
    public mutating func null() throws(JSONParseError) -> Bool {
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "n") else { return false }
        try parser.literal("null")
        return true
    }

    /// A number value, exactly as written.
    public mutating func number() throws(JSONParseError) -> String {
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count else { throw parser.fail("unexpected end of data") }
        switch parser.bytes[parser.index] {
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parser.parseNumber()
        default: throw parser.fail("expected a number")
        }
    }

    /// Reads past the next value, whatever it is (checked like any other).
    public mutating func skipValue() throws(JSONParseError) {
        parser.skipWhitespace()
        _ = try parser.parseValue()
    }

    private mutating func open(_ byte: UInt8, _ expected: String) throws(JSONParseError) {
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == byte else { throw parser.fail(expected) }
        try parser.enter()
        parser.index += 1
        started.append(false)
    }

    /// Moves to the next member or element of the innermost open object or array; false (and
    /// the container closed) at its end.
    private mutating func nextItem(closing: UInt8, _ expected: String) throws(JSONParseError) -> Bool {
        guard let first = started.last.map({ !$0 }) else { throw parser.fail("not inside an object or array") }
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count else { throw parser.fail("unexpected end of data") }
        let byte = parser.bytes[parser.index]
        if byte == closing {
            parser.index += 1
            parser.depth -= 1
            started.removeLast()
            return false
        }
        if !first {
            guard byte == UInt8(ascii: ",") else { throw parser.fail(expected) }
            parser.index += 1
            parser.skipWhitespace()
        }
        started[started.count - 1] = true
        return true
    }
}

/// Member names a reader expects, made once (a `static let`); ``JSONPullReader/nextMember(_:)``
/// answers with a name's index here. Not generic, so that it is as fast from other modules.
public struct JSONKeys: Sendable {
    /// The index given for a name that is not among the expected ones (skip its value).
    public static let other = -1

    /// Every name's bytes, one after the other, and where each one is.
    private let bytes: [UInt8]
    private let names: [(start: Int, count: Int)]

    public init(_ names: [String]) {
        var bytes: [UInt8] = [], ranges: [(start: Int, count: Int)] = []
        for name in names {
            ranges.append((bytes.count, name.utf8.count))
            bytes += name.utf8
        }
        self.bytes = bytes
        self.names = ranges
    }

    func index(of name: UnsafeBufferPointer<UInt8>) -> Int {
        bytes.withUnsafeBufferPointer { bytes in
            names.withUnsafeBufferPointer { names in
                search: for index in names.indices where names[index].count == name.count {
                    let start = names[index].start
                    for offset in 0..<name.count where bytes[start + offset] != name[offset] { continue search }
                    return index
                }
                return Self.other
            }
        }
    }
}
