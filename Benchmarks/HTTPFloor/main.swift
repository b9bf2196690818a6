//===----------------------------------------------------------------------===//
// ThingBridge — benchmark reference: the callback listener's HTTP stack with nothing behind it
//===----------------------------------------------------------------------===//
//
// The ingress benchmark (`Benchmarks/ingress/run.sh`) runs this beside nginx and thingbridge, so
// that the table shows, in the same run, what SwiftNIO's HTTP/1.1 server allows on this machine
// before any work is done: `CallbackServer`'s own stack (`CallbackListenerStack`: event loops,
// channel options, HTTP/1.1 pipeline with pipelining assistance and error handling), and a handler that
// answers 200 with the gateway's reply to a new callback as soon as the request's end has been
// read. No parsing, no task, no journal. Not shipped, not a test.
//
// Usage: HTTPFloor [port 0]. Prints the bound port on its first line, then serves until killed.

#if canImport(Glibc)
import Glibc
#endif
import BridgeGateway
import NIOCore
import NIOHTTP1
import NIOPosix

/// Answers every request with the gateway's 200 to a new callback, once its body has been read.
final class StaticReplyHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body: [UInt8] = Array(#"{"duplicate":false}"#.utf8)
    private var version = HTTPVersion.http1_1
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            version = head.version
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(Self.body.count))
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: Self.body)))), promise: nil)
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        }
    }
}

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 0 : 0
let server = try await CallbackListenerStack.bootstrap { StaticReplyHandler() }
    .bind(host: "127.0.0.1", port: port)
    .get()
print(server.localAddress?.port ?? port)
fflush(nil)  // All streams (stdout is global mutable state to Swift 6). The script reads the port from a pipe or file: not line-buffered there.
try await server.closeFuture.get()
