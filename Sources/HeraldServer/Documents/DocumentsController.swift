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
        // The cookie login, under /db/ and where CouchDB has it (clients given a base URL without
        // a trailing slash resolve `_session` to the server's root).
        for sessions in [db.group("_session"), router.group("_session").add(middleware: CouchErrorMiddleware())] {
            sessions.post("", use: createSession)
            sessions.get("", use: session)
            sessions.delete("", use: deleteSession)
        }
        db.put("{db}", use: createDatabase)
        db.get("{db}", use: databaseInfo)
        db.head("{db}", use: databaseInfo)
        db.delete("{db}", use: deleteDatabase)
        db.post("{db}", use: postDocument)
        db.get("{db}/_changes", use: changes)
        db.post("{db}/_changes", use: changes)
        db.get("{db}/_all_docs", use: allDocuments)
        db.post("{db}/_all_docs", use: allDocuments)
        db.post("{db}/_bulk_docs", use: bulkDocuments)
        db.put("{db}/_local/{localid}", use: putLocal)
        db.get("{db}/_local/{localid}", use: getLocal)
        db.delete("{db}/_local/{localid}", use: deleteLocal)
        db.put("{db}/{docid}", use: putDocument)
        db.get("{db}/{docid}", use: getDocument)
        db.head("{db}/{docid}", use: getDocument)
        db.delete("{db}/{docid}", use: deleteDocument)
    }

    static let bodyLimit = 1 << 20

    /// A boolean parameter: `true` or `false` (400 otherwise, as CouchDB answers), nil when absent.
    static func flag(_ value: (some StringProtocol)?, _ name: String) throws -> Bool? {
        switch value {
        case nil: nil
        case "true"?: true
        case "false"?: false
        default: throw CouchError.badRequest("\(name) must be true or false")
        }
    }

    // MARK: databases

    @Sendable func welcome(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        JSONResponse(status: .ok, body: .object([
            ("couchdb", .string("Welcome")), ("vendor", .object([("name", .string("Herald")), ("version", .string(HeraldVersion.current))])),
            ("version", .string("Herald/\(HeraldVersion.current)")),
        ]))
    }

    @Sendable func allDatabases(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.requirePrincipal()
        return JSONResponse(status: .ok, body: .array(try await store.databaseNames().map(JSONValue.string)))
    }

    /// `PUT /db/{db}` creates a database. A body `{"version_field": "updated_at"}` (or null) names
    /// the member that orders its writes (``VersionGuard``): set at creation, or changed on an
    /// existing database (200), which is otherwise 412 `file_exists` as in CouchDB.
    @Sendable func createDatabase(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let name = try context.parameters.require("db")
        guard DatabaseInfo.isValidName(name) else {
            throw CouchError.badRequest("Illegal database name: lower-case letters, digits, _ and -, starting with a letter, at most 63")
        }
        let body = try await request.jsonBody(limit: 16 * 1024, ifEmpty: .object([]))
        guard case .object(let members) = body, members.allSatisfy({ $0.key == "version_field" }) else {
            throw CouchError.badRequest("The body may hold version_field only")
        }
        let versionField = members.first.map(\.value)
        if let versionField, !versionField.isNull {
            guard let field = versionField.stringValue, VersionGuard.isValidField(field) else {
                throw CouchError.badRequest("version_field must be a top-level member's name (not starting with _) or null")
            }
        }
        do {
            _ = try await services.createDatabase(name)
        } catch StoreError.conflict {
            guard let versionField else {
                throw CouchError(status: .preconditionFailed, error: "file_exists", reason: "The database could not be created, the file already exists.")
            }
            try await store.setVersionField(versionField.stringValue, database: name)
            return JSONResponse(status: .ok, body: .object([("ok", .bool(true)), ("version_field", versionField)]))
        }
        if let field = versionField?.stringValue { try await store.setVersionField(field, database: name) }
        return JSONResponse(status: .created, body: .object([("ok", .bool(true))]))
    }

    /// The database the path names, checked to exist (without counting its documents). Single
    /// writes need no check: the store refuses a missing database in the write's transaction.
    func databaseName(_ context: HeraldRequestContext) async throws -> String {
        let name = try context.parameters.require("db")
        guard try await store.databaseNames().contains(name) else { throw CouchError.notFound("no_db_file") }
        return name
    }

    func database(_ context: HeraldRequestContext) async throws -> DatabaseInfo {
        guard let info = try await store.database(try context.parameters.require("db")) else { throw CouchError.notFound("no_db_file") }
        return info
    }

    /// A team token is not told how many documents there are (most are outside its channels), as Sync
    /// Gateway's public API tells a user none: `doc_count` is for tokens that read every document.
    @Sendable func databaseInfo(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.requirePrincipal()
        let info = try await database(context)
        var pairs: [(key: String, value: JSONValue)] = [
            ("db_name", .string(info.name)), ("update_seq", .int(info.updateSeq)), ("committed_update_seq", .int(info.updateSeq)),
        ]
        if principal.readsEveryDocument { pairs.append(("doc_count", .int(Int64(info.documentCount)))) }
        pairs += [("instance_start_time", .string(String(Int64(info.createdAt.timeIntervalSince1970 * 1_000_000)))), ("state", .string("Online"))]
        pairs.append(("version_field", info.versionField.map(JSONValue.string) ?? .null))
        return JSONResponse(status: .ok, body: .object(pairs))
    }

    @Sendable func deleteDatabase(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        guard try await services.deleteDatabase(try context.parameters.require("db")) else { throw CouchError.notFound("missing") }
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

    /// Document ids are not empty and do not start with `_`, which CouchDB reserves (`_local/`, `_changes`…).
    static func checkID(_ id: String) throws(DocumentWriteError) {
        guard !id.isEmpty, !id.hasPrefix("_") else { throw .badRequest("Only reserved document ids may start with underscore.") }
    }

    /// The answer to a write of `id`: the new revision, or, for a write whose version is not newer
    /// than the stored document's (WebhookDB's conditional upsert), 200 with the stored revision,
    /// `"stale": true` and why — nothing written, no event raised.
    func answer(id: String, status: HTTPResponse.Status = .created, _ write: () async throws -> Document) async throws -> JSONResponse {
        do {
            return written(try await write(), status: status)
        } catch DocumentWriteError.stale(let revision, let reason) {
            return JSONResponse(
                status: .ok,
                body: .object([("ok", .bool(true)), ("id", .string(id)), ("rev", .string(revision)), ("stale", .bool(true)), ("reason", .string(reason))]),
                headers: [.eTag: "\"\(revision)\""]
            )
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
        try await services.admitDocumentWrite(database: try context.parameters.require("db"))
        let database = try context.parameters.require("db")
        let id = try context.parameters.require("docid")
        try Self.checkID(id)
        var input = try await input(request)
        if let bodyID = input.id, bodyID != id { throw CouchError.badRequest("The _id in the body does not match the URL") }
        // The revision may come from `?rev=`, `If-Match` or the body's `_rev`.
        if let rev = request.uri.queryParameters["rev"].map(String.init) ?? request.headers[.ifMatch]?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) {
            input.revision = rev
        }
        return try await answer(id: id) { try await services.writeDocument(database: database, id: id, input) }
    }

    @Sendable func postDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        try await services.admitDocumentWrite(database: try context.parameters.require("db"))
        let database = try context.parameters.require("db")
        let input = try await input(request)
        let id = input.id ?? Identifier.deliveryID().replacingOccurrences(of: "-", with: "")
        try Self.checkID(id)
        return try await answer(id: id) { try await services.writeDocument(database: database, id: id, input) }
    }

    @Sendable func deleteDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        try await services.admitDocumentWrite(database: try context.parameters.require("db"))
        let database = try context.parameters.require("db")
        let rev = request.uri.queryParameters["rev"].map(String.init) ?? request.headers[.ifMatch]?.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let document = try await services.writeDocument(database: database, id: try context.parameters.require("docid"), .deletion(revision: rev))
        return written(document, status: .ok)
    }

    @Sendable func getDocument(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.requirePrincipal()
        let database = try await databaseName(context)
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
        if try Self.flag(request.uri.queryParameters["revs"], "revs") == true, case .object(var pairs) = body {
            pairs.append((
                "_revisions",
                .object([("start", .int(Int64(document.revision.generation))), ("ids", .array(document.history.map { .string($0.digest) }))])
            ))
            body = .object(pairs)
        }
        return JSONResponse(status: .ok, body: body, headers: [.eTag: "\"\(document.revision)\""])
    }

    // MARK: many documents

    /// `GET|POST /db/{db}/_all_docs`: live documents by id, as CouchDB reads the query: `startkey`
    /// and `endkey` (or `start_key`, `end_key`; JSON strings), `key`, `keys` (a JSON array, in the
    /// query or the body), `descending` (from `startkey` down to `endkey`), `inclusive_end`,
    /// `skip`, `limit` and `include_docs`. `startkey_docid` and `endkey_docid` change nothing here:
    /// an `_all_docs` row's key is its id.
    @Sendable func allDocuments(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.requirePrincipal()
        let database = try await database(context)
        let query = request.uri.queryParameters
        func jsonParameter(_ names: String...) throws -> JSONValue? {
            for name in names {
                if let value = query[name[...]] {
                    guard let parsed = try? JSONValue(parsing: String(value)) else { throw CouchError.badRequest("\(name) must be JSON") }
                    return parsed
                }
            }
            return nil
        }
        func number(_ name: String) throws -> Int? {
            try query[name[...]].map { value -> Int in
                guard let number = Int(String(value)), number >= 0 else { throw CouchError.badRequest("\(name) must be a number of at least 0") }
                return number
            }
        }
        func flag(_ name: String) throws -> Bool? { try Self.flag(query[name[...]], name) }
        var range = DocumentRange(
            startKey: try jsonParameter("startkey", "start_key")?.stringValue, endKey: try jsonParameter("endkey", "end_key")?.stringValue,
            limit: try number("limit") ?? 10_000
        )
        range.keys = try jsonParameter("keys")?.arrayValue?.compactMap(\.stringValue)
        if let key = try jsonParameter("key")?.stringValue { range.keys = [key] }
        if request.method == .post {
            let body = try await request.jsonBody(limit: Self.bodyLimit, ifEmpty: .null)
            switch body {
            case .null: break
            case .object:
                if let posted = body["keys"] {
                    guard let keys = posted.arrayValue?.compactMap(\.stringValue), keys.count == posted.arrayValue?.count else {
                        throw CouchError.badRequest("keys must be an array of document ids")
                    }
                    range.keys = keys
                }
            default: throw CouchError.badRequest("The body must be a JSON object")
            }
        }
        range.descending = try flag("descending") ?? false
        range.inclusiveEnd = try flag("inclusive_end") ?? true
        range.skip = try number("skip") ?? 0
        let documents = try await store.documents(database: database.name, range: range)
        let team = try await principal.teamID.asyncFlatMap { try await store.team(id: $0) }
        let includeDocs = try flag("include_docs") ?? false
        let rows: [JSONValue] = documents.filter { services.canRead($0, principal, team: team) }.map { document in
            var pairs: [(key: String, value: JSONValue)] = [
                ("id", .string(document.id)), ("key", .string(document.id)), ("value", .object([("rev", .string(document.revision.description))])),
            ]
            if includeDocs { pairs.append(("doc", document.json)) }
            return .object(pairs)
        }
        return JSONResponse(status: .ok, body: .object([
            // A team counts the rows it may read (Sync Gateway's rule for a user), never the database's.
            ("total_rows", .int(Int64(principal.readsEveryDocument ? database.documentCount : rows.count))), ("offset", .int(Int64(range.skip))),
            ("rows", .array(rows)),
        ]))
    }

    /// `POST /db/{db}/_bulk_docs {"docs":[…]}`: each document written on its own (MVCC per document),
    /// with one result per document in order: `{"id","rev"}` or `{"id","error","reason"}`.
    @Sendable func bulkDocuments(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        try writer(context)
        try await services.admitDocumentWrite(database: try context.parameters.require("db"))
        let database = try await databaseName(context)
        let body: JSONValue
        do { body = try await request.jsonBody(limit: 16 << 20) } catch let problem as Problem where problem.status == .badRequest {
            throw CouchError.badRequest("Invalid JSON")
        }
        guard let docs = body["docs"]?.arrayValue else { throw CouchError.badRequest("POST body must contain a \"docs\" array") }
        switch body["new_edits"] {
        case nil, .bool(true)?: break
        case .bool(false)?: throw CouchError.badRequest("new_edits=false (replication) is not supported")
        default: throw CouchError.badRequest("new_edits must be true or false")
        }
        var results: [JSONValue] = []
        for item in docs {
            let id = item["_id"]?.stringValue ?? Identifier.deliveryID().replacingOccurrences(of: "-", with: "")
            do {
                try Self.checkID(id)
                let document = try await services.writeDocument(database: database, id: id, try DocumentInput(item))
                results.append(.object([("id", .string(id)), ("rev", .string(document.revision.description))]))
            } catch DocumentWriteError.stale(let revision, let reason) {
                // Discarded as older than what is stored: not an error to the writer.
                results.append(.object([("id", .string(id)), ("rev", .string(revision)), ("stale", .bool(true)), ("reason", .string(reason))]))
            } catch let error as DocumentWriteError {
                let couch = CouchError(error)
                results.append(.object([("id", .string(id)), ("error", .string(couch.error)), ("reason", .string(couch.reason))]))
            } catch StoreError.notFound {
                results.append(.object([("id", .string(id)), ("error", .string("not_found")), ("reason", .string("no_db_file"))]))
            }
        }
        return JSONResponse(status: .created, body: .array(results))
    }

    // MARK: local documents

    /// Where a `_local` document lives: each team has its own namespace, so a team's checkpoints
    /// are its own; providers and admins have the rest, and cannot name an id in a team's.
    func localID(_ context: HeraldRequestContext) throws -> String {
        let principal = try context.requirePrincipal()
        let id = try context.parameters.require("localid")
        if principal.scope == .team { return Self.teamLocalPrefix(principal.teamID ?? 0) + id }
        if id.range(of: #"^team-[0-9]+:"#, options: .regularExpression) != nil {
            throw CouchError.forbidden("_local/\(id) is in a team's namespace: only that team's tokens read and write it")
        }
        return id
    }

    static func teamLocalPrefix(_ team: Int64) -> String { "team-\(team):" }

    /// The largest `_local` document.
    static let localBodyLimit = 64 * 1024

    func localJSON(_ document: LocalDocument, shownID: String) -> JSONValue {
        guard case .object(var pairs) = document.json else { return document.json }
        pairs[0] = ("_id", .string("_local/" + shownID))
        return .object(pairs)
    }

    @Sendable func putLocal(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let (database, id, shown) = (try context.parameters.require("db"), try localID(context), try context.parameters.require("localid"))
        // A checkpoint is small; a team's are bounded in number; like any write, it waits for a
        // full backlog or disk.
        var input: DocumentInput
        do {
            input = try DocumentInput(try await request.jsonBody(limit: Self.localBodyLimit))
        } catch let problem as Problem where problem.status == .badRequest {
            throw CouchError.badRequest("Invalid JSON")
        } catch let problem as Problem where problem.status == .contentTooLarge {
            throw CouchError(status: .contentTooLarge, error: "too_large", reason: "A _local document is at most \(Self.localBodyLimit / 1024) KiB.")
        }
        let principal = try context.requirePrincipal()
        if principal.scope == .team, let team = principal.teamID, try await store.localDocument(database: database, id: id) == nil,
            try await store.localDocumentCount(database: database, idPrefix: Self.teamLocalPrefix(team)) >= services.configuration.maxLocalDocumentsPerTeam
        {
            throw CouchError.forbidden(
                "This team keeps \(services.configuration.maxLocalDocumentsPerTeam) _local documents in \(database), the most it may: delete one first."
            )
        }
        try await services.admitDocumentWrite(database: database)
        if let rev = request.uri.queryParameters["rev"].map(String.init) { input.revision = rev }
        let written = input
        let saved = try await store.writeLocalDocument(database: database, id: id) { current in try LocalDocument.apply(written, to: current, id: id) }
        return JSONResponse(status: .created, body: .object([("ok", .bool(true)), ("id", .string("_local/" + shown)), ("rev", .string(saved?.revision ?? "0-0"))]))
    }

    @Sendable func getLocal(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let (database, id, shown) = (try await databaseName(context), try localID(context), try context.parameters.require("localid"))
        guard let document = try await store.localDocument(database: database, id: id) else { throw CouchError.notFound("missing") }
        return JSONResponse(status: .ok, body: localJSON(document, shownID: shown))
    }

    @Sendable func deleteLocal(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let (database, id, shown) = (try context.parameters.require("db"), try localID(context), try context.parameters.require("localid"))
        let rev = request.uri.queryParameters["rev"].map(String.init)
        _ = try await store.writeLocalDocument(database: database, id: id) { current in
            try LocalDocument.apply(.deletion(revision: rev), to: current, id: id)
        }
        return JSONResponse(status: .ok, body: .object([("ok", .bool(true)), ("id", .string("_local/" + shown)), ("rev", .string("0-0"))]))
    }

    // MARK: changes

    /// The parameters of a changes request.
    struct ChangesQuery: Sendable {
        var since: Int64 = 0
        var limit = 10_000
        var includeDocs = false
        var feed = ChangesFeed.Mode.normal
        /// How long a long feed stays open without changes (`timeout`, ms; default 5 min, at most 15).
        var timeout: Duration = .seconds(300)
        /// How often a streaming feed writes a keep-alive (`heartbeat`, ms); nil: never.
        var heartbeat: Duration?
        /// `filter=sync_gateway/bychannel` with `channels`.
        var channels: Set<String>?
        /// `filter=_doc_ids` with `doc_ids`.
        var documentIDs: Set<String>?
        /// `active_only=true`: no deletions.
        var activeOnly = false
        /// `descending=true` (normal feed): newest first.
        var descending = false
        /// `feed=websocket`: a continuous feed over a WebSocket (``DocumentsController/changesOverWebSocket``).
        var webSocket = false

        /// Reads the parameters from the query string, and from a JSON body (`POST`), which wins.
        /// Every parameter at its default.
        init() {}

        init(_ request: Request, body: JSONValue = .null) throws {
            var values: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { values[String(name)] = String(value) }
            if case .object(let members) = body {
                for (name, value) in members {
                    switch value {
                    case .string(let text): values[name] = text
                    case .int(let number): values[name] = String(number)
                    case .bool(let flag): values[name] = String(flag)
                    case .array: values[name] = value.jsonString
                    default: break
                    }
                }
            }
            func number(_ name: String, minimum: Int64) throws -> Int64? {
                try values[name].map { value in
                    guard let parsed = Int64(String(value).trimmingCharacters(in: CharacterSet(charactersIn: "\""))), parsed >= minimum else {
                        throw CouchError.badRequest("\(name) must be a number of at least \(minimum)")
                    }
                    return parsed
                }
            }
            since = try number("since", minimum: 0) ?? 0
            let requested = try number("limit", minimum: 1)
            limit = Int(min(requested ?? 10_000, 10_000))
            includeDocs = try DocumentsController.flag(values["include_docs"], "include_docs") ?? false
            activeOnly = try DocumentsController.flag(values["active_only"], "active_only") ?? false
            descending = try DocumentsController.flag(values["descending"], "descending") ?? false
            func list(_ name: String) throws -> Set<String>? {
                guard let text = values[name] else { return nil }
                if text.hasPrefix("[") {
                    guard let items = (try? JSONValue(parsing: text))?.arrayValue else { throw CouchError.badRequest("\(name) must be a JSON array") }
                    return Set(items.compactMap(\.stringValue))
                }
                return Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            }
            switch values["filter"] {
            case nil: break
            case "sync_gateway/bychannel":
                guard let channels = try list("channels") else { throw CouchError.badRequest("filter=sync_gateway/bychannel needs channels") }
                self.channels = channels
            case "_doc_ids":
                guard let ids = try list("doc_ids") else { throw CouchError.badRequest("filter=_doc_ids needs doc_ids") }
                documentIDs = ids
            case let other?:
                throw CouchError.badRequest("Unknown filter \(other): use sync_gateway/bychannel or _doc_ids")
            }
            if values["feed"] == "websocket" {
                webSocket = true
                feed = .continuous
            } else if let feed = values["feed"] {
                guard let parsed = ChangesFeed.Mode(rawValue: String(feed)) else { throw CouchError.badRequest("feed must be normal, longpoll, continuous, eventsource or websocket") }
                self.feed = parsed
            }
            if descending && feed != .normal { throw CouchError.badRequest("descending works with feed=normal only") }
            if let timeout = try number("timeout", minimum: 0) { self.timeout = .milliseconds(min(timeout, 900_000)) }
            heartbeat = try number("heartbeat", minimum: 1).map { .milliseconds(max($0, 100)) }
            // A streaming feed takes any limit, and without one runs until its timeout.
            if feed == .continuous || feed == .eventsource { limit = requested.map { Int(clamping: $0) } ?? .max }
        }
    }

    /// `GET /db/{db}/_changes`: each changed document once, at its latest `seq`; a team token sees
    /// only the documents in its channels. `feed=normal` answers at once; `longpoll` waits (up to
    /// `timeout`) for the first change; `continuous` streams one JSON object per line and
    /// `eventsource` Server-Sent Events, both with `heartbeat`s, until `timeout` or `limit`. Long
    /// feeds wake on commit; a token holds at most a few open.
    @Sendable func changes(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let database = try await databaseName(context)
        let body = request.method == .post ? try await request.jsonBody(limit: Self.bodyLimit, ifEmpty: .object([])) : .object([])
        guard body.objectValue != nil else { throw CouchError.badRequest("The body must be a JSON object of the feed's parameters") }
        let query = try ChangesQuery(request, body: body)
        if query.webSocket { throw CouchError.badRequest("feed=websocket is served over a WebSocket: ask with GET and Upgrade: websocket") }
        let (feed, page) = try await changesFeed(database: database, query: query, principal: principal)
        return try await feed.response(services: services, principal: principal, request: request, context: context, page: page, tooManyFeeds: Self.tooManyFeeds)
    }

    /// The feed a query asks for, and its pages as `principal` may read them.
    func changesFeed(database: String, query: ChangesQuery, principal: Principal) async throws -> (ChangesFeed, ChangesFeed.Page) {
        let team = try await principal.teamID.asyncFlatMap { try await store.team(id: $0) }
        let page: ChangesFeed.Page = { [services] since, limit in
            try await services.changesPage(database: database, since: since, limit: limit, query: query, principal: principal, team: team)
        }
        return (ChangesFeed(mode: query.feed, since: query.since, limit: query.limit, timeout: query.timeout, heartbeat: query.heartbeat), page)
    }

    static func tooManyFeeds(_ message: String) -> any Error { CouchError(status: .tooManyRequests, error: "too_many_requests", reason: message) }
}
