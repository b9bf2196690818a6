//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace callback ingress: what each callback gets
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ThingSpace

/// `POST /callbacks/thingspace/{accountName}`: ThingSpace's MO SMS callbacks.
///
/// The answer is 2xx only once the event (or, for an unparseable body, the quarantine entry)
/// is committed to the journal; ThingSpace queues the message on any other answer, and the
/// poller collects it from there. So every non-2xx path here is safe, never a loss.
///
/// | answer | when |
/// |---|---|
/// | 200 | journaled (or a duplicate of a journaled event) |
/// | 202 | credentials good, body unparseable: quarantined |
/// | 400 | body is not a JSON object (cannot be authenticated, not stored) |
/// | 401 | username/password missing or wrong (nothing stored) |
/// | 404 | account not configured |
/// | 413 | body larger than `ingress.maxBodySize` |
/// | 503 | back-pressure is on, or the journal could not commit (`Retry-After`) |
///
/// Independent of the HTTP server (``CallbackServer`` carries requests to it).
struct CallbackController: Sendable {
    static let pathPrefix = "/callbacks/thingspace"

    let accounts: [String: AccountConfig]
    let ingest: Ingest
    let maxBodySize: Int
    let pollers: [String: HistoryPoller]
    let backpressure: BackpressureMonitor
    let logger: Logger
    /// Made once: creating a metric looks it up in the registry under a lock.
    private let received = Counter(label: "thingbridge_received_total", dimensions: [("channel", "callback")])
    /// `thingbridge_callback_answer_seconds{class}`: from a request's head read to its answer
    /// handed to the connection, by class of answer (2xx: acknowledged, 4xx, 5xx). The gateway's
    /// own acknowledgement time, without the client's share (see ``GatewayMetrics/answerBuckets``).
    /// Keyed by the status's hundreds (2, 4, 5).
    private let answerTimes: [UInt: Timer] = Dictionary(uniqueKeysWithValues: [2, 4, 5].map {
        ($0, Timer(label: GatewayMetrics.answerTimer, dimensions: [("class", "\($0)xx")]))
    })

    init(accounts: [String: AccountConfig], ingest: Ingest, maxBodySize: Int, pollers: [String: HistoryPoller], backpressure: BackpressureMonitor, logger: Logger) {
        self.accounts = accounts
        self.ingest = ingest
        self.maxBodySize = maxBodySize
        self.pollers = pollers
        self.backpressure = backpressure
        self.logger = logger
    }

    /// Whether `account` is configured (asked before the body is read).
    func knows(account: String) -> Bool { accounts[account] != nil }

    func unknownAccount(_ name: String) -> CallbackReply {
        reject("unknown_account")
        return .json(.notFound, ["error": "unknown account '\(name)'"])
    }

    func tooLarge() -> CallbackReply {
        reject("too_large")
        return .json(.payloadTooLarge, ["error": "body larger than \(maxBodySize) bytes"])
    }

    /// Answers one callback whose whole body has been read.
    func handle(account accountName: String, body: ByteBuffer, receivedAt: Date) async -> CallbackReply {
        guard let account = accounts[accountName] else { return unknownAccount(accountName) }
        guard body.readableBytes <= maxBodySize else { return tooLarge() }
        let bytes = body.readableBytesView
        let envelope: CallbackEnvelope
        do {
            envelope = try CallbackEnvelope(body: bytes)
        } catch {
            reject("not_json")
            logger.warning("callback body is not a JSON object; rejected", metadata: ["account": "\(accountName)", "bytes": "\(bytes.count)"])
            return .json(.badRequest, ["error": error.message])
        }
        guard account.callback.matches(username: envelope.username, password: envelope.password) else {
            reject("unauthorized")
            logger.warning("callback with wrong or missing credentials; rejected", metadata: ["account": "\(accountName)"])
            return .json(.unauthorized, ["error": "wrong or missing callback credentials"])
        }
        if backpressure.isOn {
            // ThingSpace queues the message; the poller collects it once the backlog is down.
            reject("backpressure")
            return .unavailable("back-pressure: the gateway's backlog is full, retry later", retryAfter: backpressure.settings.retryAfter)
        }
        received.increment()
        let message: MOSMSCallback
        do {
            message = try envelope.moSMS()
        } catch {
            return await quarantine(Data(bytes), account: accountName, reason: error, received: receivedAt)
        }
        do {
            let result = try await ingest.ingest(message, account: accountName, channel: .callback, receivedAt: receivedAt)
            let duplicate: Bool
            if case .duplicate = result.outcome { duplicate = true } else { duplicate = false }
            return .journaled(id: result.event.id, duplicate: duplicate)
        } catch {
            return unavailable(error, account: accountName)
        }
    }

