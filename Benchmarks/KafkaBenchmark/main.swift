//===----------------------------------------------------------------------===//
// ThingBridge — benchmark: the Kafka sink, beside kcat, on librdkafka's mock cluster
//===----------------------------------------------------------------------===//
//
// Two measurements against one 3-broker mock cluster (librdkafka's, real Kafka protocol over TCP
// on loopback, in this process):
//
// 1. Throughput. N events are journaled (SQLite on disk) with one `kafka` delivery each; then a
//    Dispatcher feeds them to a KafkaSink (binary mode, idempotent, acks=all, linger 5 ms) and the
//    clock runs until the journal holds no pending delivery: read from the outbox, produce, wait
//    for every delivery report, mark delivered. Beside it, in the same run and against the same
//    cluster, `kcat -P` produces the same records (same keys, same values, headers of the same
//    sizes, same producer settings) from a file; its wall time includes its start-up. Median of
//    the rounds; the two alternate within a round. Two rows bound the sink from either side: our
//    producer alone (RdKafka's `KafkaProducer` sending the sink's records, rendered beforehand,
//    with the sink's batches: librdkafka from Swift without the journal), and the ceiling (the
//    journal's outbox feeding a sink that confirms at once: the journal side without Kafka). Each
//    row also gets its CPU time per event: every thread of this process (journal, sink, librdkafka,
//    the mock brokers) plus kcat's, from getrusage; "cores busy" is that CPU over the wall time.
// 2. Latency. A Gateway (callback listener, journal with fsync, kafka sink) takes callbacks
//    posted at a fixed rate (open loop: request i is due at start + i/rate, and its latency is
//    counted from then, so a stall delays the requests behind it and is not hidden). End to end
//    = from the time the POST is due to the moment a librdkafka consumer, polling the topic all
//    along (fetch.wait.max.ms 5), reads the record back (matched by its `ce_id` header). A
//    record is readable once every in-sync replica has it, which is when the broker sends the
//    delivery report; the consumer's own fetch adds to the figure, never subtracts.
//
// Prints Markdown tables. Usage: KafkaBenchmark [events 100000] [rounds 3] [seconds 10] [rate 2000]
// (seconds 0 skips the latency run). BENCH_LINGER_MS sets the sink's linger in the throughput run (default 5);
// BENCH_CEILING_ONLY=1 runs only the ceiling row, BENCH_SINK_ONLY=1 only the default sink row,
// BENCH_PRODUCER_ONLY=1 only our producer's row (for profiles).

import AsyncHTTPClient
import BridgeCore
import BridgeGateway
import BridgeSinks
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RdKafka
import ServiceLifecycle
import Synchronization
import ThingSpace

let arguments = CommandLine.arguments
func argument(_ index: Int, _ fallback: Int) -> Int { arguments.count > index ? Int(arguments[index]) ?? fallback : fallback }
let events = argument(1, 100_000)
let rounds = argument(2, 3)
let latencySeconds = argument(3, 10)
let latencyRate = argument(4, 2000)
/// (batch size, batches in flight) of the sink rows; the last is the shipped default for Kafka.
let sinkSettings = [(256, 1), (2000, 1), (2000, 4)]

