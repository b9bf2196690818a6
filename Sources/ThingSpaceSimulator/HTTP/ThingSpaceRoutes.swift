//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: the fake upstream endpoints
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import NIOCore
import Synchronization
import ThingSpace

extension ThingSpaceSimulator {
    static let m2m = "/api/m2m/v1"
    static let maxBodySize = 1 << 20

    /// The ThingSpace endpoints (thingspace-api.md §1–§2), each checking in order: bearer,
    /// session (all but login), account, body.
    func registerThingSpaceRoutes(on router: Router<BasicRequestContext>) {
        router.post("/api/ts/v1/oauth2/token") { request, _ in try await self.token(request) }

        router.post("\(Self.m2m)/session/login") { request, _ in
            try self.authorize(request, requiresSession: false)
            let body: LoginRequest = try await Self.decode(request)
            let result = self.state.withLock { state in state.login(body, now: state.now()) }
            switch result {
            case .success(let token): return Reply.json(SessionTokenBody(sessionToken: token))
            case .failure(let denial): return Reply.denial(denial)
            }
        }

        router.post("\(Self.m2m)/session/logout") { request, _ in
            try self.authorize(request)
            let token = Self.sessionToken(request) ?? ""
            self.state.withLock { $0.logout(token) }
            return Reply.json(SessionTokenBody(sessionToken: token))
        }

        router.post("\(Self.m2m)/callbacks/:account") { request, context in
            let account = try context.parameters.require("account")
            try self.authorize(request, account: account)
            let body: RegisterCallbackRequest = try await Self.decode(request)
            guard ErrorCode.serviceNames.contains(body.name) else {
                return Reply.envelope(.simulator(ErrorCode.serviceNameInvalid, "'\(body.name)' is not a callback service name"))
            }
            guard let url = URL(string: body.url), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                return Reply.envelope(.simulator(ErrorCode.callbackURLInvalid, "'\(body.url)' is not an absolute http(s) URL"))
            }
            return Reply.json(self.state.withLock { $0.register(body, account: account) })
        }

        router.get("\(Self.m2m)/callbacks/:account") { request, context in
            let account = try context.parameters.require("account")
            try self.authorize(request, account: account)
            let listeners = self.state.withLock { $0.listeners(account: account) }
            if listeners.isEmpty, self.config.emptyListenerList == .emptyBody {
                return Response(status: .ok)
            }
            return Reply.json(listeners)
        }

        router.delete("\(Self.m2m)/callbacks/:account/name/:serviceName") { request, context in
            let account = try context.parameters.require("account")
            let serviceName = try context.parameters.require("serviceName")
            try self.authorize(request, account: account)
            guard let result = self.state.withLock({ $0.deregister(serviceName: serviceName, account: account) }) else {
                return Reply.envelope(.simulator(ErrorCode.callbackNotRegistered, "no '\(serviceName)' listener is registered for account '\(account)'"))
            }
            return Reply.json(result)
        }

        router.get("\(Self.m2m)/sms/:account/history") { request, context in
            let account = try context.parameters.require("account")
            try self.authorize(request, account: account)
            let next = request.uri.queryParameters["next"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let session = Self.sessionToken(request)
            let answer = self.state.withLock { $0.history(account: account, next: next, session: session) }
            guard let token = answer.nextToken else { return Reply.page(answer.page) }
            // Relative to the M2M root, exactly as ThingSpace writes it.
            return Reply.page(answer.page, status: .accepted, headers: [.location: "/sms/\(account)/history?next=\(token)"])
        }

        router.put("\(Self.m2m)/sms/:account/startCallbacks") { request, context in
            let account = try context.parameters.require("account")
            try self.authorize(request, account: account)
            guard self.state.withLock({ $0.hasMOListener(account: account) }) else {
                return Reply.envelope(.simulator(
                    ErrorCode.callbackNotRegistered,
                    "no \(CallbackServiceName.enhancedConnectivity) listener is registered for account '\(account)'"
                ))
            }
            self.startCallbacksInBackground(account: account)
            return Reply.json(SuccessBody(success: true))
        }

        router.post("\(Self.m2m)/sms") { request, _ in
            try self.authorize(request)
            let body: SendSMSRequest = try await Self.decode(request) { error in
                // A missing or null text is the documented "SmsMessage.Null", not a malformed request.
                switch error {
                case .keyNotFound(let key, _) where key.stringValue == "smsMessage":
                    return .simulator(ErrorCode.smsNull, "smsMessage is missing")
                case .valueNotFound(_, let context) where context.codingPath.last?.stringValue == "smsMessage":
                    return .simulator(ErrorCode.smsNull, "smsMessage is null")
                default:
                    return Self.defaultShapeError(error)
                }
            }
            let result = self.state.withLock { state in state.sendMT(body, now: state.now()) }
            switch result {
            case .success(let id): return Reply.json(RequestIDBody(requestId: id))
            case .failure(let denial): return Reply.denial(denial)
            }
        }
    }

