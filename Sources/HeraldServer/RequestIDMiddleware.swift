import Foundation
import HeraldCore
import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id — the caller's `X-Request-Id` when it is a short token, a new one
/// otherwise — puts it on the request's logger and on the response, and logs one line per request
/// (method, path, status, duration) at info.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    static let header = HTTPField.Name("X-Request-Id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = request.headers[Self.header].flatMap(Self.acceptable) ?? UUID().uuidString.lowercased()
        var context = context
        context.logger[metadataKey: "request_id"] = .string(id)
        let started = ContinuousClock.now
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = id
            log(request, context, status: response.status.code, started: started)
            return response
        } catch let error as any HTTPResponseError {
            log(request, context, status: error.status.code, started: started)
            // The id goes on error responses too (problem+json and pages are made further out).
            throw IdentifiedError(error: error, requestID: id)
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method)", "path": "\(PortalLink.redacted(path: request.uri.path))", "status": "\(status)",
                "ms": "\(String(format: "%.1f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
            ]
        )
    }

    /// A caller's id is used when it is 1–128 characters of letters, digits and `-_.:`.
    static func acceptable(_ value: String) -> String? {
        guard (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ $0.isASCIILetterOrDigit || [UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":")].contains($0) })
        else { return nil }
        return value
    }
}

/// An HTTP error that also carries the request's id onto its response.
struct IdentifiedError: HTTPResponseError {
    let error: any HTTPResponseError
    let requestID: String
    var status: HTTPResponse.Status { error.status }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try error.response(from: request, context: context)
        response.headers[RequestIDMiddleware.header] = requestID
        return response
    }
}

extension UInt8 {
    var isASCIILetterOrDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x5a).contains(self) || (0x61...0x7a).contains(self) }
}
