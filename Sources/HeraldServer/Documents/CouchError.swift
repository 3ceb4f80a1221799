import HeraldCore
import Hummingbird

/// An error in CouchDB's and Sync Gateway's shape, `{"error","reason"}`, as their client libraries
/// expect it from the `/db/` API.
struct CouchError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var error: String
    var reason: String
    /// More headers for the answer (`Retry-After` on a 503 or 507, `Allow` on a 405).
    var headers: HTTPFields = [:]

    static func notFound(_ reason: String = "missing") -> CouchError { CouchError(status: .notFound, error: "not_found", reason: reason) }
    static func badRequest(_ reason: String) -> CouchError { CouchError(status: .badRequest, error: "bad_request", reason: reason) }
    static func forbidden(_ reason: String) -> CouchError { CouchError(status: .forbidden, error: "forbidden", reason: reason) }
    static func unauthorized(_ reason: String) -> CouchError { CouchError(status: .unauthorized, error: "unauthorized", reason: reason) }

    init(status: HTTPResponse.Status, error: String, reason: String) {
        self.status = status
        self.error = error
        self.reason = reason
    }

    init(_ error: DocumentWriteError) {
        switch error {
        case .exists: self.init(status: .conflict, error: "conflict", reason: "Document exists")
        case .revisionConflict: self.init(status: .conflict, error: "conflict", reason: "Document revision conflict")
        case .notFound(let reason): self = .notFound(reason)
        case .badRequest(let reason): self = .badRequest(reason)
        // Answered as a success where it happens (``DocumentsController/answer(id:status:_:)``); as
        // an error only where a stale write cannot be told apart.
        case .stale(_, let reason): self.init(status: .conflict, error: "stale", reason: reason)
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Basic realm="Herald""# }
        let body = JSONValue.object([("error", .string(error)), ("reason", .string(reason))]).jsonString
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Answers every error under `/db/` in CouchDB's shape instead of problem+json.
struct CouchErrorMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as CouchError {
            return try error.response(from: request, context: context)
        } catch let error as DocumentWriteError {
            return try CouchError(error).response(from: request, context: context)
        } catch StoreError.notFound {
            return try CouchError.notFound("no_db_file").response(from: request, context: context)
        } catch StoreError.conflict(let reason) {
            return try CouchError(status: .conflict, error: "conflict", reason: reason).response(from: request, context: context)
        } catch let error as any StoreConditionReporting where error.storeCondition != nil {
            context.logger.error("request failed: the database cannot take it now", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            if error.storeCondition == .full { HeraldServices.refusedDocumentWrites.increment() }
            return try Self.couch(Problem.storeCondition(error.storeCondition!)).response(from: request, context: context)
        } catch let problem as Problem {
            return try Self.couch(problem).response(from: request, context: context)
        }
    }

    /// A problem in CouchDB's shape, its headers (`Retry-After`, `Allow`) kept.
    static func couch(_ problem: Problem) -> CouchError {
        let name: String =
            switch problem.status.code {
            case 401: "unauthorized"
            case 403: "forbidden"
            case 404: "not_found"
            case 405: "method_not_allowed"
            case 409: "conflict"
            case 413: "request_entity_too_large"
            case 429: "too_many_requests"
            case 503: "service_unavailable"
            case 507: "insufficient_storage"
            default: problem.status.code >= 500 ? "internal_server_error" : "bad_request"
            }
        var couch = CouchError(status: problem.status, error: name, reason: problem.detail)
        couch.headers = problem.headers
        couch.headers[.contentType] = nil
        return couch
    }
}