let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func temporaryFolder(_ name: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-bench-\(name)-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// CPU seconds (user + system) used so far by this process (every thread: the journal, the sink,
/// librdkafka's threads and the mock brokers') and by the children it has waited for (kcat).
func cpuSeconds() -> Double {
    func total(_ who: Int32) -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(who), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
    return total(RUSAGE_SELF.rawValue) + total(RUSAGE_CHILDREN.rawValue)
}

/// The demo's twelve devices and their kind of text.
let devices: [[DeviceID]] = (0..<12).map { n in
    n < 6 ? [DeviceID(kind: "mdn", id: "70228955\(10 + n)"), DeviceID(kind: "esn", id: "60E5F9\(String(format: "%02X", 0xB0 + n))")]
        : [DeviceID(kind: "mdn", id: "41555500\(10 + n)"), DeviceID(kind: "iccid", id: "891480000000123456\(10 + n)")]
}

func text(_ n: Int) -> String {
    String(format: "pos=%.4f,-112.0740;spd=%d;bat=%d;seq=%d", 33.4484 + Double(n % 100) / 10_000, n % 90, 100 - n % 60, n)
}

let account = "0000123456-00001"

/// Forwards to the Kafka sink and says when `expected` deliveries were confirmed. Without a
/// Kafka sink it confirms every item at once: the journal's outbox alone, for its ceiling.
final class CountingSink: Sink {
    let inner: KafkaSink?
    let expected: Int
    private let state = Mutex<(count: Int, waiter: CheckedContinuation<Void, Never>?)>((0, nil))
    /// Time spent inside the Kafka sink's `deliver` (produce → the batch's last delivery report), and batches.
    let inSink = Mutex<(seconds: Double, batches: Int)>((0, 0))

    init(_ inner: KafkaSink?, expected: Int) {
        self.inner = inner
        self.expected = expected
    }

    var name: String { inner?.name ?? "kafka" }

    func deliver(_ batch: [SinkItem]) async -> [DeliveryOutcome] {
        let started = ContinuousClock.now
        let outcomes = await inner?.deliver(batch) ?? Array(repeating: .delivered, count: batch.count)
        let spent = seconds(ContinuousClock.now - started)
        inSink.withLock { $0.seconds += spent; $0.batches += 1 }
        let done = outcomes.count { $0 == .delivered }
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.count += done
            guard state.count >= expected, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
        return outcomes
    }

    /// Returns once `expected` deliveries were confirmed.
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

    func close() async { await inner?.close() }
}

// MARK: - 1. Throughput: journal → sink → cluster, beside kcat

struct ThroughputRow {
    var name: String
    var seconds: [Double] = []
    /// Records the topic received (sum of the partitions' high watermarks), of the last round.
    var recordsInTopic = 0
    /// Share of the time spent in KafkaSink.deliver, and batches, of the last round.
    var inSink: (share: Double, batches: Int)?
    /// CPU seconds of each round (this process and kcat together).
    var cpu: [Double] = []
}

let cluster = try KafkaMockCluster(brokers: 3)
let bootstrap = cluster.bootstrapServers
let kcat = ["/usr/bin/kcat", "/usr/local/bin/kcat"].first { FileManager.default.isExecutableFile(atPath: $0) }
if kcat == nil { print("kcat not found (apt-get install -y kcat): the reference row is left out") }

/// `count` events in a fresh journal on disk, each with one pending delivery to sink `kafka`.
func journalWithEvents(_ count: Int, folder: URL) async throws -> (SQLiteJournal, [BridgeEvent]) {
    let journal = try SQLiteJournal(path: folder.appendingPathComponent("journal.sqlite").path)
    let received = Date()
    let events = (0..<count).map { n in
        EventNormalizer.normalize(
            MOSMSCallback(deviceIDs: devices[n % devices.count], text: text(n), timestamp: nil),
            account: account, channel: .callback, receivedAt: received
        )
    }
    for start in stride(from: 0, to: count, by: 1000) {
        _ = try await journal.append(events[start..<min(start + 1000, count)].map {
            JournalEntry(event: $0, deliveries: [RoutedDelivery(route: "all", sink: "kafka")])
        })
    }
    return (journal, events)
}

/// The sink's settings for `topic` in the throughput run (`BENCH_LINGER_MS`, default 5).
func sinkConfig(topic: String) -> KafkaSinkConfig {
    let linger = ProcessInfo.processInfo.environment["BENCH_LINGER_MS"].flatMap(Int.init) ?? 5
    return KafkaSinkConfig(brokers: [bootstrap], topic: topic, linger: .milliseconds(linger))
}

/// Runs `body`; returns its value and the CPU seconds it took (this process and the children it waited for).
func measuringCPU<T>(_ body: () async throws -> T) async rethrows -> (value: T, cpu: Double) {
    let before = cpuSeconds()
    let value = try await body()
    return (value, cpuSeconds() - before)
}

/// Times a Dispatcher delivering everything pending in `journal` to a Kafka sink producing to `topic`.
/// With `topic` nil, to a sink that confirms at once (the outbox alone).
func runSink(journal: SQLiteJournal, topic: String?, batchSize: Int, inFlight: Int = 1) async throws -> (seconds: Double, inSink: (share: Double, batches: Int)) {
    let kafka = try topic.map { try KafkaSink(name: "kafka", config: sinkConfig(topic: $0), logger: quiet) }
    let sink = CountingSink(kafka, expected: events)
    let dispatcher = Dispatcher(sink: sink, journal: journal, signal: DeliverySignal(), batchSize: batchSize, batchesInFlight: inFlight, logger: quiet)
    let start = ContinuousClock.now
    let task = Task { try await dispatcher.run() }
    await sink.waitForAll()
    // The last batch's delivered marks are written after its reports: wait for the journal too.
    while try await journal.stats().pendingBySink["kafka", default: 0] > 0 { try await Task.sleep(for: .milliseconds(1)) }
    let elapsed = seconds(ContinuousClock.now - start)
    task.cancel()
    _ = try? await task.value
    await kafka?.close()
    let spent = sink.inSink.withLock { $0 }
    return (elapsed, (spent.seconds / elapsed, spent.batches))
}

/// Times our producer alone (RdKafka's `KafkaProducer`, the sink's producer settings) sending
/// records the sink rendered beforehand, in batches of `batchSize` with `inFlight` at once (the
/// sink's default), until every delivery report is in: librdkafka from Swift, without the journal
/// and without rendering. Returns the seconds, and the records that were not delivered.
func runProducer(_ records: [KafkaProducerMessage], batchSize: Int, inFlight: Int) async throws -> (seconds: Double, failed: Int) {
    let producer = try KafkaProducer(config: sinkConfig(topic: records.first?.topic ?? "unused").producerConfig, logger: quiet)
    // The topic's metadata before the clock starts (the producer would ask for it at the first
    // record), so that the row measures producing, not that round trip and the connections.
    _ = try await producer.metadata(topic: records.first?.topic)
    let start = ContinuousClock.now
    let failed = await withTaskGroup(of: Int.self) { group in
        var next = 0, running = 0, failed = 0
        while next < records.count || running > 0 {
            while running < inFlight, next < records.count {
                let batch = Array(records[next..<min(next + batchSize, records.count)])
                next += batch.count
                running += 1
                group.addTask { await producer.send(batch).count { if case .failure = $0 { true } else { false } } }
            }
            failed += await group.next() ?? 0
            running -= 1
        }
        return failed
    }
    let elapsed = seconds(ContinuousClock.now - start)
    await producer.close(flushTimeout: .seconds(5))
    return (elapsed, failed)
}

/// The records the sink makes for `events`, addressed to `topic`.
func renderedRecords(_ events: [BridgeEvent], topic: String) async throws -> [KafkaProducerMessage] {
    let kafka = try KafkaSink(name: "kafka", config: sinkConfig(topic: topic), logger: quiet)
    let records = try events.enumerated().map { n, event in
        kafka.record(for: SinkItem(deliveryID: Int64(n + 1), route: "all", attempt: 1, event: event, eventJSON: try event.jsonData()))
    }
    await kafka.close()
    return records
}

/// The records the sink produces for `events`, as kcat input: `key<TAB>value` lines, and the
/// first record's headers (kcat sends the same headers with every record).
func kcatInput(_ events: [BridgeEvent], file: URL) async throws -> [KafkaHeader] {
    let records = try await renderedRecords(events, topic: "unused")
    var lines = Data()
    for record in records {
        precondition(!record.value.contains(UInt8(ascii: "\n")) && !record.value.contains(UInt8(ascii: "\t")))
        lines.append(record.key ?? Data())
        lines.append(UInt8(ascii: "\t"))
        lines.append(record.value)
        lines.append(UInt8(ascii: "\n"))
    }
    try lines.write(to: file)
    return records.first?.headers ?? []
}

/// Times `kcat -P` producing every line of `file` to `topic` with the sink's producer settings.
func runKcat(_ kcat: String, file: URL, topic: String, headers: [KafkaHeader]) throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: kcat)
    var args = ["-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-l",
                "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=5", "-X", "compression.codec=none",
                "-X", "message.timeout.ms=30000"]
    for header in headers { args += ["-H", "\(header.name)=\(header.stringValue ?? "")"] }
    process.arguments = args + [file.path]
    let start = ContinuousClock.now
    try process.run()
    process.waitUntilExit()
    let elapsed = seconds(ContinuousClock.now - start)
    guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "kcat exited with \(process.terminationStatus)"]) }
    return elapsed
}

