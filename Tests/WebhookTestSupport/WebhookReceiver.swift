//===----------------------------------------------------------------------===//
// ThingBridge — a scriptable webhook receiver for tests (SwiftNIO, 127.0.0.1:0)
//===----------------------------------------------------------------------===//

import BridgeSinks
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A real HTTP/1.1 server on loopback that records every request, checks its Standard Webhooks
/// signature with the secrets it was given, and answers as told: a status (with headers and a
/// body), or not at all (a hung endpoint: the request is read, no answer is ever written).
public final class WebhookReceiver: Sendable {
    public enum Behaviour: Sendable, Equatable {
        case status(Int, headers: [String: String] = [:], body: String = "")
        /// Read the request, never answer.
        case hang
        /// Answer with this status once `delay` has passed (requests wait side by side).
        case slow(Int, delay: Duration)

        public static let ok = Behaviour.status(200)
    }

    /// One request as received.
    public struct Request: Sendable {
        public var path: String
        /// Header names lowercased; a repeated header keeps its last value.
        public var headers: [String: String]
        public var body: Data
        /// The status answered (nil for a hung request).
        public var answered: Int?
        /// Whether `webhook-signature` matched one of the receiver's secrets over
        /// `webhook-id.webhook-timestamp.body`.
        public var signatureIsValid: Bool

        /// The CloudEvent id in the body.
        public var eventID: String? {
            (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String
        }
    }

    public let port: Int
    public let isTLS: Bool
    public var url: URL { URL(string: "\(isTLS ? "https" : "http")://127.0.0.1:\(port)/hook")! }
    private let serverChannel: any Channel
    private let box: ReceiverBox

    struct State {
        var behaviour: Behaviour
        var requests: [Request] = []
        /// Requests read and not yet answered (``Behaviour/slow(_:delay:)``), and the most at once.
        var waiting = 0
        var peakWaiting = 0
        var children: [ObjectIdentifier: any Channel] = [:]
    }

    /// Starts a receiver on 127.0.0.1 with a free port.
    /// - Parameters:
    ///   - secrets: The `whsec_` secrets signatures are checked against.
    ///   - tls: PEM certificate and key files: serve HTTPS with them.
    public static func start(secrets: [String], behaviour: Behaviour = .ok, tls: (certificate: String, key: String)? = nil) async throws -> WebhookReceiver {
        let verifier = WebhookSigner(secrets: secrets.compactMap(WebhookSecret.init))
        let box = ReceiverBox(behaviour: behaviour, verifier: verifier)
        let context = try tls.map { tls in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem))
            ))
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(box: box))
                    box.opened(channel)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return WebhookReceiver(port: channel.localAddress?.port ?? 0, isTLS: tls != nil, serverChannel: channel, box: box)
    }

    private init(port: Int, isTLS: Bool, serverChannel: any Channel, box: ReceiverBox) {
        self.port = port
        self.isTLS = isTLS
        self.serverChannel = serverChannel
        self.box = box
    }

    /// How the next requests are answered.
    public func setBehaviour(_ behaviour: Behaviour) { box.state.withLock { $0.behaviour = behaviour } }

    /// The most `slow` requests this receiver held unanswered at one time.
    public var peakWaiting: Int { box.state.withLock { $0.peakWaiting } }

    /// Every request received so far.
    public var requests: [Request] { box.state.withLock { $0.requests } }

    /// The event ids of requests answered 2xx, in arrival order (as many times as they came).
    public var acceptedEventIDs: [String] {
        requests.filter { ($0.answered ?? 0) / 100 == 2 }.compactMap(\.eventID)
    }

    /// Closes the listener and every open connection (hung ones too).
    public func stop() async {
        let children = box.state.withLock { Array($0.children.values) }
        try? await serverChannel.close()
        for child in children { try? await child.close() }
    }
}

/// What the handlers share with the receiver (kept out of the receiver so the server can be
/// bound before the receiver exists).
final class ReceiverBox: Sendable {
    let state: Mutex<WebhookReceiver.State>
    let verifier: WebhookSigner

    init(behaviour: WebhookReceiver.Behaviour, verifier: WebhookSigner) {
        self.state = Mutex(WebhookReceiver.State(behaviour: behaviour))
        self.verifier = verifier
    }

    func opened(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        state.withLock { $0.children[key] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.children.removeValue(forKey: key) } }
    }

    /// Records a request and says how to answer it.
    func received(path: String, headers: HTTPHeaders, body: Data) -> WebhookReceiver.Behaviour {
        var flat: [String: String] = [:]
        for header in headers { flat[header.name.lowercased()] = header.value }
        let valid: Bool
        if let id = flat["webhook-id"], let stamp = flat["webhook-timestamp"].flatMap({ Int64($0) }), let signature = flat["webhook-signature"] {
            valid = verifier.verify(signatureHeader: signature, id: id, timestamp: stamp, body: body)
        } else {
            valid = false
        }
        return state.withLock { state in
            let behaviour = state.behaviour
            var answered: Int?
            switch behaviour {
            case .status(let code, _, _): answered = code
            case .slow(let code, _):
                answered = code
                state.waiting += 1
                state.peakWaiting = max(state.peakWaiting, state.waiting)
            case .hang: break
            }
            state.requests.append(.init(path: path, headers: flat, body: body, answered: answered, signatureIsValid: valid))
            return behaviour
        }
    }
}

final class ReceiverHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: ReceiverBox
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(box: ReceiverBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let behaviour = box.received(path: head.uri, headers: head.headers, body: Data(body.readableBytesView))
            switch behaviour {
            case .hang:
                return
            case .status(let code, let extra, let text):
                answer(head, code: code, headers: extra, text: text, context: context)
            case .slow(let code, let delay):
                let box = box
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                    box.state.withLock { $0.waiting -= 1 }
                    let (handler, context) = loopBound.value
                    handler.answer(head, code: code, headers: [:], text: "", context: context)
                }
            }
        }
    }

    private func answer(_ head: HTTPRequestHead, code: Int, headers extra: [String: String], text: String, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        for (name, value) in extra { headers.add(name: name, value: value) }
        headers.add(name: "content-length", value: "\(text.utf8.count)")
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: code), headers: headers))), promise: nil)
        if !text.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !head.isKeepAlive { context.close(mode: .output, promise: nil) }
    }
}
