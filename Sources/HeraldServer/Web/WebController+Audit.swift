import Foundation
import HeraldCore
import Hummingbird

/// The audit log page (admin), with the API's filters.
extension WebController {
    @Sendable func auditLogPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        let query = try await AuditLogController.query(request, store: store, blankIsAbsent: true)
        let entries = try await store.auditLog(query)
        let teams = try await teamsByID()
        let parameters = request.uri.queryParameters
        func value(_ name: String) -> String { parameters[name[...]].map(String.init) ?? "" }
        var older = URLComponents()
        older.queryItems = ["action", "actor", "team", "since", "until"].compactMap { name in
            value(name).isEmpty ? nil : URLQueryItem(name: name, value: value(name))
        } + [URLQueryItem(name: "before", value: entries.last.map { String($0.id) } ?? "")]
        return renderer.render(
            "audit-log",
            page(signIn, title: "Audit log", [
                "entries": entries.map { entry in
                    [
                        "time": Self.readableTime(entry.at), "actor": entry.actor, "address": entry.address ?? "", "action": entry.action,
                        "target": entry.target, "team": entry.teamID.flatMap { teams[$0]?.name } ?? "",
                        "changes": entry.changes.objectValue.map { pairs in
                            pairs.map { key, change -> [String: Any] in
                                if let before = change["before"], let after = change["after"] {
                                    return ["field": key, "before": before == .null ? "—" : before.jsonString, "after": after == .null ? "—" : after.jsonString, "isChange": true]
                                }
                                return ["field": key, "value": change.jsonString, "isChange": false]
                            }
                        } ?? [],
                    ] as [String: Any]
                },
                "noEntries": entries.isEmpty, "hasOlder": entries.count == query.limit, "olderLink": "/admin/audit-log" + (older.string ?? ""),
                "action": value("action"), "actorFilter": value("actor"), "teamFilter": value("team"), "since": value("since"), "until": value("until"),
                "teams": teams.values.sorted { $0.name < $1.name }.map { ["slug": $0.slug, "name": $0.name, "selected": $0.slug == value("team")] },
            ])
        )
    }
}
