//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the per-account MO queue
//===----------------------------------------------------------------------===//

import ThingSpace

/// One MO SMS as the simulator holds it, from the moment a device "sends" it until it is
/// delivered by callback or acknowledged through `GET /history`.
struct MOMessage: Sendable, Equatable {
    /// Fresh per message and kept across re-pushes, like ThingSpace's callback `requestId`.
    /// Made at the first push: a message that only ever travels through history never needs
    /// one, which keeps queueing 100k messages cheap.
    var requestID: String?
    var deviceIDs: [DeviceID]
    var text: String
    /// RFC 3339 with offset: when "ThingSpace" received the message (simulator clock).
    var timestamp: String
    /// Push attempts made so far; the next push carries `callbackCount = attempts + 1`.
    var attempts: Int = 0

    var wire: SMSMessage { SMSMessage(deviceIds: deviceIDs, message: text, timestamp: timestamp) }
}

/// A FIFO of messages with O(1) append, O(1) removal by entry ID and amortised O(1) head
/// access, so that 100k queued messages drain through history pages in linear time.
///
/// Every append gets the next entry ID; because IDs are handed out in append order, an
/// entry's slot is `id - firstID`, and removal just clears the slot (a tombstone). The head
/// skips tombstones and the storage is compacted once more than half of it is dead
/// prefix. A message that goes back into the queue (a failed push) is appended again with a
/// *new* entry ID, so a stale history token can never remove it by accident.
struct MessageQueue: Sendable {
    private var slots: [MOMessage?] = []
    /// Index of the first slot that may be live.
    private var head = 0
    /// Entry ID of `slots[0]`.
    private var firstID: UInt64 = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Appends a message and returns its entry ID.
    @discardableResult
    mutating func append(_ message: MOMessage) -> UInt64 {
        let id = firstID + UInt64(slots.count)
        slots.append(message)
        count += 1
        return id
    }

    /// The first `limit` live entries, oldest first, without removing them.
    mutating func peek(_ limit: Int) -> [(id: UInt64, message: MOMessage)] {
        skipDeadHead()
        var result: [(id: UInt64, message: MOMessage)] = []
        result.reserveCapacity(min(limit, count))
        var index = head
        while result.count < limit, index < slots.count {
            if let message = slots[index] { result.append((firstID + UInt64(index), message)) }
            index += 1
        }
        return result
    }

    /// Removes the entries still present among `ids` and returns how many were removed.
    @discardableResult
    mutating func remove(_ ids: some Sequence<UInt64>) -> Int {
        var removed = 0
        for id in ids where id >= firstID {
            let index = Int(id - firstID)
            guard index < slots.count, slots[index] != nil else { continue }
            slots[index] = nil
            removed += 1
        }
        count -= removed
        skipDeadHead()
        compactIfWorthIt()
        return removed
    }

    /// Removes and returns every live message, oldest first.
    mutating func removeAll() -> [MOMessage] {
        let all = slots[head...].compactMap { $0 }
        firstID += UInt64(slots.count)
        slots.removeAll(keepingCapacity: false)
        head = 0
        count = 0
        return all
    }

    private mutating func skipDeadHead() {
        while head < slots.count, slots[head] == nil { head += 1 }
    }

    /// Drops the dead prefix once it is both large and more than half of the storage, so
    /// that the copy is paid for by the removals that made it dead.
    private mutating func compactIfWorthIt() {
        if count == 0, !slots.isEmpty {
            firstID += UInt64(slots.count)
            slots.removeAll(keepingCapacity: true)
            head = 0
            return
        }
        guard head >= 1024, head * 2 >= slots.count else { return }
        slots.removeFirst(head)
        firstID += UInt64(head)
        head = 0
    }
}
