import Foundation
import HeraldCore
import HeraldDelivery
import Hummingbird

/// Document databases at `/db/`, in the shape of the Sync Gateway public REST API and CouchDB, so
/// their client libraries work with the base URL `http://host:port/db/`. Provider and admin tokens
/// write; team tokens read the documents in their granted channels.
struct DocumentsController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        let db = router.group("db").add(middleware: CouchErrorMiddleware())
        db.get("", use: welcome)
        db.get("_all_dbs", use: allDatabases)
        db.put("{db}", use: createDatabase)
        db.get("{db}", use: databaseInfo)
        db.head("{db}", use: databaseInfo)
        db.delete("{db}", use: deleteDatabase)
        db.post("{db}", use: postDocument)
        db.get("{db}/_changes", use: changes)
        db.put("{db}/{docid}", use: putDocument)
        db.get("{db}/{docid}", use: getDocument)
        db.head("{db}/{docid}", use: getDocument)
        db.delete("{db}/{docid}", use: deleteDocument)
    }

    static let bodyLimit = 1 << 20

    // MARK: databases

    @Sendable func welcome(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        JSONResponse(status: .ok, body: .object([
            ("couchdb", .string("Welcome")), ("vendor", .object([("name", .string("Herald")), ("version", .string(HeraldVersion.string))])),
            ("version", .string("Herald/\(HeraldVersion.string)")),
        ]))
    }

    @Sendable func allDatabases(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.requirePrincipal()
        return JSONResponse(status: .ok, body: .array(try await store.databaseNames().map(JSONValue.string)))
    }

    @Sendable func createDatabase(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let name = try context.parameters.require("db")
        guard DatabaseInfo.isValidName(name) else {
            throw CouchError.badRequest("Illegal database name: lower-case letters, digits, _ and -, starting with a letter, at most 63")
        }
        do {
            _ = try await services.createDatabase(name)
        } catch StoreError.conflict {
            throw CouchError(status: .preconditionFailed, error: "file_exists", reason: "The database could not be created, the file already exists.")
        }
        return JSONResponse(status: .created, body: .object([("ok", .bool(true))]))
    }

    func database(_ context: HeraldRequestContext) async throws -> DatabaseInfo {
        guard let info = try await store.database(try context.parameters.require("db")) else { throw CouchError.notFound("no_db_file") }
        return info
    }

    @Sendable func databaseInfo(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.requirePrincipal()
        let info = try await database(context)
        return JSONResponse(status: .ok, body: .object([
            ("db_name", .string(info.name)), ("update_seq", .int(info.updateSeq)), ("committed_update_seq", .int(info.updateSeq)),
            ("doc_count", .int(Int64(info.documentCount))), ("instance_start_time", .string(String(Int64(info.createdAt.timeIntervalSince1970 * 1_000_000)))),
            ("state", .string("Online")),
        ]))
    }

    @Sendable func deleteDatabase(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        guard try await store.deleteDatabase(try context.parameters.require("db")) else { throw CouchError.notFound("missing") }
        return JSONResponse(status: .ok, body: .object([("ok", .bool(true))]))
    }

    // MARK: documents

    func writer(_ context: HeraldRequestContext) throws {
        let principal = try context.requirePrincipal()
        guard principal.scope == .provider || principal.scope == .admin else { throw CouchError.forbidden("This token may only read documents.") }
    }

    func input(_ request: Request) async throws -> DocumentInput {
        do {
            return try DocumentInput(try await request.jsonBody(limit: Self.bodyLimit))
        } catch let problem as Problem where problem.status == .badRequest {
            throw CouchError.badRequest("Invalid JSON")
        }
    }

    func written(_ document: Document, status: HTTPResponse.Status = .created) -> JSONResponse {
        JSONResponse(
            status: status, body: .object([("ok", .bool(true)), ("id", .string(document.id)), ("rev", .string(document.revision.description))]),
            headers: [.eTag: "\"\(document.revision)\""]
        )
    }

    @Sendable func putDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        let database = try await database(context).name
        let id = try context.parameters.require("docid")
        var input = try await input(request)
        if let bodyID = input.id, bodyID != id { throw CouchError.badRequest("The _id in the body does not match the URL") }
        // The revision may come from `?rev=`, `If-Match` or the body's `_rev`.
        if let rev = request.uri.queryParameters["rev"].map(String.init) ?? request.headers[.ifMatch]?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) {
            input.revision = rev
        }
        return written(try await services.writeDocument(database: database, id: id, input))
    }

    @Sendable func postDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        let database = try await database(context).name
        let input = try await input(request)
        let id = input.id ?? Identifier.deliveryID().replacingOccurrences(of: "-", with: "")
        return written(try await services.writeDocument(database: database, id: id, input))
    }

    @Sendable func deleteDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        let database = try await database(context).name
        let rev = request.uri.queryParameters["rev"].map(String.init) ?? request.headers[.ifMatch]?.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let document = try await services.writeDocument(database: database, id: try context.parameters.require("docid"), .deletion(revision: rev))
        return written(document, status: .ok)
    }

    @Sendable func getDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.requirePrincipal()
        let database = try await database(context).name
        guard let document = try await store.document(database: database, id: try context.parameters.require("docid")) else {
            throw CouchError.notFound("missing")
        }
        let team = try await principal.teamID.asyncFlatMap { try await store.team(id: $0) }
        guard services.canRead(document, principal, team: team) else { throw CouchError.forbidden("You are not allowed to see this") }
        if document.deleted { throw CouchError.notFound("deleted") }
        if let rev = request.uri.queryParameters["rev"], rev != document.revision.description {
            // Only the current revision's body is kept.
            throw CouchError.notFound("missing")
        }
        var body = document.json
        if request.uri.queryParameters["revs"] == "true", case .object(var pairs) = body {
            pairs.append((
                "_revisions",
                .object([("start", .int(Int64(document.revision.generation))), ("ids", .array(document.history.map { .string($0.digest) }))])
            ))
            body = .object(pairs)
        }
        return JSONResponse(status: .ok, body: body, headers: [.eTag: "\"\(document.revision)\""])
    }

    // MARK: changes

    /// `GET /db/{db}/_changes?since=&limit=&include_docs=`: each changed document once, at its latest
    /// `seq`. A team token sees only the documents in its channels; `last_seq` moves past the rest.
    @Sendable func changes(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.requirePrincipal()
        let database = try await database(context).name
        let query = request.uri.queryParameters
        let since = try query["since"].map { value -> Int64 in
            guard let seq = Int64(String(value).trimmingCharacters(in: CharacterSet(charactersIn: "\""))), seq >= 0 else {
                throw CouchError.badRequest("since must be a sequence number")
            }
            return seq
        } ?? 0
        let limit = try query["limit"].map { value -> Int in
            guard let limit = Int(String(value)), limit > 0 else { throw CouchError.badRequest("limit must be a positive number") }
            return min(limit, 10_000)
        } ?? 10_000
        let includeDocs = query["include_docs"] == "true"
        let team = try await principal.teamID.asyncFlatMap { try await store.team(id: $0) }
        var results: [JSONValue] = []
        var lastSeq = since
        for document in try await store.changes(database: database, since: since, limit: limit) {
            lastSeq = document.seq
            guard services.canRead(document, principal, team: team) else { continue }
            var pairs: [(key: String, value: JSONValue)] = [
                ("seq", .int(document.seq)), ("id", .string(document.id)), ("changes", .array([.object([("rev", .string(document.revision.description))])])),
            ]
            if document.deleted { pairs.append(("deleted", .bool(true))) }
            if includeDocs { pairs.append(("doc", document.json)) }
            results.append(.object(pairs))
        }
        return JSONResponse(status: .ok, body: .object([("results", .array(results)), ("last_seq", .string(String(lastSeq)))]))
    }
}
