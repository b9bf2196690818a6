//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace callback ingress
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
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
struct CallbackController: Sendable {
    static let pathPrefix = "/callbacks/thingspace"

    let accounts: [String: AccountConfig]
    let ingest: Ingest
    let maxBodySize: Int
    /// Told to drain when a callback could not be journaled: ThingSpace queued that message.
    let pollers: [String: HistoryPoller]
    let backpressure: BackpressureMonitor
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        router.post("\(Self.pathPrefix)/:account") { request, context in
            try await self.handle(request, context: context)
        }
    }

    func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let received = Date()
        let accountName = try context.parameters.require("account")
        guard let account = accounts[accountName] else {
            reject("unknown_account")
            return .json(status: .notFound, ["error": "unknown account '\(accountName)'"])
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodySize {
            reject("too_large")
            return .json(status: .contentTooLarge, ["error": "body larger than \(maxBodySize) bytes"])
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodySize)
        } catch is NIOTooManyBytesError {
            reject("too_large")
            return .json(status: .contentTooLarge, ["error": "body larger than \(maxBodySize) bytes"])
        }
        let bytes = body.readableBytesView
        let envelope: CallbackEnvelope
        do {
            envelope = try CallbackEnvelope(body: bytes)
        } catch {
            reject("not_json")
            logger.warning("callback body is not a JSON object; rejected", metadata: ["account": "\(accountName)", "bytes": "\(bytes.count)"])
            return .json(status: .badRequest, ["error": error.message])
        }
        guard account.callback.matches(username: envelope.username, password: envelope.password) else {
            reject("unauthorized")
            logger.warning("callback with wrong or missing credentials; rejected", metadata: ["account": "\(accountName)"])
            return .json(status: .unauthorized, ["error": "wrong or missing callback credentials"])
        }
        if backpressure.isOn {
            // ThingSpace queues the message; the poller collects it once the backlog is down.
            reject("backpressure")
            return .unavailable("back-pressure: the gateway's backlog is full, retry later", retryAfter: backpressure.settings.retryAfter)
        }
        Counter(label: "thingbridge_received_total", dimensions: [("channel", "callback")]).increment()
        let message: MOSMSCallback
        do {
            message = try envelope.moSMS()
        } catch {
            return await quarantine(Data(bytes), account: accountName, reason: error, received: received)
        }
        do {
            let result = try await ingest.ingest(message, account: accountName, channel: .callback, receivedAt: received)
            let duplicate: Bool
            if case .duplicate = result.outcome { duplicate = true } else { duplicate = false }
            return .json(status: .ok, ["id": result.event.id, "duplicate": duplicate])
        } catch {
            return unavailable(error, account: accountName)
        }
    }

    private func quarantine(_ body: Data, account: String, reason: CallbackParseError, received: Date) async -> Response {
        do {
            let id = try await ingest.journal.quarantine(account: account, reason: reason.description, body: body, receivedAt: received)
            Counter(label: "thingbridge_quarantined_total", dimensions: [("reason", reason.code)]).increment()
            logger.warning("callback body quarantined", metadata: ["account": "\(account)", "quarantine": "\(id)", "reason": "\(reason.code)"])
            return .json(status: .accepted, ["quarantined": id, "reason": reason.code])
        } catch {
            return unavailable(error, account: account)
        }
    }

    private func unavailable(_ error: JournalError, account: String) -> Response {
        Counter(label: "thingbridge_journal_errors_total", dimensions: [("code", error.code)]).increment()
        logger.error("journal commit failed; answered 503 so ThingSpace keeps the message queued", metadata: ["account": "\(account)", "error": "\(error)"])
        pollers[account]?.requestDrain()
        return .unavailable("journal unavailable, retry later", retryAfter: .seconds(5))
    }

    private func reject(_ reason: String) {
        Counter(label: "thingbridge_callbacks_rejected_total", dimensions: [("reason", reason)]).increment()
    }
}

extension Response {
    /// 503 with `Retry-After`: ThingSpace keeps the message queued and the poller collects it.
    static func unavailable(_ message: String, retryAfter: Duration) -> Response {
        var response = Response.json(status: .serviceUnavailable, ["error": message])
        response.headers[.retryAfter] = "\(retryAfter.components.seconds)"
        return response
    }

    /// A small JSON answer.
    static func json(status: HTTPResponse.Status, _ fields: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
