//===----------------------------------------------------------------------===//
// ThingBridge — where an event's identity is kept for dedup
//===----------------------------------------------------------------------===//

import Foundation

/// An event's place in the journal's `dedup` table: two 64-bit integers taken from its id.
///
/// The id is 128 bits of SHA-256 over what identifies the upstream message (``EventID``), so
/// integers cut from it are as good as the id, at an eighth of the index size of the text key.
/// - `slot` is the row's integer primary key. For messages recognised by ThingSpace's timestamp
///   it is that time (seconds since 2020, upper 32 bits) followed by 32 bits of the id: a history
///   page's keys are neighbours in the index, so a page's commit touches a few index pages
///   instead of one per message. Request-id keys have no time and live in the negative half.
/// - `idHash` is 64 other bits of the id: a row at the same slot with another `idHash` is a
///   different event whose slot collided, and the probe moves on to the next slot.
struct DedupKey: Equatable {
    var slot: Int64
    var idHash: Int64

    /// 2020-01-01T00:00:00Z: the timestamp part of a slot counts seconds from here.
    static let epoch: Int64 = 1_577_836_800

    /// The key of an event that can be recognised again, or `nil` (random id: never deduplicated).
    init?(event: BridgeEvent) {
        if event.data.requestId != nil {
            self.init(id: event.id, time: nil)
        } else if event.data.timestamp != nil {
            self.init(id: event.id, time: event.time)
        } else {
            return nil
        }
    }

    /// - Parameters:
    ///   - id: The event id (32 hex digits, dashes ignored).
    ///   - time: The upstream time the id was made from (RFC 3339), `nil` for request-id keys.
    init?(id: String, time: String?) {
        var high: UInt64 = 0, low: UInt64 = 0, digits = 0
        for byte in id.utf8 where byte != UInt8(ascii: "-") {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(value) } else if digits < 32 { low = low << 4 | UInt64(value) } else { return nil }
            digits += 1
        }
        guard digits == 32 else { return nil }
        idHash = Int64(bitPattern: high)
        if let time {
            guard let date = Timestamps.parse(time) else { return nil }
            let seconds = min(max(Int64(date.timeIntervalSince1970.rounded(.down)) - Self.epoch, 0), Int64(Int32.max))
            slot = seconds << 32 | Int64(low >> 32)
        } else {
            slot = Int64(bitPattern: low | 1 << 63)
        }
    }

    /// What a probe for a key found.
    enum Probe: Equatable {
        /// The event is at `slot`, stored as `sequence`, first seen at `firstSeen` (unix seconds).
        case found(slot: Int64, sequence: Int64, firstSeen: Double)
        /// Not there; `slot` is free for it.
        case free(slot: Int64)
        /// `limit` slots in a row hold other events (a run of 32-bit collisions in one second:
        /// not expected in practice); the event is stored without a dedup key.
        case exhausted
    }

    /// Linear probing from `slot`.
    /// - Parameter row: Reads the row at a slot: its id hash, event sequence and first-seen time.
    func probe(limit: Int = 16, row: (Int64) throws -> (idHash: Int64, sequence: Int64, firstSeen: Double)?) rethrows -> Probe {
        var slot = self.slot
        for _ in 0..<limit {
            guard let found = try row(slot) else { return .free(slot: slot) }
            if found.idHash == idHash { return .found(slot: slot, sequence: found.sequence, firstSeen: found.firstSeen) }
            slot &+= 1
        }
        return .exhausted
    }
}
