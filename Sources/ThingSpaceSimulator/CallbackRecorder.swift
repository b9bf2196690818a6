//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: a callback listener that records what it gets
//===----------------------------------------------------------------------===//

import BridgeCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import ThingSpace

/// A tiny `EnhancedConnectivityService` listener for tests and demos: it records every
/// POSTed body and answers with a status the test controls.
///
/// It lives in the simulator library (not in a test target) so that any test target can
/// stand up a real receiver on port 0 without depending on Hummingbird itself. Every path
/// is accepted; register ``url`` (path `/callback`) with the simulator.
public final class CallbackRecorder: Service {
    /// One request as received.
    public struct Delivery: Sendable {
        /// The decoded body, when it has the MO SMS shape.
        public var body: MOSMSCallbackBody?
        /// The raw body text.
        public var raw: String
        /// The status the recorder answered with.
        public var answeredStatus: Int
        public var isAccepted: Bool { (200..<300).contains(answeredStatus) }
    }

    private struct State {
        var deliveries: [Delivery] = []
        /// Statuses to answer with, one per request, before falling back to `status`.
        var scripted: [Int] = []
        var status = 200
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    public let host: String
    public let port: Int
    private let logger: Logger
    private let state = Mutex(State())
    private let address = AsyncValue<SimulatorAddress>()

    public init(host: String = "127.0.0.1", port: Int = 0, logger: Logger = Logger(label: "callback-recorder")) {
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// The bound address; waits for ``run()`` to bind.
    public func listenAddress() async -> SimulatorAddress { await address.get() }

    /// The URL to register as the callback listener.
    public func url() async -> String { "\(await listenAddress().baseURL)/callback" }

    /// Answer every following request with `status` (default 200).
    public func respond(with status: Int) { state.withLock { $0.status = status } }

    /// Answer the next `count` requests with `status`, then go back to the default.
    public func fail(next count: Int, status: Int = 500) {
        state.withLock { $0.scripted += Array(repeating: status, count: count) }
    }

    /// Every request received so far, in arrival order.
    public func deliveries() -> [Delivery] { state.withLock { $0.deliveries } }

    /// The bodies of the requests answered with a 2xx.
    public func accepted() -> [MOSMSCallbackBody] { state.withLock { $0.deliveries.filter(\.isAccepted).compactMap(\.body) } }

    /// Waits until at least `count` requests have arrived (whatever the answer).
    public func waitForDeliveries(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.deliveries.count >= count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    public func run() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.post("**") { request, _ in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            let status = self.record(buffer)
            return Response(status: HTTPResponse.Status(code: status))
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "callback-recorder"),
            onServerRunning: { [address, host, port] channel in
                address.set(SimulatorAddress(host: host, port: channel.localAddress?.port ?? port))
            },
            logger: logger
        )
        try await app.run()
    }

    private func record(_ buffer: ByteBuffer) -> Int {
        let data = Data(buffer.readableBytesView)
        let body = try? JSONDecoder().decode(MOSMSCallbackBody.self, from: data)
        let raw = String(decoding: data, as: UTF8.self)
        let (status, ready): (Int, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            let status = state.scripted.isEmpty ? state.status : state.scripted.removeFirst()
            state.deliveries.append(Delivery(body: body, raw: raw, answeredStatus: status))
            let count = state.deliveries.count
            let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
            state.waiters.removeAll { $0.count <= count }
            return (status, ready)
        }
        for waiter in ready { waiter.resume() }
        return status
    }
}
