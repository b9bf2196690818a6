//===----------------------------------------------------------------------===//
// ThingBridge — benchmark: the webhook sink fanning out to nginx on loopback
//===----------------------------------------------------------------------===//
//
// For 1, 8 and 32 endpoints of one webhook group (each endpoint a path on one local nginx that
// answers `return 200`): D deliveries in total (D / endpoints events, each routed to every
// endpoint) are journaled (SQLite on disk); then one Dispatcher per endpoint feeds its
// WebhookEndpointSink and the clock runs until the journal holds no pending delivery: read
// from the outbox, sign (HMAC-SHA256, Standard Webhooks), POST over keep-alive connections,
// read the 200, mark delivered. Latency is per request (the sink's
// `thingbridge_webhook_request_duration_seconds`: from handing the request to the client to
// the end of the answer), over every request of the run.
//
// Then the same deliveries handed straight to the sinks (no journal, no dispatcher), to show what
// the outbox costs (BENCH_SINK_ONLY=0 skips it). Then the reference rows: the same number of
// requests, same body size, from AsyncHTTPClient alone, unsigned (BENCH_BARE_CLIENT=0 skips them).
//
// Beside it, `wrk` (when installed) posts a body of the same size to the same nginx with as many
// connections as the 8-endpoint run may open: what the receiver and loopback allow on this machine.
//
// Prints Markdown tables. Usage: WebhookBenchmark [deliveries 100000] [concurrency per endpoint 16]
// Env: BENCH_ENDPOINTS (default 1,8,32), BENCH_BATCH (the dispatchers' batch size, default 256),
// BENCH_NGINX (the nginx binary; default: found in /usr/sbin). Needs nginx (apt-get install -y nginx).

import AsyncHTTPClient
import BridgeCore
import BridgeSinks
import Foundation
import Logging
import Metrics
import MetricsTestKit
import NIOCore
import NIOHTTP1
import Synchronization
import ThingSpace

let arguments = CommandLine.arguments
func argument(_ index: Int, _ fallback: Int) -> Int { arguments.count > index ? Int(arguments[index]) ?? fallback : fallback }
let deliveries = argument(1, 100_000)
let concurrency = argument(2, 16)
let batchSize = ProcessInfo.processInfo.environment["BENCH_BATCH"].flatMap(Int.init) ?? 256
let endpointCounts = ProcessInfo.processInfo.environment["BENCH_ENDPOINTS"].map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1, 8, 32]

let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()
let metrics = TestMetrics()
MetricsSystem.bootstrap(metrics)

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

func freePort() -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: - nginx

let nginxBinary = ProcessInfo.processInfo.environment["BENCH_NGINX"]
    ?? ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
guard let nginxBinary else {
    print("nginx not found: apt-get install -y nginx (or set BENCH_NGINX)")
    exit(2)
}
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-bench-\(UUID().uuidString.prefix(6))")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let port = freePort()
let nginxConfig = """
    daemon off;
    worker_processes 1;
    pid \(folder.path)/nginx.pid;
    error_log \(folder.path)/nginx-error.log warn;
    events { worker_connections 4096; }
    http {
        access_log off;
        client_body_temp_path \(folder.path)/body;
        keepalive_requests 10000000;
        keepalive_timeout 120s;
        server {
            listen 127.0.0.1:\(port) backlog=4096;
            location / { return 200; }
        }
    }
    """
try nginxConfig.write(to: folder.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
let nginx = Process()
nginx.executableURL = URL(fileURLWithPath: nginxBinary)
nginx.arguments = ["-c", folder.appendingPathComponent("nginx.conf").path, "-p", folder.path, "-e", folder.appendingPathComponent("nginx-error.log").path]
nginx.standardOutput = FileHandle.nullDevice
nginx.standardError = FileHandle.nullDevice
try nginx.run()
defer { nginx.terminate(); nginx.waitUntilExit() }
// Wait until it accepts connections.
for _ in 0..<100 {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    close(socket)
    if connected { break }
    usleep(50_000)
}

// MARK: - The webhook runs

let account = "0000123456-00001"
let devices: [[DeviceID]] = (0..<12).map { n in [DeviceID(kind: "mdn", id: "70228955\(10 + n)")] }

func text(_ n: Int) -> String {
    String(format: "pos=%.4f,-112.0740;spd=%d;bat=%d;seq=%d", 33.4484 + Double(n % 100) / 10_000, n % 90, 100 - n % 60, n)
}

/// Forwards to an endpoint sink and counts what it delivered, to say when all are done.
final class CountingSink: Sink {
    let inner: WebhookEndpointSink
    let total: Counted

    init(_ inner: WebhookEndpointSink, total: Counted) {
        self.inner = inner
        self.total = total
    }

    var name: String { inner.name }

    func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
        let outcomes = await inner.deliver(batch)
        total.add(outcomes.count { $0 == .delivered }, failed: outcomes.count { $0 != .delivered })
        return outcomes
    }

    func close() async { await inner.close() }
}

