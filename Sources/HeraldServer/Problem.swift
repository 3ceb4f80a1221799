import Foundation
import HeraldCore
import Hummingbird

/// An RFC 9457 problem, rendered as `application/problem+json`.
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var type: String
    public var title: String
    public var detail: String
    public var errors: [FieldError]
    public var headers: HTTPFields = [:]

    /// One failing field: a JSON Pointer into the request body, and what is wrong with it.
    public struct FieldError: Sendable, Hashable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public init(status: HTTPResponse.Status, type: String, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [(key: String, value: JSONValue)] = [
            ("type", .string(type)), ("title", .string(title)), ("status", .int(Int64(status.code))), ("detail", .string(detail)),
        ]
        if !errors.isEmpty {
            object.append(("errors", .array(errors.map { .object([("field", .string($0.field)), ("message", .string($0.message))]) })))
        }
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(object).jsonString)))
    }

    static func validation(_ errors: [FieldError], status: HTTPResponse.Status = .unprocessableContent) -> Problem {
        let detail = errors.map { "\($0.field.isEmpty ? "body" : $0.field): \($0.message)" }.joined(separator: "; ")
        return Problem(status: status, type: "/problems/validation", title: "Invalid request", detail: detail, errors: errors)
    }

    static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, type: "/problems/bad-request", title: "Bad request", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, type: "/problems/not-found", title: "Not found", detail: detail)
    }

    static func unauthorized(_ detail: String) -> Problem {
        var problem = Problem(status: .unauthorized, type: "/problems/unauthorized", title: "Unauthorized", detail: detail)
        problem.headers[.wwwAuthenticate] = "Bearer"
        return problem
    }

    static func forbidden(_ detail: String) -> Problem {
        Problem(status: .forbidden, type: "/problems/forbidden", title: "Forbidden", detail: detail)
    }

    static func conflict(_ detail: String) -> Problem {
        Problem(status: .conflict, type: "/problems/conflict", title: "Conflict", detail: detail)
    }

    /// The database cannot take the request now: nothing of it was stored, and it may be sent again.
    static func storeCondition(_ condition: StoreCondition) -> Problem {
        if condition == .full { return storageFull("The database's disk is full: nothing of this request was stored. Send it again once space is freed.") }
        var problem =
            switch condition {
            case .full, .busy:
                Problem(
                    status: .serviceUnavailable, type: "/problems/database-busy", title: "Database busy",
                    detail: "The database could not take this request now: nothing of it was stored. Send it again shortly."
                )
            case .unreachable:
                Problem(
                    status: .serviceUnavailable, type: "/problems/database-unreachable", title: "Database unreachable",
                    detail: "The connection to the database broke during this request, so it may or may not have been stored. Send it again (with the same Idempotency-Key, events are stored once)."
                )
            }
        problem.headers[.retryAfter] = String(HeraldServices.retryAfterSeconds)
        return problem
    }

    /// 507: the disk is full, or under the free space Herald keeps; nothing was stored.
    static func storageFull(_ detail: String) -> Problem {
        var problem = Problem(status: .init(code: 507, reasonPhrase: "Insufficient Storage"), type: "/problems/storage-full", title: "Storage full", detail: detail)
        problem.headers[.retryAfter] = String(HeraldServices.lowDiskRetryAfterSeconds)
        return problem
    }

    static func tooLarge(_ limit: Int) -> Problem {
        Problem(status: .contentTooLarge, type: "/problems/too-large", title: "Request body too large", detail: "The body must be at most \(limit) bytes.")
    }
}
