//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace callback ingress: the HTTP/1.1 listener
//===----------------------------------------------------------------------===//

import BridgeCore
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The callback listener: a plain SwiftNIO HTTP/1.1 server with one route,
/// `POST /callbacks/thingspace/{account}`, answered by ``CallbackController``.
///
/// Written on SwiftNIO directly rather than on Hummingbird (which serves the admin listener)
/// because this is the hot path: each request is parsed and checked on its event loop, only
/// the journal commit leaves it (one task per request; concurrent requests share a commit,
/// see `GroupCommit`), and the answer is written back from the loop. Keep-alive and
/// pipelining (answers in request order), `Expect: 100-continue`, a body limit checked against
/// `Content-Length` before reading and while reading (413, then the connection is closed).
///
/// Graceful shutdown: stop accepting, let every request in progress get its answer, close idle
/// connections, and after `drainTimeout` close whatever is left.
final class CallbackServer: Service {
    let host: String
    let port: Int
    let controller: CallbackController
    let drainTimeout: Duration
    let logger: Logger
    let onBound: @Sendable (ListenAddress) -> Void

    init(
        host: String, port: Int, controller: CallbackController, drainTimeout: Duration = .seconds(10),
        logger: Logger, onBound: @escaping @Sendable (ListenAddress) -> Void
    ) {
        self.host = host
        self.port = port
        self.controller = controller
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.onBound = onBound
    }

    func run() async throws {
        let connections = ConnectionTracker()
        let controller = self.controller
        let server = try await CallbackListenerStack.bootstrap(onConnection: connections.add) { CallbackHTTPHandler(controller: controller) }
            .bind(host: host, port: port)
            .get()
        onBound(ListenAddress(host: host, port: server.localAddress?.port ?? port))

        // Until graceful shutdown is asked for (or the task is cancelled).
        try? await gracefulShutdown()
        try? await server.close()
        if !Task.isCancelled {
            connections.quiesce()
            let deadline = ContinuousClock.now + drainTimeout
            while connections.count > 0, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let left = connections.closeAll()
        if left > 0 { logger.warning("closed callback connections that were still busy at shutdown", metadata: ["connections": "\(left)"]) }
    }
}

/// The callback listener's HTTP stack: SwiftNIO's event loops, the socket options and the
/// HTTP/1.1 pipeline (pipelining assistance, error handling), with the handler made per connection.
/// Public for the ingress benchmark's floor (`Benchmarks/HTTPFloor`), which must be this stack with
/// nothing behind it.
public enum CallbackListenerStack {
    public static func bootstrap(
        onConnection: @escaping @Sendable (any NIOCore.Channel) -> Void = { _ in },
        handler: @escaping @Sendable () -> any ChannelHandler
    ) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                onConnection(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(handler())
                }
            }
    }
}

/// Open connections, so that shutdown can wait for them and close them.
final class ConnectionTracker: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any NIOCore.Channel]>([:])

    var count: Int { channels.withLock { $0.count } }

    func add(_ channel: any NIOCore.Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLock { $0.removeValue(forKey: key) }
        }
    }

    /// Asks every connection to close once it has answered the request in progress (at once if idle).
    func quiesce() {
        for channel in channels.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(CallbackHTTPHandler.Quiesce())
        }
    }

    /// Closes every connection now. - Returns: How many were still open.
    func closeAll() -> Int {
        let open = channels.withLock { Array($0.values) }
        for channel in open { channel.close(promise: nil) }
        return open.count
    }
}

