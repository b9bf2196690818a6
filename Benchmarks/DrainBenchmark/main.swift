//===----------------------------------------------------------------------===//
// ThingBridge — benchmark: history poller drain speed
//===----------------------------------------------------------------------===//
//
// Queues N messages in the in-process ThingSpace simulator and times draining them, side by
// side with a reference in the same run:
//   reference  — the ThingSpace client reading and acknowledging every page, storing nothing
//                (the upstream + HTTP + JSON cost alone);
//   poller     — the real HistoryPoller: each page normalized, routed and committed to the
//                SQLite journal (WAL, synchronous=FULL) before its acknowledgement is sent.
// Prints a table. Usage: DrainBenchmark [messages] [rounds]

import BridgeCore
import BridgeGateway
import Foundation
import Logging
import ServiceLifecycle
import ThingSpace
import ThingSpaceSimulator

let arguments = CommandLine.arguments
let messages = arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3

let quiet: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}()

struct Row {
    var name: String
    var seconds: [Double]
    var messages: Int
    var pages: Int
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

let rows = try await ThingSpaceSimulator.withRunning(logger: quiet) { simulator in
    let address = await simulator.listenAddress()
    let account = SimulatorConfig.defaultAccount
    let clientConfig = ThingSpaceClientConfig(
        baseURL: address.apiRoot, appKey: SimulatorConfig.defaultClientKey, appSecret: SimulatorConfig.defaultClientSecret,
        username: SimulatorConfig.defaultUsername, password: SimulatorConfig.defaultPassword
    )
    var reference = Row(name: "reference: client reads + acks pages, stores nothing", seconds: [], messages: 0, pages: 0)
    var poller = Row(name: "poller, backlog sent over time (1 s per 100 messages)", seconds: [], messages: 0, pages: 0)
    var burst = Row(name: "poller, backlog sent in one burst (same second)", seconds: [], messages: 0, pages: 0)

    /// Queues `messages`; `spread` advances ThingSpace's clock one second per 100 messages, as a
    /// backlog that built up over time has (timestamps are part of a message's identity).
    func queue(spread: Bool) async throws {
        if !spread {
            try await simulator.sendMO(account: account, message: "bench", count: messages, deliver: .queue)
            return
        }
        for _ in stride(from: 0, to: messages, by: 100) {
            try await simulator.sendMO(account: account, message: "bench", count: 100, deliver: .queue)
            simulator.advanceClock(by: .seconds(1))
        }
    }

    /// Drains the queue with a real poller into a fresh journal on disk.
    func drainIntoJournal(round: Int, into row: inout Row) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("drain-bench-\(round)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = try SQLiteJournal(path: folder.appendingPathComponent("journal.sqlite").path)
        let routes = RouteSet(routes: [Route(name: "all", to: [Destination(sink: "archive")])])
        let ingest = Ingest(journal: journal, routes: routes, signals: [:], logger: quiet)
        let historyPoller = HistoryPoller(
            account: account, settings: PollerSettings(mode: .pollOnly, maxPagesPerDrain: 1_000_000),
            client: ThingSpaceClient(config: clientConfig, logger: quiet), ingest: ingest, logger: quiet
        )
        let start = ContinuousClock.now
        let report = await historyPoller.drain()
        row.seconds.append(seconds(ContinuousClock.now - start))
        row.messages = report.stored
        row.pages = report.pages
        if let error = report.error { print("poller error: \(error)") }
        let stats = try await journal.stats()
        if stats.events != messages { print("WARNING: journal holds \(stats.events) events, expected \(messages)") }
        try journal.close()
    }

    for round in stride(from: 1, through: rounds, by: 1) {
        // Reference.
        try await queue(spread: true)
        let client = ThingSpaceClient(config: clientConfig, logger: quiet)
        let start = ContinuousClock.now
        var token: String?
        var read = 0, pages = 0
        repeat {
            let page = try await client.historyPage(account: account, next: token)
            read += page.page.messages.count
            pages += 1
            token = page.nextToken
        } while token != nil
        reference.seconds.append(seconds(ContinuousClock.now - start))
        reference.messages = read
        reference.pages = pages

        try await queue(spread: true)
        try await drainIntoJournal(round: round, into: &poller)
        try await queue(spread: false)
        try await drainIntoJournal(round: round, into: &burst)
    }
    return [reference, poller, burst]
}

// Where a page's time goes, without HTTP: normalizing, encoding, and committing to the journal.
var phases: [(String, Double, Double)] = []
/// CPU seconds (user + system) of the whole process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
do {
    let device = [DeviceID(kind: "mdn", id: "7022895555"), DeviceID(kind: "esn", id: "60E5F99D")]
    let batch = (0..<messages).map { n in
        MOSMSCallback(deviceIDs: device, text: "bench #\(n)", timestamp: "2026-11-29T02:13:\(String(format: "%02d", n % 60))-08:00")
    }
    var start = ContinuousClock.now
    var cpu = cpuSeconds()
    var events: [BridgeEvent] = []
    events.reserveCapacity(messages)
    for message in batch {
        events.append(EventNormalizer.normalize(message, account: "0000123456-00001", channel: .poll, receivedAt: Date()))
    }
    phases.append(("normalize (id, times, CloudEvent)", seconds(ContinuousClock.now - start), cpuSeconds() - cpu))
    start = ContinuousClock.now
    cpu = cpuSeconds()
    for event in events { _ = try event.jsonData() }
    phases.append(("encode CloudEvent JSON", seconds(ContinuousClock.now - start), cpuSeconds() - cpu))
    /// Appends every event, 100 per transaction, into a fresh journal; returns wall and CPU seconds.
    func appendAll(backgroundCheckpoints: Bool) async throws -> (Double, Double) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("append-bench-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = try SQLiteJournal(path: folder.appendingPathComponent("journal.sqlite").path, backgroundCheckpoints: backgroundCheckpoints)
        let start = ContinuousClock.now
        let cpu = cpuSeconds()
        for page in stride(from: 0, to: events.count, by: 100) {
            let entries = events[page..<min(page + 100, events.count)].map {
                JournalEntry(event: $0, deliveries: [RoutedDelivery(route: "all", sink: "archive")])
            }
            _ = try await journal.append(entries)
        }
        let result = (seconds(ContinuousClock.now - start), cpuSeconds() - cpu)
        try journal.close()
        return result
    }
    // Alternated, best of two each, so that both see the same machine.
    var inline: [(Double, Double)] = [], background: [(Double, Double)] = []
    for _ in 0..<2 {
        inline.append(try await appendAll(backgroundCheckpoints: false))
        background.append(try await appendAll(backgroundCheckpoints: true))
    }
    let bestInline = inline.min { $0.0 < $1.0 }!, bestBackground = background.min { $0.0 < $1.0 }!
    phases.append(("journal append, 100 per transaction, checkpoints inside commits (SQLite's automatic)", bestInline.0, bestInline.1))
    phases.append(("journal append, 100 per transaction, checkpoints on their own thread (shipped)", bestBackground.0, bestBackground.1))
}

print("")
print("Where the time goes, \(messages) messages, no HTTP")
print("")
print("| phase | seconds | CPU seconds | messages/s |")
print("|---|---:|---:|---:|")
for (name, time, cpu) in phases {
    print(String(format: "| %@ | %.2f | %.2f | %.0f |", name, time, cpu, Double(messages) / time))
}

print("")
print("History drain, \(messages) queued messages, 100 per page, median of \(rounds) rounds (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
print("")
print("| run | messages | pages | seconds (median) | messages/s | best messages/s |")
print("|---|---:|---:|---:|---:|---:|")
for row in rows where !row.seconds.isEmpty {
    let med = median(row.seconds)
    let best = row.seconds.min() ?? med
    print(String(format: "| %@ | %d | %d | %.2f | %.0f | %.0f |", row.name, row.messages, row.pages, med, Double(row.messages) / med, Double(row.messages) / best))
}
print("")
