//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the control API (/simulator/…)
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import NIOCore
import Synchronization
import ThingSpace

extension ThingSpaceSimulator {
    /// The test-only control API: no auth, JSON in and out, errors as `{"error": "..."}`
    /// (400 bad request, 404 unknown account or user). Unknown JSON keys are rejected so
    /// that a typo in a fault never silently does nothing.
    func registerControlRoutes(on router: Router<BasicRequestContext>) {
        router.post("/simulator/mo") { request, _ in
            let body: MOSendRequest = try await Self.controlBody(request, keys: ["account", "deviceIds", "message", "count", "deliver"])
            do throws(SimulatorError) {
                return Reply.json(try await self.sendMO(body))
            } catch {
                return Self.controlError(error)
            }
        }

        router.post("/simulator/startCallbacks/:account") { _, context in
            let account = try context.parameters.require("account")
            do throws(SimulatorError) {
                return Reply.json(try await self.startCallbacks(account: account))
            } catch {
                return Self.controlError(error)
            }
        }

        router.get("/simulator/stats") { _, _ in Reply.json(self.stats()) }

        router.get("/simulator/faults") { _, _ in Reply.json(self.faults()) }

        router.post("/simulator/faults") { request, _ in
            let body: FaultRequest = try await Self.controlBody(request, keys: FaultRequest.keys)
            let faults: [SimulatorFault]
            do throws(SimulatorError) {
                faults = try body.faults()
            } catch {
                return Reply.controlError(error.message)
            }
            for fault in faults { self.inject(fault) }
            return Reply.json(self.faults())
        }

        router.delete("/simulator/faults") { _, _ in
            self.clearFaults()
            return Reply.json(self.faults())
        }

        router.get("/simulator/clock") { _, _ in Reply.json(self.clockAnswer()) }

        router.post("/simulator/clock/advance") { request, _ in
            struct Advance: Decodable { var seconds: Double }
            let body: Advance = try await Self.controlBody(request, keys: ["seconds"])
            guard body.seconds >= 0, body.seconds.isFinite else {
                return Reply.controlError("seconds must be zero or more (the clock only moves forward)")
            }
            self.advanceClock(by: .milliseconds(Int64((body.seconds * 1000).rounded())))
            return Reply.json(self.clockAnswer())
        }

        router.post("/simulator/users/:username/unlock") { _, context in
            let username = try context.parameters.require("username")
            guard self.unlockUser(username) else {
                return Reply.controlError("unknown user '\(username)'", status: .notFound)
            }
            return Reply.json(UnlockAnswer(username: username, locked: false))
        }

        router.get("/simulator/mt") { _, _ in Reply.json(self.mtMessages()) }

        router.get("/simulator/accounts") { _, _ in
            let stats = self.stats()
            let accounts = self.config.accounts.map { account in
                AccountAnswer(
                    name: account.name, devices: self.devices(account: account.name),
                    listeners: self.listeners(account: account.name), queued: stats[account.name].queued
                )
            }
            return Reply.json(accounts)
        }
    }

    private struct UnlockAnswer: Encodable {
        var username: String
        var locked: Bool
    }

    private struct ClockAnswer: Encodable {
        /// Simulator time, RFC 3339.
        var now: String
        /// Total seconds the clock was advanced.
        var offsetSeconds: Double
    }

    private struct AccountAnswer: Encodable {
        var name: String
        var devices: [[DeviceID]]
        var listeners: [CallbackListener]
        var queued: Int
    }

    private func clockAnswer() -> ClockAnswer {
        state.withLock { ClockAnswer(now: $0.timestamp($0.now()), offsetSeconds: $0.clockOffset) }
    }

    private static func controlError(_ error: SimulatorError) -> Response {
        let status: HTTPResponse.Status = error.code == "unknown_account" ? .notFound : .badRequest
        return Reply.controlError(error.message, status: status)
    }

    /// Decodes a control body, rejecting keys outside `keys`.
    /// - Throws: ``EarlyResponse`` 400 with `{"error": ...}`.
    static func controlBody<T: Decodable>(_ request: Request, keys: Set<String>) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBodySize)
        let data = buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EarlyResponse(Reply.controlError("the body must be a JSON object"))
        }
        let unknown = Set(object.keys).subtracting(keys)
        guard unknown.isEmpty else {
            throw EarlyResponse(Reply.controlError(
                "unknown key(s) \(unknown.sorted().joined(separator: ", ")); known: \(keys.sorted().joined(separator: ", "))"
            ))
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw EarlyResponse(Reply.controlError("invalid body: \(describe(error))"))
        }
    }
}

/// `POST /simulator/faults` body; every key optional, several at once allowed.
struct FaultRequest: Decodable {
    struct Span: Decodable {
        var count: Int?
        var seconds: Double?
    }

    struct HTTPErrorRule: Decodable {
        var status: Int
        var pathPrefix: String?
        var count: Int?
    }

    var callbackFailure: Span?
    var callbackTimeout: Span?
    var duplicatePushes: Int?
    var outOfOrder: Int?
    var httpError: HTTPErrorRule?
    var httpErrors: [HTTPErrorRule]?
    var expireBearerTokens: Bool?
    var expireSessions: Bool?

    static let keys: Set<String> = [
        "callbackFailure", "callbackTimeout", "duplicatePushes", "outOfOrder", "httpError", "httpErrors",
        "expireBearerTokens", "expireSessions",
    ]

    func faults() throws(SimulatorError) -> [SimulatorFault] {
        func span(_ span: Span, _ name: String) throws(SimulatorError) -> FaultSpan {
            switch (span.count, span.seconds) {
            case (let count?, nil) where count > 0: return .next(count)
            case (nil, let seconds?) where seconds > 0 && seconds.isFinite:
                return .duration(.milliseconds(Int64((seconds * 1000).rounded())))
            default: throw .invalid("\(name) needs exactly one of count (> 0) or seconds (> 0)")
            }
        }
        var faults: [SimulatorFault] = []
        if let callbackFailure { faults.append(.callbackFailure(try span(callbackFailure, "callbackFailure"))) }
        if let callbackTimeout { faults.append(.callbackTimeout(try span(callbackTimeout, "callbackTimeout"))) }
        if let duplicatePushes {
            guard duplicatePushes >= 0 else { throw .invalid("duplicatePushes must be zero or more") }
            faults.append(.duplicatePushes(count: duplicatePushes))
        }
        if let outOfOrder {
            guard outOfOrder >= 0 else { throw .invalid("outOfOrder must be zero or more") }
            faults.append(.outOfOrder(count: outOfOrder))
        }
        for rule in (httpError.map { [$0] } ?? []) + (httpErrors ?? []) {
            guard (400...599).contains(rule.status) else { throw .invalid("httpError status must be 400...599, found \(rule.status)") }
            let count = rule.count ?? 1
            guard count > 0 else { throw .invalid("httpError count must be more than zero") }
            let prefix = rule.pathPrefix ?? "/api/"
            guard prefix.hasPrefix("/") else { throw .invalid("httpError pathPrefix must start with '/'") }
            faults.append(.httpError(status: rule.status, pathPrefix: prefix, count: count))
        }
        if expireBearerTokens == true { faults.append(.expireBearerTokens) }
        if expireSessions == true { faults.append(.expireSessions) }
        if faults.isEmpty { throw .invalid("no fault given; known keys: \(Self.keys.sorted().joined(separator: ", "))") }
        return faults
    }
}
