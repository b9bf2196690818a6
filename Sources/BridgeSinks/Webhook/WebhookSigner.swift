//===----------------------------------------------------------------------===//
// ThingBridge — Standard Webhooks signatures
//===----------------------------------------------------------------------===//

import Crypto
import Foundation

/// A signing secret in the Standard Webhooks form, `whsec_<base64 of 24 to 64 random bytes>`.
///
/// Its description never shows the key, so it cannot end up in a log by accident.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    let key: SymmetricKey

    /// Parses `whsec_<base64>`; nil for anything else.
    public init?(_ text: String) {
        guard text.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(text.dropFirst(6))),
              (24...64).contains(bytes.count)
        else { return nil }
        key = SymmetricKey(data: bytes)
    }

    /// A new random secret (for `thingbridge` users setting up an endpoint, and for tests).
    public static func random() -> String {
        "whsec_" + SymmetricKey(size: SymmetricKeySize(bitCount: 256)).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public var description: String { "whsec_<redacted>" }

    public static func == (lhs: WebhookSecret, rhs: WebhookSecret) -> Bool {
        lhs.key.withUnsafeBytes { left in rhs.key.withUnsafeBytes { right in left.elementsEqual(right) } }
    }
}

/// Signs requests per the Standard Webhooks specification (standardwebhooks.com):
///
/// - `webhook-id`: the message id, the same for every attempt of one delivery, so a receiver
///   can recognise a retry it already processed;
/// - `webhook-timestamp`: the time of this attempt, integer seconds since the epoch;
/// - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per
///   secret, separated by spaces (during a rotation the receiver accepts either).
public struct WebhookSigner: Sendable {
    let secrets: [WebhookSecret]
    /// One HMAC per secret with its key already mixed in (the inner and outer pads), copied
    /// for each signature instead of keyed again.
    private let keyed: [HMAC<SHA256>]

    public init(secrets: [WebhookSecret]) {
        self.secrets = secrets
        keyed = secrets.map { HMAC<SHA256>(key: $0.key) }
    }

    /// The `webhook-signature` value for one attempt.
    public func signature(id: String, timestamp: Int64, body: Data) -> String {
        // `<id>.<timestamp>.<body>` in one buffer: the HMAC takes it in one call.
        var signed = [UInt8]()
        signed.reserveCapacity(id.utf8.count + 22 + body.count)
        signed.append(contentsOf: id.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: String(timestamp).utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: body)
        var value = ""
        for (index, prototype) in keyed.enumerated() {
            var mac = prototype
            signed.withUnsafeBytes { mac.update(data: $0) }
            if index > 0 { value += " " }
            value += "v1," + Data(mac.finalize()).base64EncodedString()
        }
        return value
    }

    /// Checks a `webhook-signature` header the way a receiver does: some `v1` signature in it
    /// must match one of the secrets (compared in constant time). Used by the tests' receivers.
    public func verify(signatureHeader: String, id: String, timestamp: Int64, body: Data) -> Bool {
        let expected = Set(signature(id: id, timestamp: timestamp, body: body).split(separator: " ").map(String.init))
        var matched = false
        for candidate in signatureHeader.split(separator: " ") where candidate.hasPrefix("v1,") {
            for signature in expected where Self.constantTimeEquals(Array(candidate.utf8), Array(signature.utf8)) {
                matched = true
            }
        }
        return matched
    }

    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// The `webhook-id` of a delivery: `msg_` and 32 hex digits of SHA-256 over the event id,
    /// the route and the endpoint's sink name. It depends only on what the delivery is, so it
    /// is the same for every retry, after a restart and after a dead-letter replay, and
    /// different for each endpoint of a group.
    public static func messageID(eventID: String, route: String, sink: String) -> String {
        var hasher = SHA256()
        let separator: [UInt8] = [0]
        for (index, part) in [eventID, route, sink].enumerated() {
            if index > 0 { separator.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
            var part = part
            part.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
        let digest = hasher.finalize()
        return String(unsafeUninitializedCapacity: 36) { text in
            let hex: StaticString = "0123456789abcdef"
            var at = 0
            for byte in "msg_".utf8 {
                text[at] = byte
                at += 1
            }
            hex.withUTF8Buffer { digits in
                for byte in digest.prefix(16) {
                    text[at] = digits[Int(byte >> 4)]
                    text[at + 1] = digits[Int(byte & 0x0F)]
                    at += 2
                }
            }
            return at
        }
    }
}
