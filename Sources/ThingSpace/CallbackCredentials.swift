//===----------------------------------------------------------------------===//
// ThingBridge — callback credential check
//===----------------------------------------------------------------------===//

/// The username and password registered with ThingSpace for a callback listener.
///
/// ThingSpace copies them in plain text into every callback body (thingspace-api.md §3.1);
/// there is no header auth and no signature, so this comparison is the only check.
public struct CallbackCredentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Whether the given pair matches, compared in constant time.
    ///
    /// Both fields are always compared in full, whatever the first mismatch, so the time
    /// taken tells an attacker nothing about how much of a guess was right. A missing
    /// field is compared as an empty string.
    public func matches(username: String?, password: String?) -> Bool {
        let userOK = Self.constantTimeEquals(Array(self.username.utf8), Array((username ?? "").utf8))
        let passOK = Self.constantTimeEquals(Array(self.password.utf8), Array((password ?? "").utf8))
        return userOK && passOK
    }

    /// Compares two byte strings without an early exit.
    ///
    /// Runs over the longer of the two lengths and folds the length difference into the
    /// result, so neither content nor a common prefix changes the running time.
    static func constantTimeEquals(_ expected: [UInt8], _ given: [UInt8]) -> Bool {
        let length = max(expected.count, given.count)
        var difference = UInt64(truncatingIfNeeded: expected.count ^ given.count)
        for index in 0..<length {
            let a = index < expected.count ? expected[index] : 0
            let b = index < given.count ? given[index] : 0
            difference |= UInt64(a ^ b)
        }
        return difference == 0
    }
}
