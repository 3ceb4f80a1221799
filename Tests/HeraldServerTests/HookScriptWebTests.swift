import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

/// The hook form's filter, transform and Test button; config-managed hooks are read-only pages.
@Suite struct HookScriptWebTests {
    func member(_ herald: HeraldHarness, _ team: Team) async throws -> WebClient {
        _ = try await herald.store.createUser(email: "ana@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .member, teamID: team.id, now: Date())
        let client = WebClient(baseURL: herald.baseURL)
        _ = try await client.signIn(email: "ana@bde.example", password: WebTests.password)
        return client
    }

    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func theTestButtonShowsWhatTheScriptsMakeOfTheExamplePayloadAndSavesNothing() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await member(herald, bde.team)
            let fields: [(String, String)] = [
                ("url", "http://127.0.0.1:9/hook"), ("events_mode", "default"), ("active", "1"),
                ("filter", #"function (data) { return data.department == "bde"; }"#),
                ("transform", "function (event) { return {who: event.data.name, dept: event.data.department}; }"), ("intent", "test"),
            ]
            let tried = try await client.submit(from: "/hooks/new", to: "/hooks", fields)
            #expect(tried.status == 200)
            #expect(tried.html.contains("the filter says <strong>delivered</strong>"))
            // The seed catalog's lead.created example: Ana Rivera of bde.
            #expect(tried.html.contains("&quot;who&quot; : &quot;Ana Rivera&quot;") || tried.html.contains("&quot;who&quot;: &quot;Ana Rivera&quot;"), "\(tried.html)")
            #expect(try await herald.store.hooks(teamID: nil).isEmpty, "a test saves nothing")
            // A filter that declines, and a transform that throws, say so.
            var declining = fields
            declining[3] = ("filter", #"function (data) { return data.department == "cce"; }"#)
            #expect(try await client.submit(from: "/hooks/new", to: "/hooks", declining).html.contains("the filter says <strong>filtered out</strong>"))
            var throwing = fields
            throwing[4] = ("transform", "function (event) { throw new Error('bad shape'); }")
            #expect(try await client.submit(from: "/hooks/new", to: "/hooks", throwing).html.contains("transform error: Error: bad shape"))
            // A syntax error is a field error, as on save.
            var broken = fields
            broken[3] = ("filter", "function (data) {")
            let refused = try await client.submit(from: "/hooks/new", to: "/hooks", broken)
            #expect(refused.html.contains("SyntaxError"))
            // Saved, the scripts are on the hook and shown on its page.
            let saved = try await client.submit(from: "/hooks/new", to: "/hooks", Array(fields.dropLast()))
            #expect(saved.status == 303)
            let hook = try #require(try await herald.store.hooks(teamID: nil).first)
            #expect(hook.filter == #"function (data) { return data.department == "bde"; }"#)
            let page = try await client.get("/hooks/\(hook.id)")
            #expect(page.html.contains("return {who: event.data.name, dept: event.data.department};"))
        }
    }

    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func aConfigManagedHookIsShownAsSuchAndCannotBeEditedFromTheUI() async throws {
        let config = try SyncGatewayConfig(text: #"{"databases":{"leads":{"event_handlers":{"document_changed":[{"handler":"webhook","url":"http://127.0.0.1:9/x"}]}}}}"#)
        try await HeraldHarness.run { configuration in
            configuration.syncGateway = config
        } _: { herald in
            _ = try await herald.store.createUser(
                email: "root@herald.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .admin, teamID: nil, now: Date()
            )
            let admin = WebClient(baseURL: herald.baseURL)
            _ = try await admin.signIn(email: "root@herald.example", password: WebTests.password)
            let hook = try #require(try await herald.store.hooks(teamID: nil).first)
            let page = try await admin.get("/hooks/\(hook.id)")
            #expect(page.html.contains("Managed by the config file (<code>databases.leads.event_handlers.document_changed[0]</code>)"))
            #expect(!page.html.contains("/hooks/\(hook.id)/edit"))
            #expect(!page.html.contains("/hooks/\(hook.id)/delete"))
            let edit = try await admin.get("/hooks/\(hook.id)/edit")
            #expect(edit.status == 409)
            #expect(edit.html.contains("edit the file and restart Herald"))
            let delete = try await admin.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/delete", [])
            #expect(delete.status == 409)
            #expect(try await herald.store.hook(id: hook.id) != nil)
        }
    }
}
