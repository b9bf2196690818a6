//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: POSTing MO callbacks
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import ThingSpace

/// Sends one MO SMS callback body to a listener, the way ThingSpace does: JSON `POST`, any
/// 2xx is success, everything else (other status, connection error, timeout) is failure.
///
/// The HTTP client is chosen per push: an injected one, else the simulator's own client while
/// it runs (made by ``makeClient(timeout:)``), else `HTTPClient.shared`.
final class CallbackPusher: Sendable {
    private let injected: HTTPClient?
    private let running = Mutex<HTTPClient?>(nil)
    let timeout: TimeAmount
    let logger: Logger

    init(client: HTTPClient?, timeout: Duration, logger: Logger) {
        injected = client
        self.timeout = Self.timeAmount(timeout)
        self.logger = logger
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        return .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }

    /// Whether ``ThingSpaceSimulator/run()`` should make (and later shut down) its own client.
    var needsOwnClient: Bool { injected == nil }

    /// A client that fails fast on a refused connection.
    ///
    /// AsyncHTTPClient's default retries connection establishment until the request deadline,
    /// so a listener that is down would cost `callbackTimeout` per message; ThingSpace just
    /// queues the message, and so does the simulator, at once.
    static func makeClient(timeout: TimeAmount) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = timeout
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Installs (or, with `nil`, removes) the client made for a run; returns the previous one.
    @discardableResult
    func useRunningClient(_ client: HTTPClient?) -> HTTPClient? {
        running.withLock { current in
            let previous = current
            current = client
            return previous
        }
    }

    private var client: HTTPClient { injected ?? running.withLock { $0 } ?? .shared }

    /// The JSON body (thingspace-api.md §3.2 shape, plus `timestamp`).
    static func body(_ callback: MOSMSCallbackBody) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return ByteBuffer(bytes: (try? encoder.encode(callback)) ?? Data())
    }

    /// POSTs `body` and reports whether the listener answered 2xx in time.
    func post(_ body: ByteBuffer, to url: String) async -> Bool {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: timeout)
            // Drain the answer so the connection can be reused; its content is ignored.
            _ = try? await response.body.collect(upTo: 1 << 20)
            let ok = (200..<300).contains(Int(response.status.code))
            if !ok {
                logger.debug("callback answered non-2xx", metadata: ["url": "\(url)", "status": "\(response.status.code)"])
            }
            return ok
        } catch {
            logger.debug("callback failed", metadata: ["url": "\(url)", "error": "\(error)"])
            return false
        }
    }
}