/// Deliveries confirmed across the endpoints of a run.
final class Counted: Sendable {
    let expected: Int
    private let state = Mutex<(count: Int, failed: Int, waiter: CheckedContinuation<Void, Never>?)>((0, 0, nil))

    init(expected: Int) { self.expected = expected }

    var failed: Int { state.withLock { $0.failed } }

    func add(_ done: Int, failed: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.count += done
            state.failed += failed
            guard state.count >= expected, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func waitForAll() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.count >= expected { return true }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

struct Row {
    var endpoints: Int
    var deliveries: Int
    var seconds: Double
    var failed: Int
    var latencies: [Double]
    var bodyBytes: Int
}

/// A group of `endpoints` endpoints on the benchmark's nginx, each with its own secret.
func groupConfig(endpoints: Int) -> WebhookSinkConfig {
    WebhookSinkConfig(
        endpoints: (0..<endpoints).map { n in
            WebhookEndpointConfig(name: "e\(n)", url: URL(string: "http://127.0.0.1:\(port)/hooks/e\(n)")!, secrets: [WebhookSecret(WebhookSecret.random())!])
        },
        concurrency: concurrency, timeout: .seconds(10)
    )
}

func run(endpoints: Int) async throws -> Row {
    let group = "bench\(endpoints)"
    let runFolder = folder.appendingPathComponent(group)
    let journal = try SQLiteJournal(path: runFolder.appendingPathComponent("journal.sqlite").path)
    let config = groupConfig(endpoints: endpoints)
    let sinks = try config.makeEndpointSinks(group: group, journal: journal, logger: quiet)
    let events = deliveries / endpoints
    let received = Date()
    var bodyBytes = 0
    for start in stride(from: 0, to: events, by: 1000) {
        let entries = (start..<min(start + 1000, events)).map { n in
            let event = EventNormalizer.normalize(
                MOSMSCallback(deviceIDs: devices[n % devices.count], text: text(n), timestamp: nil),
                account: account, channel: .callback, receivedAt: received
            )
            return JournalEntry(event: event, deliveries: sinks.map { RoutedDelivery(route: "all", sink: $0.name) })
        }
        if bodyBytes == 0, let first = entries.first { bodyBytes = try first.event.jsonData().count }
        _ = try await journal.append(entries)
    }
    let counted = Counted(expected: events * endpoints)
    let dispatchers = sinks.map { sink in
        Dispatcher(sink: CountingSink(sink, total: counted), journal: journal, signal: DeliverySignal(), batchSize: batchSize, logger: quiet)
    }
    let start = ContinuousClock.now
    let tasks = dispatchers.map { dispatcher in Task { try await dispatcher.run() } }
    await counted.waitForAll()
    // The last batches' delivered marks are written after their answers: wait for the journal too.
    while try await journal.pendingBySink().values.reduce(0, +) > 0 { try await Task.sleep(for: .milliseconds(1)) }
    let elapsed = seconds(ContinuousClock.now - start)
    for task in tasks { task.cancel() }
    for task in tasks { _ = try? await task.value }
    for sink in sinks { await sink.close() }
    try journal.close()
    var latencies: [Double] = []
    for sink in sinks {
        if let timer = try? metrics.expectTimer("thingbridge_webhook_request_duration_seconds", [("sink", sink.name)]) {
            latencies += timer.values.map { Double($0) / 1e6 }
        }
    }
    latencies.sort()
    return Row(endpoints: endpoints, deliveries: events * endpoints, seconds: elapsed, failed: counted.failed, latencies: latencies, bodyBytes: bodyBytes)
}

/// The sink alone, without journal and dispatcher: each endpoint's sink is handed the same
/// prebuilt batches one after another, all endpoints at once. Shows what the outbox costs.
func runSinkOnly(endpoints: Int) async throws -> Row {
    let group = "sinkonly\(endpoints)"
    let config = groupConfig(endpoints: endpoints)
    let sinks = try config.makeEndpointSinks(group: group, journal: nil, logger: quiet)
    let events = deliveries / endpoints
    let received = Date()
    let items = try (0..<events).map { n in
        let event = EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: devices[n % devices.count], text: text(n), timestamp: nil),
            account: account, channel: .callback, receivedAt: received
        )
        return SinkItem(deliveryID: Int64(n + 1), route: "all", attempt: 1, event: event, eventJSON: try event.jsonData())
    }
    let start = ContinuousClock.now
    let failed = await withTaskGroup(of: Int.self) { group in
        for sink in sinks {
            group.addTask {
                var failed = 0
                for batchStart in stride(from: 0, to: items.count, by: batchSize) {
                    let outcomes = await sink.deliver(Array(items[batchStart..<min(batchStart + batchSize, items.count)]))
                    failed += outcomes.count { $0 != .delivered }
                }
                return failed
            }
        }
        return await group.reduce(0, +)
    }
    let elapsed = seconds(ContinuousClock.now - start)
    for sink in sinks { await sink.close() }
    var latencies: [Double] = []
    for sink in sinks {
        if let timer = try? metrics.expectTimer("thingbridge_webhook_request_duration_seconds", [("sink", sink.name)]) {
            latencies += timer.values.map { Double($0) / 1e6 }
        }
    }
    latencies.sort()
    return Row(endpoints: endpoints, deliveries: events * endpoints, seconds: elapsed, failed: failed, latencies: latencies, bodyBytes: items.first?.eventJSON.count ?? 0)
}