/// How many records `topic` received: the sum of its partitions' high watermarks, from kcat
/// reading each partition's last record (the mock drops old data beyond 5 MiB per partition, so
/// reading everything back would undercount). -1 when unknown.
func recordsIn(_ topic: String) -> Int {
    guard let kcat else { return -1 }
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: kcat)
    process.arguments = ["-C", "-b", bootstrap, "-t", topic, "-o", "-1", "-e", "-q", "-f", "%p %o\n"]
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return -1 }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    var last: [Int: Int] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ").compactMap { Int($0) }
        if parts.count == 2 { last[parts[0]] = max(last[parts[0]] ?? 0, parts[1] + 1) }
    }
    return last.values.reduce(0, +)
}

var kcatRow = ThroughputRow(name: "reference: `kcat -P`, same records, same cluster")
var producerRow = ThroughputRow(name: "our producer alone: RdKafka `KafkaProducer`, the sink's records rendered beforehand, batchSize \(sinkSettings.last!.0), \(sinkSettings.last!.1) in flight (no journal)")
var sinkRows = sinkSettings.map { ThroughputRow(name: "journal → Dispatcher → KafkaSink, batchSize \($0.0), \($0.1) batch(es) in flight\($0 == sinkSettings.last! ? " (default)" : "")") }
let ceilingBatch = sinkSettings.map(\.0).max() ?? 2000
var ceilingRow = ThroughputRow(name: "ceiling: journal → Dispatcher → a sink that confirms at once, batchSize \(ceilingBatch) (outbox read + delivered marks only)", recordsInTopic: -1)
var valueBytes = 0
var keyBytes = 0
var headerBytes = 0
/// `BENCH_CEILING_ONLY=1`: only the ceiling row (for profiling the outbox).
let ceilingOnly = ProcessInfo.processInfo.environment["BENCH_CEILING_ONLY"] == "1"
/// `BENCH_SINK_ONLY=1`: only the default sink row, no kcat, no ceiling (for profiling the sink).
let sinkOnly = ProcessInfo.processInfo.environment["BENCH_SINK_ONLY"] == "1"
/// `BENCH_PRODUCER_ONLY=1`: only our producer's row (for profiling the wrapper).
let producerOnly = ProcessInfo.processInfo.environment["BENCH_PRODUCER_ONLY"] == "1"
for round in 1...rounds {
    for (index, (batchSize, inFlight)) in sinkSettings.enumerated() where !ceilingOnly && (!sinkOnly || index == sinkSettings.count - 1) && (!producerOnly || index == 0) {
        let folder = try temporaryFolder("sink")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (journal, journaled) = try await journalWithEvents(events, folder: folder)
        if let kcat, index == 0, !producerOnly {
            let input = folder.appendingPathComponent("records.tsv")
            let headers = try await kcatInput(journaled, file: input)
            headerBytes = headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
            let topic = "bench.kcat.\(round)"
            try cluster.createTopic(topic, partitions: 3)
            let (kcatSeconds, kcatCPU) = try await measuringCPU { try runKcat(kcat, file: input, topic: topic, headers: headers) }
            kcatRow.seconds.append(kcatSeconds)
            kcatRow.cpu.append(kcatCPU)
            kcatRow.recordsInTopic = recordsIn(topic)
            let lines = try String(contentsOf: input, encoding: .utf8).split(separator: "\n")
            keyBytes = lines.reduce(0) { $0 + ($1.split(separator: "\t", maxSplits: 1).first?.utf8.count ?? 0) } / lines.count
            valueBytes = lines.reduce(0) { $0 + $1.utf8.count } / lines.count - keyBytes - 1
        }
        if index == 0, !sinkOnly {
            let topic = "bench.producer.\(round)"
            try cluster.createTopic(topic, partitions: 3)
            let records = try await renderedRecords(journaled, topic: topic)
            let (result, producerCPU) = try await measuringCPU {
                try await runProducer(records, batchSize: sinkSettings.last!.0, inFlight: sinkSettings.last!.1)
            }
            producerRow.cpu.append(producerCPU)
            if result.failed > 0 { print("our producer alone: \(result.failed) records not delivered") }
            producerRow.seconds.append(result.seconds)
            producerRow.recordsInTopic = recordsIn(topic)
            if producerOnly { continue }
        }
        let topic = "bench.sink.\(index).\(round)"
        try cluster.createTopic(topic, partitions: 3)
        if sinkOnly { FileHandle.standardError.write(Data("sink phase starts\n".utf8)) }  // for a profiler to attach
        let (result, sinkCPU) = try await measuringCPU {
            try await runSink(journal: journal, topic: topic, batchSize: batchSize, inFlight: inFlight)
        }
        sinkRows[index].cpu.append(sinkCPU)
        sinkRows[index].seconds.append(result.seconds)
        sinkRows[index].inSink = result.inSink
        sinkRows[index].recordsInTopic = recordsIn(topic)
        try journal.close()
    }
    if sinkOnly || producerOnly { continue }
    let folder = try temporaryFolder("ceiling")
    defer { try? FileManager.default.removeItem(at: folder) }
    let (journal, _) = try await journalWithEvents(events, folder: folder)
    if ceilingOnly { FileHandle.standardError.write(Data("ceiling phase starts\n".utf8)) }  // for a profiler to attach
    let (result, ceilingCPU) = try await measuringCPU { try await runSink(journal: journal, topic: nil, batchSize: ceilingBatch) }
    ceilingRow.cpu.append(ceilingCPU)
    ceilingRow.seconds.append(result.seconds)
    try journal.close()
}

