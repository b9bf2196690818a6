//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace wire models
//===----------------------------------------------------------------------===//

/// One device identifier as ThingSpace writes it: `{"id": "...", "kind": "..."}`.
///
/// ThingSpace spells kinds in several cases (`esn`, `ICCID`, `Imei`), so the kind is
/// lower-cased on the way in and every comparison is case-insensitive by construction.
public struct DeviceID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The identifier kind, lower-cased (`mdn`, `msisdn`, `iccid`, `imei`, `esn`, `eid`, `meid`, `imsi`, …).
    public var kind: String
    /// The identifier value, exactly as sent (leading zeros kept).
    public var id: String

    public init(kind: String, id: String) {
        // Most kinds arrive (and every stored one is read back) lower-cased already: kept as is.
        self.kind = kind.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") || $0 >= 0x80 } ? kind.lowercased() : kind
        self.id = id
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try container.decode(String.self, forKey: .kind),
            id: try container.decode(String.self, forKey: .id)
        )
    }

    public var description: String { "\(kind):\(id)" }

    /// The order in which identifier kinds are preferred as a device's primary identity.
    ///
    /// `mdn`/`msisdn` first (what operators see in ThingSpace), then the SIM and the radio.
    public static let primaryKindPreference = ["mdn", "msisdn", "iccid", "imei", "imsi", "eid", "meid", "esn"]

    /// The identifier that names the device: the first kind in ``primaryKindPreference``
    /// that is present, or the first identifier given when none of them is.
    public static func primary(of ids: [DeviceID]) -> DeviceID? {
        for kind in primaryKindPreference {
            if let match = ids.first(where: { $0.kind == kind }) { return match }
        }
        return ids.first
    }
}