/// One connection's requests, one at a time (the pipelining handler in front holds back the
/// next request until this one's answer is written).
final class CallbackHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Sent by the tracker at shutdown.
    struct Quiesce: Sendable {}

    private enum State {
        case idle
        /// Reading the body of a callback for `account`.
        case reading(account: String, body: ByteBuffer)
        /// The answer is known already (404, 405); the rest of the request is read and dropped.
        case discarding(CallbackReply)
        /// The request went to the controller; its answer has not been written yet.
        case waiting
        /// 413 was written and the connection is closing.
        case closing
    }

    private let controller: CallbackController
    private var state = State.idle
    private var requestVersion = HTTPVersion.http1_1
    private var keepAlive = true
    private var receivedAt = Date()
    /// When the request's head was read (monotonic), for the answer time.
    private var startedAt: UInt64 = 0
    private var quiescing = false
    /// This connection's event loop as a task executor, looked up once per connection.
    private var executor: EventLoopTaskExecutor?

    init(controller: CallbackController) {
        self.controller = controller
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            begin(head, context: context)
        case .body(var chunk):
            guard case .reading(let account, var body) = state else { return }
            guard body.readableBytes + chunk.readableBytes <= controller.maxBodySize else {
                refuseTooLarge(context: context)
                return
            }
            state = .waiting  // drop the buffer's second reference before writing into it
            body.writeBuffer(&chunk)
            state = .reading(account: account, body: body)
        case .end:
            switch state {
            case .reading(let account, let body):
                state = .waiting
                let controller = self.controller
                let receivedAt = self.receivedAt
                let promise = context.eventLoop.makePromise(of: CallbackReply.self)
                // The task runs on this connection's event loop, not on Swift's global pool: the
                // request is parsed and routed where it was read, and when the journal commit
                // (on SQLite's writer thread) resumes it, it comes straight back here to answer.
                // Two thread hand-offs per request (to the writer and back) instead of four.
                // (`Task.immediate`, which would start it inside this read, measured the same.)
                let executor = self.executor ?? EventLoopTaskExecutor.for(context.eventLoop)
                self.executor = executor
                Task(executorPreference: executor) {
                    promise.succeed(await controller.handle(account: account, body: body, receivedAt: receivedAt))
                }
                promise.futureResult.assumeIsolated().whenSuccess { reply in
                    self.respond(reply, context: context)
                }
            case .discarding(let reply):
                respond(reply, context: context)
            case .idle, .waiting, .closing:
                break
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is Quiesce else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        if case .idle = state { context.close(promise: nil) }
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        startedAt = DispatchTime.now().uptimeNanoseconds
        receivedAt = Date()
        requestVersion = head.version
        keepAlive = head.isKeepAlive
        guard let account = Self.account(in: head.uri) else {
            state = .discarding(.json(.notFound, ["error": "not found; callbacks go to POST \(CallbackController.pathPrefix)/{account}"]))
            return
        }
        guard head.method == .POST else {
            var reply = CallbackReply.json(.methodNotAllowed, ["error": "only POST is allowed here"])
            reply.allow = "POST"
            state = .discarding(reply)
            return
        }
        guard controller.knows(account: account) else {
            state = .discarding(controller.unknownAccount(account))
            return
        }
        let length = head.headers.first(name: "content-length").flatMap { Int($0) }
        if let length, length > controller.maxBodySize {
            refuseTooLarge(context: context)
            return
        }
        if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        state = .reading(account: account, body: context.channel.allocator.buffer(capacity: min(length ?? 1024, controller.maxBodySize)))
    }

    /// 413, then close: the rest of an oversized body is not worth reading.
    private func refuseTooLarge(context: ChannelHandlerContext) {
        state = .closing
        keepAlive = false
        write(controller.tooLarge(), context: context)
    }

    private func respond(_ reply: CallbackReply, context: ChannelHandlerContext) {
        let close = !keepAlive || quiescing
        state = .idle
        write(reply, context: context, close: close)
    }

    private func write(_ reply: CallbackReply, context: ChannelHandlerContext, close: Bool = true) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(reply.body.count))
        if let retryAfter = reply.retryAfter { headers.add(name: "Retry-After", value: String(retryAfter.components.seconds)) }
        if let allow = reply.allow { headers.add(name: "Allow", value: allow) }
        let closing = close || !keepAlive
        if closing { headers.add(name: "Connection", value: "close") }
        var buffer = context.channel.allocator.buffer(capacity: reply.body.count)
        buffer.writeBytes(reply.body)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: requestVersion, status: reply.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        controller.answered(reply.status, nanoseconds: DispatchTime.now().uptimeNanoseconds &- startedAt)
        if closing {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The account of `/callbacks/thingspace/{account}` (query ignored, percent-decoded).
    static func account(in uri: String) -> String? {
        var path = Substring(uri)
        if let query = path.utf8.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        guard path.hasPrefix(Self.prefix) else { return nil }
        let rest = path.dropFirst(Self.prefix.count)
        guard !rest.isEmpty, !rest.utf8.contains(UInt8(ascii: "/")) else { return nil }
        // Account names are plain ("0000123456-00001"); decode only what was encoded.
        guard rest.utf8.contains(UInt8(ascii: "%")) else { return String(rest) }
        return String(rest).removingPercentEncoding ?? String(rest)
    }

    private static let prefix = CallbackController.pathPrefix + "/"
}

/// Runs tasks on a SwiftNIO event loop (a task executor preference), so that a request's task
/// does not hop to Swift's global pool and back.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    private init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop, made once (the loops live as long as the process).
    private static let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    static func `for`(_ loop: any EventLoop) -> EventLoopTaskExecutor {
        executors.withLock { executors in
            let key = ObjectIdentifier(loop)
            if let known = executors[key] { return known }
            let made = EventLoopTaskExecutor(loop)
            executors[key] = made
            return made
        }
    }
}