print("")
print("Kafka throughput: \(events) events, 3-broker mock cluster, 3 partitions, record ≈ \(valueBytes) B value + \(keyBytes) B key + 7 headers (\(headerBytes) B), idempotent, acks=all, linger 5 ms; median of \(rounds)")
print("")
print("| run | events | seconds (median) | events/s | best events/s | records in topic | × kcat | CPU µs per event | cores busy | time in KafkaSink.deliver |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
let kcatRate = kcatRow.seconds.isEmpty ? nil : Double(events) / median(kcatRow.seconds)
for row in [kcatRow, producerRow] + sinkRows + [ceilingRow] where !row.seconds.isEmpty {
    let rate = Double(events) / median(row.seconds)
    let best = Double(events) / (row.seconds.min() ?? .nan)
    let ratio = kcatRate.map { String(format: "%.2f", rate / $0) } ?? "-"
    let sinkShare = row.inSink.map { String(format: "%.0f%% (%d batches, %.1f ms each)", $0.share * 100, $0.batches, $0.share * (row.seconds.last ?? 0) * 1000 / Double(max(1, $0.batches))) } ?? "-"
    // CPU of every thread of this process (journal, sink, librdkafka, the mock brokers) and of kcat.
    let cpu = row.cpu.isEmpty ? "-" : String(format: "%.1f", median(row.cpu) / Double(events) * 1e6)
    let busy = row.cpu.isEmpty ? "-" : String(format: "%.2f", median(row.cpu) / median(row.seconds))
    print("| \(row.name) | \(events) | \(String(format: "%.2f", median(row.seconds))) | \(Int(rate)) | \(Int(best)) | \(row.recordsInTopic < 0 ? "-" : String(row.recordsInTopic)) | \(ratio) | \(cpu) | \(busy) | \(sinkShare) |")
}

// MARK: - 2. Latency: callback → delivery report, through a Gateway

struct Sample: Sendable {
    var due: Date
    var accepted: Date?
    var id: String?
}

func runLatency() async throws {
    let folder = try temporaryFolder("e2e")
    defer { try? FileManager.default.removeItem(at: folder) }
    let topic = "bench.e2e"
    try cluster.createTopic(topic, partitions: 3)
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("routes"), withIntermediateDirectories: true)
    try "routes:\n  - name: all\n    to: [kafka]\n".write(to: folder.appendingPathComponent("routes/all.yaml"), atomically: true, encoding: .utf8)
    let yaml = """
        ingress: { listen: "127.0.0.1:0" }
        admin: { listen: "127.0.0.1:0" }
        dataDir: "\(folder.path)/data"
        routesDir: "\(folder.path)/routes"
        accounts:
          - name: "\(account)"
            callback: { username: thingspace, password: bench-secret }
        sinks:
          kafka: { type: kafka, brokers: "\(bootstrap)", topic: "\(topic)" }
        """
    let configFile = folder.appendingPathComponent("thingbridge.yaml")
    try yaml.write(to: configFile, atomically: true, encoding: .utf8)
    let config = try GatewayConfig.load(path: configFile.path, environment: [:])
    let gateway = try Gateway(config: config, logger: quiet)
    let group = ServiceGroup(configuration: .init(services: [gateway], logger: quiet))
    let gatewayTask = Task { try await group.run() }
    let ingress = await gateway.ingressListenAddress()
    let url = "http://127.0.0.1:\(ingress.port)/callbacks/thingspace/\(account)"

    var clientConfiguration = HTTPClient.Configuration()
    clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

    func post(_ n: Int) async -> (accepted: Date, id: String)? {
        let device = devices[n % devices.count][0]
        let body = """
            {"username":"thingspace","password":"bench-secret","requestId":"e2e-\(n)","deviceIds":[{"id":"\(device.id)","kind":"\(device.kind)"}],\
            "smsMessage":"\(text(n))","callbackCount":1,"maxCallbackThreshold":4}
            """
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        guard let response = try? await client.execute(request, timeout: .seconds(30)), response.status == .ok,
              let bytes = try? await response.body.collect(upTo: 1 << 16) else { return nil }
        let accepted = Date()
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        guard let id = json?["id"] as? String else { return nil }
        return (accepted, id)
    }

    // Warm-up (connections, producer metadata), not counted.
    for n in 0..<50 { _ = await post(1_000_000 + n) }

    // The reader: from the end of the topic (after the warm-up), every record's arrival time by event id.
    let consumer = try KafkaConsumer(bootstrapServers: bootstrap, properties: ["fetch.wait.max.ms": "5", "fetch.error.backoff.ms": "5"])
    try await Task.sleep(for: .milliseconds(500))  // the warm-up's records are in before the reader starts at the end
    try await consumer.assignAll(topic: topic, from: .end)
    let expected = latencySeconds * latencyRate
    let reader = Task { () -> [String: Date] in
        var seen: [String: Date] = [:]
        let deadline = Date().addingTimeInterval(Double(latencySeconds) + 60)
        while seen.count < expected, Date() < deadline {
            guard let message = try? await consumer.poll(timeout: .milliseconds(50)),
                  let id = message.header("ce_id").flatMap({ String(data: $0.value ?? Data(), encoding: .utf8) }) else { continue }
            seen[id] = seen[id] ?? Date()
        }
        return seen
    }

    let total = latencySeconds * latencyRate
    let startDate = Date()
    let start = ContinuousClock.now
    let samples = await withTaskGroup(of: (Int, (accepted: Date, id: String)?).self) { tasks -> [Sample] in
        var samples = (0..<total).map { Sample(due: startDate.addingTimeInterval(Double($0) / Double(latencyRate))) }
        var sent = 0
        while sent < total {
            let owed = min(total, Int(seconds(ContinuousClock.now - start) * Double(latencyRate)) + 1)
            while sent < owed {
                let n = sent
                tasks.addTask { (n, await post(n)) }
                sent += 1
            }
            try? await Task.sleep(for: .microseconds(500))
        }
        for await (n, result) in tasks {
            samples[n].accepted = result?.accepted
            samples[n].id = result?.id
        }
        return samples
    }
    let sendSeconds = seconds(ContinuousClock.now - start)
    while try await gateway.journal.stats().pendingBySink["kafka", default: 0] > 0 { try await Task.sleep(for: .milliseconds(10)) }
    let delivered = await reader.value
    try await client.shutdown()
    await group.triggerGracefulShutdown()
    _ = try? await gatewayTask.value

    var ack: [Double] = []
    var endToEnd: [Double] = []
    var failed = 0
    for sample in samples {
        guard let accepted = sample.accepted, let id = sample.id, let at = delivered[id] else {
            failed += 1
            continue
        }
        ack.append(accepted.timeIntervalSince(sample.due) * 1000)
        endToEnd.append(at.timeIntervalSince(sample.due) * 1000)
    }
    ack.sort()
    endToEnd.sort()
    let records = recordsIn(topic)
    print("")
    print("Kafka end to end: \(total) callbacks at \(latencyRate)/s (open loop, sent in \(String(format: "%.1f", sendSeconds)) s) through a Gateway (journal fsync) into the mock cluster; latency in ms from when each POST was due")
    print("")
    print("| measured | count | p50 | p90 | p99 | p99.9 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    func row(_ name: String, _ values: [Double]) {
        let cells = [0.5, 0.9, 0.99, 0.999].map { String(format: "%.1f", percentile(values, $0)) } + [String(format: "%.1f", values.last ?? .nan)]
        print("| \(name) | \(values.count) | \(cells.joined(separator: " | ")) |")
    }
    row("callback answered 200 (journaled)", ack)
    row("record read back from the topic by a consumer", endToEnd)
    print("")
    print("failed or undelivered: \(failed); records in topic \(topic): \(records) (incl. 50 warm-up)")
}

if latencySeconds > 0 { try await runLatency() }
withExtendedLifetime(cluster) {}
