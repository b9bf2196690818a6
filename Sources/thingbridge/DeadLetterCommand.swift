//===----------------------------------------------------------------------===//
// ThingBridge — `thingbridge dlq`: dead letters
//===----------------------------------------------------------------------===//

import ArgumentParser
import BridgeCore
import BridgeGateway
import Foundation

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show, replay or purge dead letters (deliveries that will not be retried).",
        discussion: """
        Works on the journal named by the config, also while the gateway runs: replayed deliveries are picked up
        by the running dispatchers within a second.
        """,
        subcommands: [List.self, Show.self, Replay.self, Purge.self]
    )

    /// Filters shared by list, replay and purge.
    struct Filters: ParsableArguments {
        @Option(name: .customLong("id"), help: "A dead letter's id (repeatable).")
        var ids: [Int64] = []

        @Option(help: "Only this sink.")
        var sink: String?

        @Option(help: "Only this route.")
        var route: String?

        @Option(help: "Only devices matching this glob (the event's subject), e.g. '70228*'.")
        var device: String?

        @Option(help: "Dead-lettered at or after: RFC 3339 time, or an age such as 2h or 7d.")
        var since: String?

        @Option(help: "Dead-lettered before: RFC 3339 time, or an age such as 30m.")
        var until: String?

        func filter() throws -> DeadLetterFilter {
            DeadLetterFilter(
                ids: ids.isEmpty ? nil : ids, sink: sink, route: route, device: device,
                since: try since.map { try Self.time($0, name: "--since") },
                until: try until.map { try Self.time($0, name: "--until") }
            )
        }

        var isEmpty: Bool { ids.isEmpty && sink == nil && route == nil && device == nil && since == nil && until == nil }

        static func time(_ text: String, name: String) throws -> Date {
            if let date = Timestamps.parse(text) { return date }
            if let age = ConfigDuration(parsing: text) {
                return Date().addingTimeInterval(-Double(age.duration.components.seconds))
            }
            throw ValidationError("\(name) expects an RFC 3339 time or an age such as 2h, got '\(text)'")
        }
    }

    static func openJournal(_ options: ConfigOptions) throws -> SQLiteJournal {
        let config = try options.load()
        return try config.openJournal()
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")

        @OptionGroup var options: ConfigOptions
        @OptionGroup var filters: Filters

        @Option(help: "At most this many.")
        var limit = 100

        func run() async throws {
            let journal = try DeadLetters.openJournal(options)
            let letters = try await journal.deadLetters(try filters.filter(), limit: limit)
            if letters.isEmpty { print("no dead letters") }
            for letter in letters {
                let when = letter.deadAt.map(Timestamps.format) ?? "-"
                print("\(letter.id)  \(when)  sink=\(letter.sink) route=\(letter.route) device=\(letter.subject) attempts=\(letter.attempts)  \(letter.reason.prefix(120))")
            }
            try journal.close()
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter: its event, reason and attempt history.")

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The dead letter's id (from `dlq list`).")
        var id: Int64

        func run() async throws {
            let journal = try DeadLetters.openJournal(options)
            defer { try? journal.close() }
            guard let (letter, eventJSON, attempts) = try await journal.deadLetter(id: id) else {
                printError("no dead letter with id \(id)")
                throw ExitCode(1)
            }
            print("dead letter \(letter.id): event \(letter.eventID)")
            print("  sink \(letter.sink), route \(letter.route), account \(letter.account), device \(letter.subject)")
            print("  received \(letter.receivedAt), dead-lettered \(letter.deadAt.map(Timestamps.format) ?? "-") after \(letter.attempts) attempt(s)")
            print("  reason: \(letter.reason)")
            if !attempts.isEmpty {
                print("  attempts:")
                for attempt in attempts { print("    \(Timestamps.format(attempt.at))  \(attempt.outcome)  \(attempt.error.prefix(200))") }
            }
            print("  event: \(String(decoding: eventJSON, as: UTF8.self))")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put dead letters back in the outbox, due now, with a fresh retry budget.")

        @OptionGroup var options: ConfigOptions
        @OptionGroup var filters: Filters

        @Flag(help: "Replay every dead letter when no filter is given.")
        var all = false

        func run() async throws {
            guard !filters.isEmpty || all else { throw ValidationError("give a filter (--id, --sink, --route, --device, --since, --until) or --all") }
            let journal = try DeadLetters.openJournal(options)
            let count = try await journal.replayDeadLetters(try filters.filter())
            print("replayed \(count) dead letter(s)")
            try journal.close()
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good (the events stay in the journal).")

        @OptionGroup var options: ConfigOptions
        @OptionGroup var filters: Filters

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        func run() async throws {
            let journal = try DeadLetters.openJournal(options)
            defer { try? journal.close() }
            let filter = try filters.filter()
            let matching = try await journal.deadLetters(filter, limit: Int.max).count
            if matching == 0 {
                print("no dead letters match")
                return
            }
            if !yes {
                guard isatty(0) == 1 else {
                    printError("refusing to purge \(matching) dead letter(s) without confirmation: add --yes")
                    throw ExitCode(1)
                }
                print("purge \(matching) dead letter(s)? type 'yes': ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    print("nothing purged")
                    return
                }
            }
            let count = try await journal.purgeDeadLetters(filter)
            print("purged \(count) dead letter(s)")
        }
    }
}
