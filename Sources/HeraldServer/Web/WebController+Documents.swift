import Foundation
import HeraldCore
import Hummingbird

/// The Documents section: databases, their documents (search by id), a document's body, revision
/// history and the deliveries it caused, and a database's live changes. Members see the documents
/// in their team's channels; administrators see all and create databases.
extension WebController {
    /// What a signed-in user may read, as an API principal would.
    func documentReader(_ signIn: WebSignIn) async throws -> (Principal, Team?) {
        let isAdmin = signIn.user.role == .admin
        let principal = Principal(tokenID: -signIn.user.id, scope: isAdmin ? .admin : .team, teamID: signIn.user.teamID)
        return (principal, try await signIn.user.teamID.asyncFlatMap { try await store.team(id: $0) })
    }

    func databaseNamed(_ context: HeraldRequestContext) async throws -> DatabaseInfo {
        guard let name = context.parameters.get("db"), let info = try await store.database(name) else { throw Problem.notFound("There is no such database.") }
        return info
    }

    @Sendable func databasesPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        return try await databasesView(signIn, notice: try await takeFlash(signIn, for: "/documents")["notice"], error: nil, status: .ok)
    }

    func databasesView(_ signIn: WebSignIn, notice: String?, error: String?, status: HTTPResponse.Status) async throws -> HTML {
        var rows: [[String: Any]] = []
        for name in try await store.databaseNames() {
            guard let info = try await store.database(name) else { continue }
            rows.append(["name": info.name, "count": info.documentCount, "seq": info.updateSeq])
        }
        return renderer.render("databases", page(signIn, title: "Documents", [
            "databases": rows, "empty": rows.isEmpty, "notice": notice ?? "", "hasNotice": notice != nil, "error": error ?? "", "hasError": error != nil,
        ]), status: status)
    }

    @Sendable func createDatabaseFromForm(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let name = try await checkedForm(request, signIn).trimmed("name")
        guard DatabaseInfo.isValidName(name) else {
            return try await databasesView(signIn, notice: nil, error: "Use lower-case letters, digits, _ and -, starting with a letter, like leads.", status: .unprocessableContent)
                .response(from: request, context: context)
        }
        do {
            _ = try await services.createDatabase(name)
        } catch StoreError.conflict {
            return try await databasesView(signIn, notice: nil, error: "A database named \(name) exists.", status: .unprocessableContent)
                .response(from: request, context: context)
        }
        try await setFlash(["notice": "Database \(name) created; hooks can subscribe to \(DatabaseInfo.changeEventType(name))."], signIn, for: "/documents")
        return Response.redirect(to: "/documents")
    }

    @Sendable func databasePage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let info = try await databaseNamed(context)
        let (principal, team) = try await documentReader(signIn)
        let search = request.uri.queryParameters["q"].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        let documents = try await store.documents(
            database: info.name, keys: nil, startKey: search.isEmpty ? nil : search, endKey: search.isEmpty ? nil : search + "\u{10FFFF}", limit: 500
        ).filter { services.canRead($0, principal, team: team) }.prefix(50)
        return renderer.render("database", page(signIn, title: "Database \(info.name)", [
            "name": info.name, "count": info.documentCount, "seq": info.updateSeq, "search": search,
            "documents": documents.map { ["id": $0.id, "rev": $0.revision.description, "channels": $0.channels.joined(separator: ", ")] },
            "empty": documents.isEmpty, "versionField": info.versionField ?? "", "hasVersionField": info.versionField != nil,
            "isAdmin": signIn.user.role == .admin,
        ]))
    }

    /// The database's version field (WebhookDB's conditional upsert): blank for none.
    @Sendable func setVersionFieldFromForm(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let info = try await databaseNamed(context)
        let field = try await checkedForm(request, signIn).trimmed("version_field")
        guard field.isEmpty || VersionGuard.isValidField(field) else {
            throw HTTPError(.unprocessableContent, message: "A version field names a top-level member of the documents, not starting with _.")
        }
        try await store.setVersionField(field.isEmpty ? nil : field, database: info.name)
        return Response.redirect(to: "/documents/\(info.name)")
    }

    @Sendable func documentPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let info = try await databaseNamed(context)
        let (principal, team) = try await documentReader(signIn)
        guard let id = context.parameters.get("docid"), let document = try await store.document(database: info.name, id: id),
            services.canRead(document, principal, team: team)
        else { throw Problem.notFound("There is no such document.") }
        let events = try await store.documentEvents(database: info.name, id: document.id, limit: 50)
        var query = DeliveryQuery(limit: 100)
        query.eventSeqs = events.map(\.seq)
        if signIn.user.role != .admin { query.teamID = signIn.user.teamID ?? -1 }
        let deliveries = events.isEmpty ? [] : try await store.deliveries(query)
        return renderer.render("document", page(signIn, title: "\(info.name) / \(document.id)", [
            "database": info.name, "id": document.id, "rev": document.revision.description, "deleted": document.deleted,
            "body": document.json.prettyString, "channels": document.channels.joined(separator: ", "),
            "history": document.history.map { ["rev": $0.description] }, "deliveries": deliveries.map(deliveryRow), "noDeliveries": deliveries.isEmpty,
        ]))
    }

    /// The database's changes as Server-Sent Events for the page's live list, under the session.
    @Sendable func databaseChanges(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let info = try await databaseNamed(context)
        let (principal, team) = try await documentReader(signIn)
        let since = request.uri.queryParameters["since"].flatMap { Int64(String($0)) } ?? info.updateSeq
        let page: ChangesFeed.Page = { [services] since, limit in
            try await services.changesPage(database: info.name, since: since, limit: limit, query: .init(), principal: principal, team: team)
        }
        let limit = request.uri.queryParameters["limit"].flatMap { Int(String($0)) }.map { max(1, $0) } ?? .max
        let feed = ChangesFeed(mode: .eventsource, since: since, limit: limit, timeout: .seconds(300), heartbeat: .seconds(20))
        return try await feed.response(services: services, principal: principal, request: request, context: context, page: page) { _ in
            Problem(status: .tooManyRequests, type: "/problems/too-many-feeds", title: "Too many feeds", detail: "Close another tab showing live changes.")
        }
    }
}
