import Foundation
import Testing
import ThingSpace

/// `JSONValue` against Foundation's `JSONSerialization`, a parser we did not write.
@Suite struct JSONValueTests {
    /// Compares our tree with Foundation's, value by value.
    static func same(_ ours: JSONValue, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let value):
            guard let number = theirs as? NSNumber else { return false }
            return number.boolValue == value
        case .number(let literal):
            guard let number = theirs as? NSNumber, let value = Double(literal) else { return false }
            return number.doubleValue == value
        case .string(let value): return (theirs as? String) == value
        case .array(let elements):
            guard let list = theirs as? [Any], list.count == elements.count else { return false }
            return zip(elements, list).allSatisfy { same($0, $1) }
        case .object(let object):
            guard let dictionary = theirs as? [String: Any], dictionary.count == object.keys.count else { return false }
            return object.keys.allSatisfy { key in dictionary[key].map { same(object[key]!, $0) } ?? false }
        }
    }

    static let valid = [
        #"{}"#, #"[]"#, #"  {"a" : [1, -2.5, 3e2, 0, -0, 1E-3, 0.125], "b": {"c": null, "d": true, "e": false}} "#,
        #"{"text": "line\nbreak \"quoted\" back\\slash \/ tab\t \u00e9 \ud83d\ude00 ünï 日本"}"#,
        #""just a string""#, "42", "true", "null", #"[[[[["deep"]]]]]"#,
        #"{"requestId": 12345678901234567890, "deviceIds": [{"id": "0012", "kind": "MDN"}]}"#,
    ]

    /// Strings are scanned eight bytes at a time until a quote, backslash, control character or
    /// non-ASCII byte turns up: each such byte at every place around those eight-byte steps, in
    /// strings of every length around them, must read as Foundation reads it (or fail as it does).
    @Test func stringsReadTheSameWhereverTheirSpecialBytesFall() throws {
        let specials: [(json: String, valid: Bool)] = [
            (#"\""#, true), (#"\\"#, true), (#"\n"#, true), (#"\u00e9"#, true), ("é", true), ("日", true),
            ("\u{01}", false), ("\t", false),
        ]
        for length in 0...20 {
            for position in 0...length {
                for special in specials {
                    var content = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
                    content.insert(contentsOf: special.json, at: content.index(content.startIndex, offsetBy: position))
                    // In an object after a key, so the string does not start at offset 0 either.
                    let text = #"{"k":""# + content + #"","n":1}"#
                    let theirs = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                    let ours = try? JSONValue(parsing: Array(text.utf8))
                    #expect((ours != nil) == special.valid && (theirs != nil) == special.valid, "\(text)")
                    if let ours, let theirs { #expect(Self.same(ours, theirs), "\(text)") }
                }
            }
        }
    }

    @Test(arguments: valid)
    func agreesWithFoundationOnValidDocuments(_ text: String) throws {
        let ours = try JSONValue(parsing: Array(text.utf8))
        let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        #expect(Self.same(ours, theirs), "\(ours) vs \(theirs)")
    }

    static let invalid: [(String, [UInt8])] = [
        ("empty", []), ("leading zero", Array("[01]".utf8)),
        ("bare dot", Array("[1.]".utf8)), ("plus sign", Array("[+1]".utf8)), ("unterminated", Array(#"{"a": "b"#.utf8)),
        ("control character", Array("[\"a\u{01}b\"]".utf8)), ("bad escape", Array(#"["\x"]"#.utf8)),
        ("data after", Array("{} {}".utf8)), ("bad literal", Array("[tru]".utf8)), ("NaN", Array("[NaN]".utf8)),
        ("comment", Array("[1 /* no */]".utf8)), ("single quotes", Array("{'a': 1}".utf8)),
        ("missing colon", Array(#"{"a" 1}"#.utf8)), ("invalid UTF-8", [0x22, 0xC3, 0x28, 0x22]),
        ("unescaped newline", Array("[\"a\nb\"]".utf8)),
    ]

    @Test(arguments: invalid)
    func rejectsWhatFoundationRejects(_ name: String, _ bytes: [UInt8]) {
        #expect(throws: JSONParseError.self, "\(name)") { try JSONValue(parsing: bytes) }
        #expect(throws: (any Error).self, "\(name): Foundation accepts it") {
            try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        }
    }

    /// Stricter than Foundation here (which takes `{"a": 1,}` and `[1,]`): RFC 8259 has no
    /// trailing commas.
    @Test func rejectsLoneSurrogatesTrailingCommasAndExcessiveNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"{"a": 1,}"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array("[1,]".utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"["\ud83d"]"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"["\ude00x"]"#.utf8)) }
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(deep.utf8)) }
        #expect((try? JSONValue(parsing: Array(deep.utf8), maxDepth: 400)) != nil)
    }

    /// Random documents written by Foundation read back the same.
    @Test func readsRandomDocumentsFoundationWrote() throws {
        var generator = SystemRandomNumberGenerator()
        func value(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &generator) {
            case 0: return NSNull()
            case 1: return Bool.random(using: &generator)
            case 2: return Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) / 64
            case 3:
                let pool = Array("abc é日😀\"\\/\n\t\u{1}xyz")
                return String((0..<Int.random(in: 0...12, using: &generator)).map { _ in pool.randomElement(using: &generator)! })
            case 4: return (0..<Int.random(in: 0...5, using: &generator)).map { _ in value(depth + 1) }
            default:
                var object: [String: Any] = [:]
                for n in 0..<Int.random(in: 0...5, using: &generator) { object["k\(n)"] = value(depth + 1) }
                return object
            }
        }
        for _ in 0..<300 {
            let document: Any = [value(0), ["nested": value(0)]]
            let data = try JSONSerialization.data(withJSONObject: document)
            let ours = try JSONValue(parsing: Array(data))
            #expect(Self.same(ours, try JSONSerialization.jsonObject(with: data)))
        }
    }

    @Test func numbersKeepTheirDigitsAndIntegersRead() throws {
        let parsed = try JSONValue(parsing: Array(#"{"id": 12345678901234567890, "n": 12.0, "f": 1.5, "s": "7"}"#.utf8))
        #expect(parsed["id"] == .number("12345678901234567890"))
        #expect(parsed["n"]?.int == 12)
        #expect(parsed["f"]?.int == nil)
        #expect(parsed["s"]?.int == nil)
        #expect(parsed["missing"] == nil)
        // A key written twice keeps its last value, as in JSONSerialization.
        #expect(try JSONValue(parsing: Array(#"{"a": 1, "a": 2}"#.utf8))["a"] == .number("2"))
    }

    @Test func historyPagesReadLikeTheDecodableConformance() throws {
        let page = SMSHistoryPage(
            messages: [
                SMSMessage(deviceIds: [DeviceID(kind: "MDN", id: "7022895555"), DeviceID(kind: "esn", id: "60E5F99D")], message: "héllo\n\"x\"", timestamp: "2026-11-29T02:13:05-08:00"),
                SMSMessage(deviceIds: [DeviceID(kind: "iccid", id: "0089")], message: "", timestamp: nil),
            ],
            hasMoreData: true
        )
        let body = try JSONEncoder().encode(page)
        #expect(try SMSHistoryPage(json: Array(body)) == page)
        // The hand-written writer the simulator uses is what JSONEncoder writes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(page.jsonBytes() == Array(try encoder.encode(page)))
        #expect(try SMSHistoryPage(json: Array(body)) == JSONDecoder().decode(SMSHistoryPage.self, from: body))
        #expect(throws: JSONParseError.self) { try SMSHistoryPage(json: Array(#"{"messages": []}"#.utf8)) }
        #expect(throws: JSONParseError.self) { try SMSHistoryPage(json: Array(#"{"messages": [{"message": "x"}], "hasMoreData": false}"#.utf8)) }
    }
    /// Member names matched by their bytes: escaped spellings of a name are that name, names that
    /// only begin or end like one are other names, and a name the parser refuses is refused.
    @Test func membersAreMatchedByNameHoweverTheyAreWritten() throws {
        let keys = JSONKeys(["id", "idx"])
        let document = #"{"id": 1, "\u0069d": 2, "i\"d": 3, "idx": 4, "i": 5, "idxy": 6, "": 7, "\u0069\u0064\u0078": 8}"#
        let found = try Array(document.utf8).withUnsafeBytes { bytes in
            try JSONPullReader.read(bytes) { reader throws(JSONParseError) -> [String] in
                var found: [String] = []
                try reader.beginObject()
                while let index = try reader.nextMember(keys) {
                    let value = try reader.number()
                    found.append(index == JSONKeys.other ? "other=\(value)" : ["id", "idx"][index] + "=\(value)")
                }
                return found
            }
        }
        #expect(found == ["id=1", "id=2", "other=3", "idx=4", "other=5", "other=6", "other=7", "idx=8"])
        // Cut short, a control character, no colon, a bad escape, and a name that is not UTF-8.
        let refused: [[UInt8]] = [#"{"i"#, "{\"i\u{01}d\": 1}", #"{"id" 1}"#, #"{"\x": 1}"#].map { Array($0.utf8) }
            + [Array(#"{"i"#.utf8) + [0xFF] + Array(#"d": 1}"#.utf8)]
        for refused in refused {
            #expect(throws: JSONParseError.self, "\(refused)") {
                try refused.withUnsafeBytes { bytes in
                    try JSONPullReader.read(bytes) { reader throws(JSONParseError) in
                        try reader.beginObject()
                        while try reader.nextMember(keys) != nil { try reader.skipValue() }
                    }
                }
            }
        }
    }
}
