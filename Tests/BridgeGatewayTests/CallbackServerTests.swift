import BridgeCore
import BridgeGateway
import Foundation
import Testing
import TestSupport
import ThingSpace

#if canImport(Glibc)
import Glibc
#endif

/// The callback listener at the HTTP level, with a raw socket: what clients other than ours
/// may do (pipelining, `Expect: 100-continue`, HTTP/1.0, chunked bodies, other methods).
@Suite struct CallbackServerTests {
    /// Sends `request` on a fresh TCP connection and reads until `until` appears `count` times
    /// (or the server closes, or 5 s pass). Returns what was read and whether the server closed.
    /// The blocking socket calls run on a dispatch thread, never on Swift's cooperative pool
    /// (which the in-process gateway needs to answer).
    static func exchange(_ baseURL: String, _ request: String, until marker: String = "\r\n\r\n", count: Int = 1) async throws -> (text: String, closed: Bool) {
        let port = UInt16(try #require(URL(string: baseURL)?.port))
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingExchange(port: port, request, until: marker, count: count) })
            }
        }
    }

    static func blockingExchange(port: UInt16, _ request: String, until marker: String, count: Int) throws -> (text: String, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let text = String(decoding: received, as: UTF8.self)
            if text.components(separatedBy: marker).count - 1 >= count { return (text, false) }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (String(decoding: received, as: UTF8.self), true) }
            if n < 0 { return (String(decoding: received, as: UTF8.self), false) }
            received += buffer[0..<n]
        }
    }

    static func post(_ body: String, path: String = "/callbacks/thingspace/\(GatewayHarness.account)", extra: String = "", version: String = "HTTP/1.1") -> String {
        "POST \(path) \(version)\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOnOneConnection() async throws {
        try await GatewayHarness.with { gateway in
            let requests = (1...3).map { Self.post(GatewayHarness.callbackBody(requestID: "pipe-\($0)", text: "m\($0)")) }.joined()
            let answer = try await Self.exchange(gateway.baseURL, requests, until: "HTTP/1.1 200 OK", count: 3)
            #expect(!answer.closed)
            #expect(answer.text.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 3)
            #expect(try await gateway.gateway.journal.stats().events == 3)
            // The answers come in request order: each carries its own event's id.
            let ids = answer.text.components(separatedBy: "\"id\":\"").dropFirst().map { String($0.prefix(36)) }
            let expected = try (1...3).map { n in
                EventNormalizer.normalize(
                    try CallbackEnvelope(body: Array(GatewayHarness.callbackBody(requestID: "pipe-\(n)", text: "m\(n)").utf8)).moSMS(),
                    account: GatewayHarness.account, channel: .callback, receivedAt: Date()
                ).id
            }
            #expect(ids == expected)
        }
    }

    @Test func expectContinueIsHonouredAndHTTP10Closes() async throws {
        try await GatewayHarness.with { gateway in
            let body = GatewayHarness.callbackBody(requestID: "continue")
            let head = "POST /callbacks/thingspace/\(GatewayHarness.account) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
            let interim = try await Self.exchange(gateway.baseURL, head, until: "HTTP/1.1 100 Continue")
            #expect(interim.text.hasPrefix("HTTP/1.1 100 Continue"))

            let old = try await Self.exchange(gateway.baseURL, Self.post(GatewayHarness.callbackBody(requestID: "http10"), version: "HTTP/1.0"), until: "never", count: 1)
            #expect(old.text.hasPrefix("HTTP/1.0 200 OK"))
            #expect(old.closed)
        }
    }

    @Test func otherPathsAndMethodsAreRefusedAndTheConnectionStaysUsable() async throws {
        try await GatewayHarness.with { gateway in
            let requests = "GET /callbacks/thingspace/\(GatewayHarness.account) HTTP/1.1\r\nHost: x\r\n\r\n"
                + Self.post("{}", path: "/elsewhere")
                + Self.post(GatewayHarness.callbackBody(requestID: "after"))
            let answer = try await Self.exchange(gateway.baseURL, requests, until: "HTTP/1.1 ", count: 3)
            let statuses = answer.text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
            #expect(statuses.prefix(2) == ["405", "404"])
            #expect(answer.text.lowercased().contains("allow: post"))
            #expect(statuses.last == "200")
            #expect(try await gateway.gateway.journal.stats().events == 1)
        }
    }

    @Test func aChunkedBodyOverTheLimitIs413AndClosed() async throws {
        try await GatewayHarness.with { gateway in
            let chunk = String(repeating: "x", count: 3000)
            let hex = String(chunk.utf8.count, radix: 16)
            let request = "POST /callbacks/thingspace/\(GatewayHarness.account) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "\(hex)\r\n\(chunk)\r\n\(hex)\r\n\(chunk)\r\n0\r\n\r\n"
            let answer = try await Self.exchange(gateway.baseURL, request, until: "never")
            #expect(answer.text.hasPrefix("HTTP/1.1 413"))
            #expect(answer.closed)
            #expect(try await gateway.gateway.journal.stats().events == 0)
        }
    }
}
