import Foundation
import HeraldCore
import HeraldSQLite
import HummingbirdBcrypt
import NIOHTTP1
import Testing

/// Administrators manage people and teams: through the API, the web UI and the command line, one
/// set of rules; a person who is disabled, deleted or reset loses their sessions at once.
@Suite struct PeopleTests {
    static let password = "correct horse battery"

    /// An admin signed in to the web UI (the API's admin token is no person).
    func signedInAdmin(_ herald: HeraldHarness, email: String = "admin@example.org") async throws -> WebClient {
        _ = try await herald.store.createUser(email: email, passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .admin, teamID: nil, now: Date())
        let admin = WebClient(baseURL: herald.baseURL)
        #expect(try await admin.signIn(email: email, password: Self.password).location == "/admin")
        return admin
    }

    @Test func anAdminAddsDisablesEnablesAndDeletesAPersonThroughTheAPI() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            let admin = herald.adminToken
            let created = try await herald.call(
                .POST, "/api/users", token: admin, body: #"{"email":"ana@bde.example","password":"\#(Self.password)","team":"bde"}"#
            )
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["role"] == .string("member") && created.json["team"] == .string("bde") && created.json["password"] == nil)
            #expect(created.json["last_sign_in_at"] == .null)
            let id = try #require(created.json["id"]?.intValue)

            // Refusals name their field.
            for (body, field, status) in [
                (#"{"email":"not-an-email","password":"\#(Self.password)","team":"bde"}"#, "/email", 422),
                (#"{"email":"x@bde.example","password":"short","team":"bde"}"#, "/password", 422),
                (#"{"email":"x@bde.example","password":"\#(Self.password)"}"#, "/team", 422),
                (#"{"email":"x@bde.example","password":"\#(Self.password)","team":"nope"}"#, "/team", 422),
                (#"{"email":"x@bde.example","role":"admin","team":"bde"}"#, "/team", 422),
                (#"{"email":"ANA@bde.example","password":"\#(Self.password)","team":"bde"}"#, "/email", 409),
            ] {
                let refused = try await herald.call(.POST, "/api/users", token: admin, body: body)
                #expect(refused.status == status, "\(body): \(refused.text)")
                #expect(refused.json["errors"]?.arrayValue?.first?["field"] == .string(field), "\(body): \(refused.text)")
            }

            let ana = WebClient(baseURL: herald.baseURL)
            #expect(try await ana.signIn(email: "ana@bde.example", password: Self.password).location == "/hooks")
            #expect(try await ana.get("/hooks").status == 200)
            let listed = try await herald.call(.GET, "/api/users", token: admin)
            let row = try #require(listed.json["users"]?.arrayValue?.first { $0["id"]?.intValue == id })
            #expect(row["last_sign_in_at"]?.stringValue != nil)

            // Disabled: the open session ends at once and the password no longer signs in.
            let disabled = try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"disabled":true}"#)
            #expect(disabled.status == 200 && disabled.json["disabled"] == .bool(true), "\(disabled.text)")
            let after = try await ana.get("/hooks")
            #expect(after.status == 303 && after.location == "/login")
            let refused = try await WebClient(baseURL: herald.baseURL).signIn(email: "ana@bde.example", password: Self.password)
            #expect(refused.status == 403 && refused.html.contains("This account is disabled"))

            #expect(try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"disabled":false}"#).status == 200)
            let again = WebClient(baseURL: herald.baseURL)
            #expect(try await again.signIn(email: "ana@bde.example", password: Self.password).location == "/hooks")

            // Made an admin, she leaves her team; a member needs one.
            let promoted = try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"role":"admin"}"#)
            #expect(promoted.json["role"] == .string("admin") && promoted.json["team"] == .null, "\(promoted.text)")
            let teamless = try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"role":"member"}"#)
            #expect(teamless.status == 422 && teamless.json["errors"]?.arrayValue?.first?["field"] == .string("/team"))
            // The only administrator who signs in stays one until there is another.
            #expect(try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"role":"member","team":"bde"}"#).status == 409)
            #expect(try await herald.call(.POST, "/api/users", token: admin, body: #"{"email":"boss@example.org","role":"admin"}"#).status == 201)
            #expect(try await herald.call(.PATCH, "/api/users/\(id)", token: admin, body: #"{"role":"member","team":"bde"}"#).json["team"] == .string("bde"))

            #expect(try await herald.call(.DELETE, "/api/users/\(id)", token: admin).status == 204)
            #expect(try await again.get("/hooks").location == "/login")
            #expect(try await herald.call(.GET, "/api/users/\(id)", token: admin).status == 404)
            #expect(try await herald.call(.DELETE, "/api/users/\(id)", token: admin).status == 404)
            // Members cannot manage people.
            let bde = try await herald.makeTeam("cce")
            #expect(try await herald.call(.GET, "/api/users", token: bde.token).status == 403)
        }
    }

    @Test func theLastAdministratorWhoCanSignInCannotBeDemotedDisabledOrDeleted() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            _ = try await signedInAdmin(herald)
            let only = try #require(try await herald.store.user(email: "admin@example.org"))
            for (method, body) in [(HTTPMethod.PATCH, #"{"disabled":true}"#), (.PATCH, #"{"role":"member","team":"bde"}"#), (.DELETE, nil)] {
                let refused = try await herald.call(method, "/api/users/\(only.id)", token: herald.adminToken, body: body)
                #expect(refused.status == 409, "\(refused.text)")
                #expect(refused.json["detail"]?.stringValue?.contains("last administrator") == true)
            }
            let second = try await herald.call(.POST, "/api/users", token: herald.adminToken, body: #"{"email":"second@example.org","role":"admin"}"#)
            #expect(second.status == 201)
            #expect(try await herald.call(.PATCH, "/api/users/\(only.id)", token: herald.adminToken, body: #"{"disabled":true}"#).status == 200)
        }
    }

    @Test func aResetPasswordIsShownOnceEndsEverySessionAndMustBeChangedFirst() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let user = try await herald.store.createUser(
                email: "ana@bde.example", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
            )
            let laptop = WebClient(baseURL: herald.baseURL)
            _ = try await laptop.signIn(email: "ana@bde.example", password: Self.password)
            let admin = try await signedInAdmin(herald)

            let reset = try await admin.follow(try await admin.submit(from: "/admin/users/\(user.id)", to: "/admin/users/\(user.id)/reset-password", []))
            let password = try #require(reset.html.firstMatch(of: /id="one-time-password">([^<]+)</)?.1).description
            #expect(!(try await admin.get("/admin/users/\(user.id)")).html.contains(password), "shown once")
            #expect(try await laptop.get("/hooks").location == "/login", "the reset ended her session")
            #expect(try await WebClient(baseURL: herald.baseURL).signIn(email: "ana@bde.example", password: Self.password).status == 401)

            // The one-time password opens the account page only, until she chooses her own.
            let phone = WebClient(baseURL: herald.baseURL)
            #expect(try await phone.signIn(email: "ana@bde.example", password: password).location == "/account")
            #expect(try await phone.get("/hooks").location == "/account")
            #expect(try await phone.get("/account").html.contains("choose your own to go on"))
            let wrong = try await phone.follow(try await phone.submit(
                from: "/account", to: "/account/password",
                [("current_password", "not it at all"), ("new_password", "a brand new secret"), ("confirm_password", "a brand new secret")]
            ))
            #expect(wrong.html.contains("Current password is not your current password."))
            let mismatch = try await phone.follow(try await phone.submit(
                from: "/account", to: "/account/password",
                [("current_password", password), ("new_password", "a brand new secret"), ("confirm_password", "another secret!!")]
            ))
            #expect(mismatch.html.contains("Confirm password does not match the new password."))
            #expect(try await phone.get("/hooks").location == "/account")
            let changed = try await phone.follow(try await phone.submit(
                from: "/account", to: "/account/password",
                [("current_password", password), ("new_password", "a brand new secret"), ("confirm_password", "a brand new secret")]
            ))
            #expect(changed.html.contains("Your password is changed."))
            #expect(try await phone.get("/hooks").status == 200)
            #expect(try await WebClient(baseURL: herald.baseURL).signIn(email: "ana@bde.example", password: "a brand new secret").location == "/hooks")

            // The API's reset answers the password once and ends the sessions too.
            let byAPI = try await herald.call(.POST, "/api/users/\(user.id)/password-reset", token: herald.adminToken)
            #expect(byAPI.status == 200 && byAPI.json["user"]?["must_change_password"] == .bool(true))
            #expect(byAPI.json["password"]?.stringValue?.count == 20)
            #expect(try await phone.get("/hooks").location == "/login")
        }
    }

    @Test func anAdminManagesPeopleAndTeamsFromTheirPages() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let admin = try await signedInAdmin(herald)
            // Added without a password: a one-time password, shown once.
            let added = try await admin.follow(try await admin.submit(
                from: "/admin/users", to: "/admin/members", [("from", "/admin/users"), ("email", "luis@bde.example"), ("password", ""), ("team", String(bde.team.id))]
            ))
            #expect(added.html.contains("luis@bde.example can now sign in with this one-time password"))
            #expect(added.html.contains(#"id="one-time-password""#))
            let luis = try #require(try await herald.store.user(email: "luis@bde.example"))
            #expect(luis.mustChangePassword)
            let list = try await admin.get("/admin/users")
            #expect(list.html.contains("luis@bde.example") && list.html.contains("Must change password") && !list.html.contains("one-time-password"))

            let disabled = try await admin.follow(try await admin.submit(from: "/admin/users/\(luis.id)", to: "/admin/users/\(luis.id)/disable", []))
            #expect(disabled.html.contains("luis@bde.example is disabled"))
            #expect(try await herald.store.user(id: luis.id)?.disabled == true)
            let promoted = try await admin.follow(try await admin.submit(from: "/admin/users/\(luis.id)", to: "/admin/users/\(luis.id)", [("role", "admin"), ("team", "")]))
            #expect(promoted.html.contains("luis@bde.example is now an administrator."))

            // A team with a member, a hook and a token is not deleted; the page says what is left.
            let member = try await herald.store.createUser(email: "ana@bde.example", passwordHash: "x", role: .member, teamID: bde.team.id, now: Date())
            _ = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["*"]}"#)
            let refused = try await admin.follow(try await admin.submit(from: "/admin/teams/bde", to: "/admin/teams/bde/delete", []))
            #expect(refused.html.contains("Team bde still has 1 webhook, 1 member and 1 API token: delete or move them first."), "\(refused.html)")
            let renamed = try await admin.follow(try await admin.submit(from: "/admin/teams/bde", to: "/admin/teams/bde", [("name", "Banco de Desarrollo")]))
            #expect(renamed.html.contains("Team renamed to Banco de Desarrollo."))
            let granted = try await admin.follow(try await admin.submit(from: "/admin/teams/bde", to: "/admin/teams/bde/channels", [("channels", "leads\nexports")]))
            #expect(granted.html.contains("now reads exports, leads"))
            #expect(try await herald.store.team(slug: "bde")?.extraChannels.sorted() == ["exports", "leads"])

            let deleted = try await admin.follow(try await admin.submit(from: "/admin/users/\(member.id)", to: "/admin/users/\(member.id)/delete", []))
            #expect(deleted.html.contains("ana@bde.example deleted."))
            #expect(try await herald.store.user(id: member.id) == nil)
        }
    }

    @Test func deletingAPersonCanRevokeTheTokensTheyMade() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let user = try await herald.store.createUser(
                email: "ana@bde.example", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
            )
            let ana = WebClient(baseURL: herald.baseURL)
            _ = try await ana.signIn(email: "ana@bde.example", password: Self.password)
            let made = try await ana.follow(try await ana.submit(from: "/tokens", to: "/tokens", [("name", "crm-sync")]))
            let token = try #require(made.html.firstMatch(of: /id="shown-token">([^<]+)</)?.1).description
            #expect(try await herald.call(.GET, "/api/hooks", token: token).status == 200)
            let listed = try await herald.call(.GET, "/api/tokens", token: herald.adminToken)
            let row = try #require(listed.json["tokens"]?.arrayValue?.first { $0["name"] == .string("crm-sync") })
            #expect(row["created_by"] == .string("ana@bde.example"))
            #expect(row["last_used_at"]?.stringValue != nil)
            let byToken = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"provider","name":"erp"}"#)
            #expect(byToken.json["created_by"]?.stringValue?.hasPrefix("token ") == true, "\(byToken.text)")
            let page = try await signedInAdmin(herald).get("/admin/users/\(user.id)")
            #expect(page.html.contains("Also revoke the 1 API token(s) they made"))

            #expect(try await herald.call(.DELETE, "/api/users/\(user.id)?revoke_tokens=true", token: herald.adminToken).status == 204)
            #expect(try await herald.call(.GET, "/api/hooks", token: token).status == 401)
            #expect(try await herald.call(.DELETE, "/api/users/\(user.id)?revoke_tokens=maybe", token: herald.adminToken).status == 400)
        }
    }

    @Test func teamsAreRenamedAndDeletedOnceEmptyThroughTheAPI() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let renamed = try await herald.call(.PATCH, "/api/teams/bde", token: herald.adminToken, body: #"{"name":"Banco"}"#)
            #expect(renamed.status == 200 && renamed.json["name"] == .string("Banco") && renamed.json["slug"] == .string("bde"))
            #expect(try await herald.call(.PATCH, "/api/teams/bde", token: herald.adminToken, body: #"{"name":"bad\u0007name"}"#).status == 422)
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["*"]}"#)
            let refused = try await herald.call(.DELETE, "/api/teams/bde", token: herald.adminToken)
            #expect(refused.status == 409)
            #expect(refused.json["detail"]?.stringValue == "Team bde still has 1 webhook and 1 API token: delete or move them first.", "\(refused.text)")
            #expect(try await herald.call(.DELETE, "/api/hooks/\(hook.id)", token: bde.token).status == 204)
            let tokens = try await herald.call(.GET, "/api/tokens", token: herald.adminToken).json["tokens"]?.arrayValue ?? []
            for token in tokens where token["team"] == .string("bde") {
                #expect(try await herald.call(.DELETE, "/api/tokens/\(token["id"]?.intValue ?? 0)", token: herald.adminToken).status == 204)
            }
            #expect(try await herald.call(.DELETE, "/api/teams/bde", token: herald.adminToken).status == 204)
            #expect(try await herald.call(.GET, "/api/teams/bde", token: herald.adminToken).status == 404)
            #expect(try await herald.call(.DELETE, "/api/teams/bde", token: herald.adminToken).status == 404)
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theCommandLineManagesPeopleAndTeams() async throws {
        let binary = try #require(ExternalTools.heraldBinary).path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-people-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func herald(_ arguments: String...) async throws -> (status: Int32, output: String) {
            try await ExternalTools.run(binary, arguments + ["--data-dir", directory.path])
        }
        #expect(try await herald("team", "create", "--name", "BDE", "--slug", "bde").status == 0)
        let added = try await herald("admin", "users", "add", "--email", "ana@bde.example", "--team", "bde")
        #expect(added.status == 0 && added.output.contains("one-time password"), "\(added.output)")
        #expect(try await herald("admin", "users", "add", "--email", "boss@example.org", "--role", "admin", "--password", Self.password).status == 0)
        let lastAdmin = try await herald("admin", "users", "disable", "boss@example.org")
        #expect(lastAdmin.status != 0 && lastAdmin.output.contains("last administrator"), "\(lastAdmin.output)")
        let inUse = try await herald("team", "delete", "bde")
        #expect(inUse.status != 0 && inUse.output.contains("Team bde still has 1 member"), "\(inUse.output)")
        #expect(try await herald("admin", "users", "disable", "ana@bde.example").status == 0)
        let reset = try await herald("admin", "users", "reset-password", "ana@bde.example")
        #expect(reset.status == 0 && reset.output.contains("One-time password for ana@bde.example"))
        let listed = try await herald("admin", "users", "list")
        let rows = listed.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.contains { $0.count == 6 && $0[1] == "ana@bde.example" && $0[2] == "member" && $0[3] == "bde" && $0[4] == "disabled" }, "\(listed.output)")
        #expect(rows.contains { $0.count == 6 && $0[1] == "boss@example.org" && $0[2] == "admin" && $0[4] == "active" }, "\(listed.output)")
        #expect(try await herald("team", "rename", "bde", "--name", "Banco").status == 0)
        #expect(try await herald("admin", "users", "delete", "ana@bde.example").status == 0)
        #expect(try await herald("team", "delete", "bde").status == 0)

        let store = try SQLiteStore(path: directory.appendingPathComponent("herald.sqlite").path)
        #expect(try await store.users(teamID: nil).map(\.email) == ["boss@example.org"])
        #expect(try await store.teams().isEmpty)
        // What the command line did is in the audit log, as its.
        let audit = try await store.auditLog(AuditQuery(limit: 100))
        #expect(audit.first?.action == "team.deleted" && audit.allSatisfy { $0.actor == "command line" }, "\(audit.map(\.action))")
        #expect(Set(audit.map(\.action)).isSuperset(of: ["team.created", "user.created", "user.updated", "user.password-reset", "team.renamed", "user.deleted"]))
    }
}