/// The client alone: the same number of requests with the same body size, from one
/// AsyncHTTPClient configured as the sink's, `concurrency` requests in flight per endpoint
/// path, unsigned, no journal, no sink. What the HTTP client itself allows on this machine.
func runBareClient(endpoints: Int, bodyBytes: Int) async throws -> Row {
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, endpoints * concurrency))
    configuration.decompression = .disabled
    configuration.tracing.tracer = nil
    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: max(1, bodyBytes))
    let perWorker = deliveries / (endpoints * concurrency)
    let start = ContinuousClock.now
    let (failed, latencies) = await withTaskGroup(of: (Int, [Double]).self) { group in
        for endpoint in 0..<endpoints {
            for _ in 0..<concurrency {
                group.addTask {
                    var failed = 0
                    var latencies: [Double] = []
                    latencies.reserveCapacity(perWorker)
                    for _ in 0..<perWorker {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/hooks/e\(endpoint)")
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/cloudevents+json")
                        request.body = .bytes(body)
                        let sent = ContinuousClock.now
                        do {
                            let response = try await client.execute(request, timeout: .seconds(10))
                            for try await _ in response.body {}
                            if response.status.code != 200 { failed += 1 }
                        } catch {
                            failed += 1
                        }
                        latencies.append(seconds(ContinuousClock.now - sent) * 1000)
                    }
                    return (failed, latencies)
                }
            }
        }
        var failed = 0
        var latencies: [Double] = []
        for await (f, l) in group {
            failed += f
            latencies += l
        }
        return (failed, latencies)
    }
    let elapsed = seconds(ContinuousClock.now - start)
    try await client.shutdown()
    return Row(endpoints: endpoints, deliveries: perWorker * endpoints * concurrency, seconds: elapsed, failed: failed, latencies: latencies.sorted(), bodyBytes: bodyBytes)
}

// MARK: - wrk reference

func wrkReference(connections: Int, bodyBytes: Int) -> Double? {
    let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let wrk else { return nil }
    let script = folder.appendingPathComponent("post.lua")
    let body = String(repeating: "x", count: max(1, bodyBytes))
    try? """
        wrk.method = "POST"
        wrk.body = "\(body)"
        wrk.headers["content-type"] = "application/cloudevents+json"
        """.write(to: script, atomically: true, encoding: .utf8)
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: wrk)
    process.arguments = ["-t1", "-c\(connections)", "-d5s", "-s", script.path, "http://127.0.0.1:\(port)/hooks/wrk"]
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }) else { return nil }
    return Double(line.split(separator: " ").last ?? "")
}

let cores = ProcessInfo.processInfo.activeProcessorCount
print("webhook sink → nginx (1 worker) on 127.0.0.1:\(port); \(deliveries) deliveries per run; concurrency \(concurrency) per endpoint; \(cores) cores; batch \(batchSize)")
print("")
var rows: [(String, Row)] = []
for endpoints in endpointCounts {
    rows.append(("journal → dispatchers → sinks", try await run(endpoints: endpoints)))
}
if ProcessInfo.processInfo.environment["BENCH_SINK_ONLY"] != "0" {
    for endpoints in endpointCounts {
        rows.append(("sinks alone (no journal)", try await runSinkOnly(endpoints: endpoints)))
    }
}
if ProcessInfo.processInfo.environment["BENCH_BARE_CLIENT"] != "0", let bodyBytes = rows.first?.1.bodyBytes {
    for endpoints in endpointCounts {
        rows.append(("AsyncHTTPClient alone, unsigned (reference)", try await runBareClient(endpoints: endpoints, bodyBytes: bodyBytes)))
    }
}
print("| path | endpoints | deliveries | seconds | signed deliveries/s | failed | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (path, row) in rows {
    let cells = [0.5, 0.9, 0.99, 0.999].map { String(format: "%.2f", percentile(row.latencies, $0)) } + [String(format: "%.2f", row.latencies.last ?? .nan)]
    print("| \(path) | \(row.endpoints) | \(row.deliveries) | \(String(format: "%.2f", row.seconds)) | \(Int(Double(row.deliveries) / row.seconds)) | \(row.failed) | \(cells.joined(separator: " | ")) |")
}
if let bodyBytes = rows.first?.1.bodyBytes {
    let connections = 8 * concurrency
    if let reference = wrkReference(connections: connections, bodyBytes: bodyBytes) {
        print("")
        print("reference: wrk -t1 -c\(connections) -d5s, POST \(bodyBytes) bytes to the same nginx: \(Int(reference)) requests/s")
    } else {
        print("")
        print("reference: wrk not found (apt-get install -y wrk): left out")
    }
}