    private func quarantine(_ body: Data, account: String, reason: CallbackParseError, received: Date) async -> CallbackReply {
        do {
            let id = try await ingest.journal.quarantine(account: account, reason: reason.description, body: body, receivedAt: received)
            Counter(label: "thingbridge_quarantined_total", dimensions: [("reason", reason.code)]).increment()
            logger.warning("callback body quarantined", metadata: ["account": "\(account)", "quarantine": "\(id)", "reason": "\(reason.code)"])
            return .json(.accepted, ["quarantined": id, "reason": reason.code])
        } catch {
            return unavailable(error, account: account)
        }
    }

    private func unavailable(_ error: JournalError, account: String) -> CallbackReply {
        Counter(label: "thingbridge_journal_errors_total", dimensions: [("code", error.code)]).increment()
        logger.error("journal commit failed; answered 503 so ThingSpace keeps the message queued", metadata: ["account": "\(account)", "error": "\(error)"])
        pollers[account]?.requestDrain()
        return .unavailable("journal unavailable, retry later", retryAfter: .seconds(5))
    }

    /// Records how long the answer `status` took (``CallbackHTTPHandler`` calls it as it writes one).
    func answered(_ status: HTTPResponseStatus, nanoseconds: UInt64) {
        // 100 Continue is not an answer, and no callback is answered 3xx: neither has a timer.
        answerTimes[status.code / 100]?.recordNanoseconds(Int64(truncatingIfNeeded: nanoseconds))
    }

    private func reject(_ reason: String) {
        Counter(label: "thingbridge_callbacks_rejected_total", dimensions: [("reason", reason)]).increment()
    }
}

/// An answer to a callback: a status and a small JSON body.
struct CallbackReply: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8]
    /// Sent as `Retry-After` (seconds) with a 503.
    var retryAfter: Duration?
    /// Sent as `Allow` with a 405.
    var allow: String?

    static func json(_ status: HTTPResponseStatus, _ fields: [String: Any]) -> CallbackReply {
        CallbackReply(status: status, body: Array(sortedJSON(fields)))
    }

    static func unavailable(_ message: String, retryAfter: Duration) -> CallbackReply {
        var reply = json(.serviceUnavailable, ["error": message])
        reply.retryAfter = retryAfter
        return reply
    }

    /// `200 {"duplicate":…,"id":…}`: what every accepted callback gets, written by hand (it is
    /// the answer of the hot path; the same bytes as ``json(_:_:)`` would write).
    static func journaled(id: String, duplicate: Bool) -> CallbackReply {
        var out: [UInt8] = []
        out.reserveCapacity(72)
        out.append(UInt8(ascii: "{"))
        JSONOut.key("duplicate", first: true, into: &out)
        out.append(contentsOf: duplicate ? Array("true".utf8) : Array("false".utf8))
        JSONOut.field("id", id, into: &out)
        out.append(UInt8(ascii: "}"))
        return CallbackReply(status: .ok, body: out)
    }
}

/// A small JSON object with sorted keys, for answers off the hot path (errors, admin).
func sortedJSON(_ fields: [String: Any]) -> Data {
    (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
}
