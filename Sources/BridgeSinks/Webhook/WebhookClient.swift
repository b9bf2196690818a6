//===----------------------------------------------------------------------===//
// ThingBridge — the HTTP client a webhook group's endpoints share
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import BridgeCore
import Foundation
import NIOCore
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `HTTPClient` (one connection pool: HTTP/1.1 keep-alive, HTTP/2 when a TLS server offers
/// it) for every endpoint of a webhook group, shut down when the last endpoint closes.
final class WebhookClient: Sendable {
    let http: HTTPClient
    private let users: Mutex<Int>

    /// - Parameter users: How many endpoint sinks will call ``release()``.
    /// - Throws: ``WebhookSetupError`` when a TLS file cannot be loaded.
    init(config: WebhookSinkConfig, users: Int) throws(WebhookSetupError) {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = try Self.tlsConfiguration(config.tls)
        configuration.redirectConfiguration = config.followRedirects
            ? .follow(max: 5, allowCycles: false) : .disallow
        configuration.timeout = .init(connect: .nanoseconds(Int64(config.connectTimeout.seconds * 1e9)))
        // Endpoints of a group often share a host; every one of them may have its own
        // `concurrency` requests open, so the per-host limit is their sum.
        let connections = config.endpoints.reduce(0) { $0 + ($1.concurrency ?? config.concurrency) }
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        configuration.httpVersion = .automatic
        configuration.decompression = .disabled
        // The gateway bootstraps no tracer; with the default (a no-op tracer) the client still
        // builds a span's attributes for every request.
        configuration.tracing.tracer = nil
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.users = Mutex(users)
    }

    /// One endpoint is done with the client; the last one shuts it down.
    func release() async {
        let last = users.withLock { count in
            count -= 1
            return count == 0
        }
        if last { try? await http.shutdown() }
    }

    deinit {
        // Endpoints that were never closed (a gateway that failed to start after building them,
        // or a shutdown that ran out of time): shut the client down anyway, without waiting;
        // an HTTPClient released while running leaks its connections (and traps in debug builds).
        if users.withLock({ $0 }) > 0 {
            http.shutdown { _ in }
        }
    }

    static func tlsConfiguration(_ tls: WebhookTLSConfig) throws(WebhookSetupError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caFile = tls.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            if let certificateFile = tls.certificateFile, let privateKeyFile = tls.privateKeyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            }
        } catch {
            throw WebhookSetupError("cannot load a TLS file: \(error)")
        }
        if !tls.verify { configuration.certificateVerification = .none }
        return configuration
    }
}

/// A webhook group that cannot be set up (a TLS file, a refused address).
public struct WebhookSetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Which addresses `refusePrivateAddresses` refuses.
enum AddressPolicy {
    /// The host's addresses (resolved now) that are loopback, private, link-local, unspecified
    /// or shared (CGNAT); empty when every address is public.
    /// - Throws: ``WebhookSetupError`` when the host does not resolve.
    static func nonPublicAddresses(of host: String) throws(WebhookSetupError) -> [String] {
        let trimmed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(trimmed, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw WebhookSetupError("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var refused: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                    }
                    if !isPublic(ipv4: bytes) { refused.append(bytes.map(String.init).joined(separator: ".")) }
                case AF_INET6:
                    let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    }
                    if !isPublic(ipv6: bytes) { refused.append(describe(ipv6: bytes)) }
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return refused
    }

    static func isPublic(ipv4 b: [UInt8]) -> Bool {
        guard b.count == 4 else { return false }
        switch (b[0], b[1]) {
        case (0, _), (10, _), (127, _): return false
        case (169, 254), (192, 168): return false
        case (172, 16...31): return false
        case (100, 64...127): return false  // shared address space (CGNAT)
        case (224...255, _): return false  // multicast, reserved, broadcast
        default: return true
        }
    }

    static func isPublic(ipv6 b: [UInt8]) -> Bool {
        guard b.count == 16 else { return false }
        if b.allSatisfy({ $0 == 0 }) { return false }  // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return false }  // ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return isPublic(ipv4: Array(b[12..<16])) }  // v4-mapped
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link local
        if b[0] == 0xFF { return false }  // multicast
        return true
    }

    static func describe(ipv6 b: [UInt8]) -> String {
        stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
