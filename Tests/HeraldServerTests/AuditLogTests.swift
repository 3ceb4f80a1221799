import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

/// Every administrative action and change to a hook is in the audit log: who, what, before → after
/// with secrets masked, when, from where; browsable with filters by admins only.
@Suite struct AuditLogTests {
    static let password = "correct horse battery"

    @Test func actionsThroughTheAPIAndTheWebAreRecordedWithTheirActorAndMaskedSecrets() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            _ = try await herald.store.createUser(email: "admin@example.org", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .admin, teamID: nil, now: Date())
            let added = try await herald.call(.POST, "/api/users", token: herald.adminToken, body: #"{"email":"ana@bde.example","password":"\#(Self.password)","team":"bde"}"#)
            let ana = try #require(added.json["id"]?.intValue)
            let admin = WebClient(baseURL: herald.baseURL)
            _ = try await admin.signIn(email: "admin@example.org", password: Self.password)
            _ = try await admin.submit(from: "/admin/users/\(ana)", to: "/admin/users/\(ana)/disable", [])
            #expect(try await herald.call(.PATCH, "/api/teams/bde", token: herald.adminToken, body: #"{"name":"Banco"}"#).status == 200)
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/a","events":["lead.*"]}"#)
            let updated = try await herald.call(
                .PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"url":"http://127.0.0.1:9/b","secret":"a-brand-new-secret-of-the-team"}"#
            )
            #expect(updated.status == 200, "\(updated.text)")
            #expect(try await herald.call(.DELETE, "/api/hooks/\(hook.id)", token: bde.token).status == 204)

            let log = try await herald.call(.GET, "/api/audit-log", token: herald.adminToken)
            #expect(log.status == 200)
            let entries = log.json["entries"]?.arrayValue ?? []
            let actions = entries.compactMap { $0["action"]?.stringValue }
            // Newest first.
            #expect(Array(actions.prefix(6)) == ["hook.deleted", "hook.updated", "hook.created", "team.renamed", "user.updated", "user.created"], "\(actions)")
            func entry(_ action: String) -> JSONValue? { entries.first { $0["action"] == .string(action) } }
            // The web's admin, from the loopback address; the API's token by its id and name.
            #expect(entry("user.updated")?["actor"] == .string("admin@example.org"))
            #expect(entry("user.updated")?["address"] == .string("127.0.0.1"))
            #expect(entry("user.updated")?["changes"]?["disabled"] == .object([("before", .bool(false)), ("after", .bool(true))]))
            #expect(entry("user.created")?["actor"]?.stringValue?.hasPrefix("token ") == true)
            #expect(entry("team.renamed")?["changes"]?["name"]?["after"] == .string("Banco"))
            #expect(entry("team.renamed")?["team"] == .string("bde"))
            let hookChange = try #require(entry("hook.updated")?["changes"])
            #expect(hookChange["url"] == .object([("before", .string("http://127.0.0.1:9/a")), ("after", .string("http://127.0.0.1:9/b"))]))
            #expect(hookChange["secret"] == .object([("before", .string("••••")), ("after", .string("••••"))]))
            #expect(!log.text.contains("a-brand-new-secret-of-the-team") && !log.text.contains(Self.password), "no secret reaches the log")
            let teamTokenID = try #require(try await herald.store.token(hash: APIToken.hash(bde.token))?.id)
            #expect(entry("hook.updated")?["actor"]?.stringValue?.hasPrefix("token \(teamTokenID) (") == true, "\(entries)")

            // Filters: an action's family, a team, an actor; pages by `before`.
            let users = try await herald.call(.GET, "/api/audit-log?action=user", token: herald.adminToken).json["entries"]?.arrayValue ?? []
            #expect(users.compactMap { $0["action"]?.stringValue } == ["user.updated", "user.created"])
            let byTeam = try await herald.call(.GET, "/api/audit-log?team=bde&action=hook", token: herald.adminToken).json["entries"]?.arrayValue ?? []
            #expect(byTeam.count == 3)
            let byActor = try await herald.call(.GET, "/api/audit-log?actor=admin%40example.org", token: herald.adminToken).json["entries"]?.arrayValue ?? []
            #expect(byActor.compactMap { $0["action"]?.stringValue } == ["user.updated"])
            let first = try await herald.call(.GET, "/api/audit-log?per_page=2", token: herald.adminToken).json
            let next = try #require(first["next_before"]?.stringValue)
            let second = try await herald.call(.GET, "/api/audit-log?per_page=2&before=\(next)", token: herald.adminToken).json
            #expect(second["entries"]?.arrayValue?.compactMap { $0["action"]?.stringValue } == ["hook.created", "team.renamed"])
            #expect(try await herald.call(.GET, "/api/audit-log?since=yesterday", token: herald.adminToken).status == 400)
            #expect(try await herald.call(.GET, "/api/audit-log", token: bde.token).status == 403)

            // The page, with the blank fields its form sends.
            let page = try await admin.get("/admin/audit-log?action=&actor=&team=&since=&until=")
            #expect(page.status == 200 && page.html.contains("<code>hook.deleted</code>") && page.html.contains("admin@example.org"))
            let filtered = try await admin.get("/admin/audit-log?action=team")
            #expect(filtered.html.contains("<code>team.renamed</code>") && !filtered.html.contains("<code>hook.deleted</code>"))
        }
    }
}
