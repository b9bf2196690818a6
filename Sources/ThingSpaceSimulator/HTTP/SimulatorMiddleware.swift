//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: injected HTTP errors and unknown paths
//===----------------------------------------------------------------------===//

import Hummingbird
import Synchronization
import ThingSpace

/// Runs before every route (and before "not found").
///
/// Upstream paths (anything outside `/simulator/`) first meet the injected HTTP errors;
/// then an unknown upstream path gets the WSO2 gateway's `900906` fault rather than
/// Hummingbird's plain 404, as ThingSpace's API gateway answers.
struct SimulatorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    let simulator: ThingSpaceSimulator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let isControl = path.hasPrefix("/simulator/") || path == "/simulator"
        if !isControl, let status = simulator.state.withLock({ $0.takeHTTPError(path: path) }) {
            return Self.injected(status: status)
        }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && !isControl {
            return Reply.json(Self.noResource, status: .notFound)
        }
    }

    static let noResource = GatewayFaultBody(fault: .init(
        code: "900906", message: "No matching resource found for given API Request",
        description: "The requested resource is not available."
    ))

    static let throttled = GatewayFaultBody(fault: .init(
        code: "900800", message: "Message throttled out",
        description: "You have exceeded your quota (injected by the simulator)."
    ))

    /// The answer for an injected status: 429 as WSO2 throttling, the rest as an error envelope.
    static func injected(status: Int) -> Response {
        let httpStatus = HTTPResponse.Status(code: status)
        if status == 429 {
            return Reply.json(throttled, status: httpStatus, headers: [.retryAfter: "1"])
        }
        return Reply.json(
            ErrorEnvelope(errorCode: ErrorCode.unexpectedError, errorMessage: "injected HTTP \(status) (simulator fault)"),
            status: httpStatus
        )
    }
}
