//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: JSON answers and early exits
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import NIOCore
import ThingSpace

/// Builders for the simulator's JSON answers.
enum Reply {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A history page, written by hand (``SMSHistoryPage/jsonBytes()``): the simulator's hot path.
    static func page(_ page: SMSHistoryPage, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: page.jsonBytes())))
    }

    /// 400 with the synchronous error envelope.
    static func envelope(_ envelope: ErrorEnvelope) -> Response { json(envelope, status: .badRequest) }

    /// A control-API error: `{"error": "..."}`.
    static func controlError(_ message: String, status: HTTPResponse.Status = .badRequest) -> Response {
        json(["error": message], status: status)
    }

    static func denial(_ denial: SimulatorState.Denial) -> Response {
        switch denial {
        case .fault(let fault): return json(fault, status: .unauthorized)
        case .envelope(let envelope): return self.envelope(envelope)
        }
    }
}

/// A finished answer thrown from deep inside a handler (a refused authorization, a bad
/// body); Hummingbird sends it as it is.
struct EarlyResponse: HTTPResponseError {
    let response: Response

    init(_ response: Response) { self.response = response }

    var status: HTTPResponse.Status { response.status }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}
