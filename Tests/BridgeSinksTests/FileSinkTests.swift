import BridgeCore
import BridgeSinks
import Foundation
import Logging
import Testing
import TestSupport
import ThingSpace

@Suite struct FileSinkTests {
    static func item(_ n: Int, account: String = "0000123456-00001", route: String = "r", text: String? = nil) throws -> SinkItem {
        let event = EventNormalizer.normalize(
            MOSMSCallback(requestID: "req-\(n)", deviceIDs: [DeviceID(kind: "mdn", id: "7022895555")], text: text ?? "message \(n)"),
            account: account, channel: .callback, receivedAt: Date(timeIntervalSince1970: 1_795_000_000)
        )
        return SinkItem(deliveryID: Int64(n), route: route, attempt: 1, event: event, eventJSON: try event.jsonData())
    }

    let logger = Logger(label: "test")

    @Test func writesOneCloudEventPerLineAtThePatternPath() async throws {
        try await withTemporaryDirectory { directory in
            let sink = FileSink(name: "archive", config: FileSinkConfig(path: "out/{sink}/{account}/{route}-{date}.jsonl"), dataDirectory: directory.url, logger: logger)
            let items = try [Self.item(1), Self.item(2, account: "0000999999-00001"), Self.item(3)]
            let outcomes = await sink.deliver(items)
            #expect(outcomes == [.delivered, .delivered, .delivered])
            let first = directory.appending("out/archive/0000123456-00001/r-2026-11-18.jsonl")
            let second = directory.appending("out/archive/0000999999-00001/r-2026-11-18.jsonl")
            let lines = try readJSONLines(first)
            #expect(lines.map { ($0["data"] as? [String: Any])?["text"] as? String } == ["message 1", "message 3"])
            #expect(lines.allSatisfy { $0["specversion"] as? String == "1.0" })
            #expect(try readJSONLines(second).count == 1)
            await sink.close()
        }
    }

    @Test func appendsAcrossBatchesAndReopens() async throws {
        try await withTemporaryDirectory { directory in
            let config = FileSinkConfig(path: "e.jsonl")
            let sink = FileSink(name: "s", config: config, dataDirectory: directory.url, logger: logger)
            _ = await sink.deliver([try Self.item(1)])
            await sink.close()
            let again = FileSink(name: "s", config: config, dataDirectory: directory.url, logger: logger)
            _ = await again.deliver([try Self.item(2)])
            await again.close()
            #expect(try readJSONLines(directory.appending("e.jsonl")).count == 2)
        }
    }

    @Test func rotatesBySize() async throws {
        try await withTemporaryDirectory { directory in
            let sink = FileSink(name: "s", config: FileSinkConfig(path: "e.jsonl", maxFileSize: ByteSize(bytes: 1024)), dataDirectory: directory.url, logger: logger)
            // Each line is ~500 bytes: two fit in 1 KiB, the third rotates.
            for n in 1...5 {
                let outcomes = await sink.deliver([try Self.item(n, text: String(repeating: "x", count: 120))])
                #expect(outcomes == [.delivered])
            }
            await sink.close()
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            #expect(names.contains("e.jsonl"))
            #expect(names.contains("e.1.jsonl"))
            var total = 0
            for name in names {
                let size = try FileManager.default.attributesOfItem(atPath: directory.appending(name).path)[.size] as? Int ?? 0
                #expect(size <= 1024)
                total += try readJSONLines(directory.appending(name)).count
            }
            #expect(total == 5)
        }
    }

    @Test func aFailedWriteIsRetriableAndLeavesNoPartialLine() async throws {
        try await withTemporaryDirectory { directory in
            // The target path is a folder: open(2) fails with EISDIR, a real I/O error.
            try FileManager.default.createDirectory(at: directory.appending("blocked.jsonl"), withIntermediateDirectories: true)
            let sink = FileSink(name: "s", config: FileSinkConfig(path: "{route}.jsonl"), dataDirectory: directory.url, logger: logger)
            let outcomes = await sink.deliver([try Self.item(1, route: "blocked"), try Self.item(2, route: "fine")])
            guard case .retriable(let reason, _) = outcomes[0] else { Issue.record("expected retriable, got \(outcomes[0])"); return }
            #expect(reason.contains("Is a directory"))
            #expect(outcomes[1] == .delivered)
            #expect(try readJSONLines(directory.appending("fine.jsonl")).count == 1)
            await sink.close()
        }
    }

    @Test func placeholderValuesCannotEscapeTheFolder() async throws {
        let sink = FileSink(name: "s", config: FileSinkConfig(path: "{account}/x.jsonl"), dataDirectory: URL(fileURLWithPath: "/data"), logger: logger)
        #expect(sink.path(for: try Self.item(1, account: "../../etc")) == "/data/.._.._etc/x.jsonl")
        #expect(sink.path(for: try Self.item(1, account: "..")) == "/data/_/x.jsonl")
    }

    @Test func everyPlaceholderIsFilledAndOtherBracesAreKept() async throws {
        let config = FileSinkConfig(path: "{sink}/{route}/{date}-{account}{other}.jsonl")
        let relative = FileSink(name: "arch", config: config, dataDirectory: URL(fileURLWithPath: "/data/"), logger: logger)
        // 1_795_000_000 is 2026-11-18 UTC.
        #expect(relative.path(for: try Self.item(1, route: "r/1")) == "/data/arch/r_1/2026-11-18-0000123456-00001{other}.jsonl")
        let absolute = FileSink(name: "s", config: FileSinkConfig(path: "/var/x/{account}.jsonl"), dataDirectory: URL(fileURLWithPath: "/data"), logger: logger)
        #expect(absolute.path(for: try Self.item(1)) == "/var/x/0000123456-00001.jsonl")
    }
}

@Suite struct FileSinkCrashRecoveryTests {
    @Test func aPartialLineLeftByACrashIsCutBeforeAppending() async throws {
        try await withTemporaryDirectory { directory in
            let file = directory.appending("e.jsonl")
            let whole = try FileSinkTests.item(1).eventJSON
            // What a kill in the middle of a write leaves: one whole line, then half of the next.
            var bytes = Data(whole)
            bytes.append(0x0A)
            bytes.append(try FileSinkTests.item(2).eventJSON.prefix(40))
            try bytes.write(to: file)
            let sink = FileSink(name: "s", config: FileSinkConfig(path: "e.jsonl"), dataDirectory: directory.url, logger: Logger(label: "t"))
            #expect(await sink.deliver([try FileSinkTests.item(2)]) == [.delivered])
            await sink.close()
            let lines = try readJSONLines(file)
            #expect(lines.compactMap { ($0["data"] as? [String: Any])?["text"] as? String } == ["message 1", "message 2"])
        }
    }
}