    // MARK: - OAuth

    /// `POST /api/ts/v1/oauth2/token`: Basic client credentials, form `grant_type=client_credentials`.
    private func token(_ request: Request) async throws -> Response {
        guard let header = request.headers[.authorization], let encoded = SimulatorState.credential(header, scheme: "Basic") else {
            return Reply.json(GatewayFaultBody.missingCredentials, status: .unauthorized)
        }
        let invalidClient = Reply.json(OAuthErrorBody(error: "invalid_client", errorDescription: "Client authentication failed"), status: .unauthorized)
        guard let decoded = Data(base64Encoded: encoded).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":")
        else { return invalidClient }
        let key = String(decoded[..<colon])
        let secret = String(decoded[decoded.index(after: colon)...])
        var request = request
        let body = try await request.collectBody(upTo: Self.maxBodySize)
        let form = Self.parseForm(String(buffer: body))
        guard let grant = form["grant_type"], !grant.isEmpty else {
            return Reply.json(OAuthErrorBody(error: "invalid_request", errorDescription: "grant_type is required"), status: .badRequest)
        }
        guard grant == "client_credentials" else {
            return Reply.json(OAuthErrorBody(error: "unsupported_grant_type", errorDescription: "only client_credentials is supported"), status: .badRequest)
        }
        guard var token = state.withLock({ state in state.token(clientKey: key, secret: secret, now: state.now()) }) else {
            return invalidClient
        }
        token.scope = form["scope"].flatMap { $0.isEmpty ? nil : $0 }
        return Reply.json(token)
    }

    /// Parses `application/x-www-form-urlencoded` (`+` is a space, `%XX` escapes).
    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    // MARK: - Checks

    static func sessionToken(_ request: Request) -> String? {
        request.headers.first { $0.name.canonicalName == "vz-m2m-token" }?.value
    }

    /// Checks bearer, session (unless `requiresSession` is false) and account.
    /// - Throws: ``EarlyResponse`` with the 401 fault or 400 envelope.
    func authorize(_ request: Request, requiresSession: Bool = true, account: String? = nil) throws {
        let bearer = request.headers[.authorization]
        let session = Self.sessionToken(request)
        let denial = state.withLock { state in
            state.authorize(bearer: bearer, sessionToken: session, requiresSession: requiresSession, account: account, now: state.now())
        }
        if let denial { throw EarlyResponse(Reply.denial(denial)) }
    }

    /// Decodes a JSON body.
    /// - Parameter shapeError: The envelope for JSON of the wrong shape; default `RequestUndefined`.
    /// - Throws: ``EarlyResponse`` with a 400 envelope for a missing, unreadable or ill-shaped body.
    static func decode<T: Decodable>(
        _ request: Request, shapeError: (DecodingError) -> ErrorEnvelope = ThingSpaceSimulator.defaultShapeError
    ) async throws -> T {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodySize)
        } catch {
            throw EarlyResponse(Reply.envelope(.simulator(ErrorCode.requestUndefined, "the request body is missing or too large")))
        }
        let data = Data(body.readableBytesView)
        guard !data.isEmpty else {
            throw EarlyResponse(Reply.envelope(.simulator(ErrorCode.requestUndefined, "the request body is missing")))
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            if case .dataCorrupted = error {
                throw EarlyResponse(Reply.envelope(.simulator(ErrorCode.requestUndefined, "the request body is not JSON")))
            }
            throw EarlyResponse(Reply.envelope(shapeError(error)))
        }
    }

    static func defaultShapeError(_ error: DecodingError) -> ErrorEnvelope {
        .simulator(ErrorCode.requestUndefined, "the request body has the wrong shape: \(Self.describe(error))")
    }

    /// A short, payload-free description of a decoding error.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context): return "missing key '\(path(context.codingPath + [key]))'"
        case .valueNotFound(_, let context): return "'\(path(context.codingPath))' is null"
        case .typeMismatch(let type, let context): return "'\(path(context.codingPath))' should be \(type)"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
