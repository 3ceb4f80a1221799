import Foundation
import HeraldCore
import Hummingbird

/// `GET /api/audit-log` (admin): who did what, when, from where, newest first, with filters.
struct AuditLogController {
    let services: HeraldServices

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.get("/api/audit-log", use: list)
    }

    /// The filters of an audit listing: `action` (`user` finds every `user.…`), `actor`, `team`
    /// (a slug), `since`, `until`, `before` (an id: the next page) and `per_page`. With
    /// `blankIsAbsent` (the web form sends every field) an empty value is no filter.
    static func query(_ request: Request, store: any HeraldStore, blankIsAbsent: Bool) async throws -> AuditQuery {
        let parameters = request.uri.queryParameters
        func given(_ name: String) -> String? {
            guard let value = parameters[name[...]] else { return nil }
            return blankIsAbsent && value.isEmpty ? nil : String(value)
        }
        var query = AuditQuery()
        if let perPage = given("per_page") {
            guard let limit = Int(perPage), (1...200).contains(limit) else { throw Problem.badRequest("per_page must be from 1 to 200") }
            query.limit = limit
        }
        if let before = given("before") {
            guard let id = Int64(before), id > 0 else { throw Problem.badRequest("before must be an entry's id") }
            query.beforeID = id
        }
        query.action = given("action")
        query.actor = given("actor")
        if let slug = given("team") {
            // A team that does not exist (any more) has no entries: its past ones name it by id.
            query.teamID = try await store.team(slug: slug)?.id ?? -1
        }
        for (name, keyPath) in [("since", \AuditQuery.since), ("until", \AuditQuery.until)] {
            if let value = given(name) {
                guard let date = Timestamp.parse(value) else { throw Problem.badRequest("\(name) must be an RFC 3339 timestamp") }
                query[keyPath: keyPath] = date
            }
        }
        return query
    }

    static func json(_ entry: AuditEntry, teams: [Int64: Team]) -> JSONValue {
        .object([
            ("id", .int(entry.id)), ("at", entry.at.json), ("actor", .string(entry.actor)), ("address", entry.address.map(JSONValue.string) ?? .null),
            ("action", .string(entry.action)), ("target", .string(entry.target)),
            ("team", entry.teamID.flatMap { teams[$0] }.map { .string($0.slug) } ?? .null), ("changes", entry.changes),
        ])
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let store = services.store
        let query = try await Self.query(request, store: store, blankIsAbsent: false)
        let entries = try await store.auditLog(query)
        let teams = Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0) })
        let next = entries.count == query.limit ? entries.last.map { String($0.id) } : nil
        return JSONResponse(
            status: .ok,
            body: .object([("entries", .array(entries.map { Self.json($0, teams: teams) })), ("next_before", next.map(JSONValue.string) ?? .null)])
        )
    }
}
