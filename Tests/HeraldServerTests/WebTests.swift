import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

/// The web UI, page by page, against the real app over HTTP.
@Suite struct WebTests {
    static let password = "correct horse battery"

    func member(_ herald: HeraldHarness, _ team: Team, _ email: String) async throws -> WebClient {
        _ = try await herald.store.createUser(email: email, passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .member, teamID: team.id, now: Date())
        let client = WebClient(baseURL: herald.baseURL)
        let signedIn = try await client.signIn(email: email, password: Self.password)
        #expect(signedIn.status == 303 && signedIn.location == "/hooks")
        return client
    }

    @Test func signingInNeedsTheRightPasswordAndPagesNeedASession() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            _ = try await herald.store.createUser(email: "ana@bde.example", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .member, teamID: bde.team.id, now: Date())
            let client = WebClient(baseURL: herald.baseURL)
            #expect(try await client.get("/hooks").location == "/login")
            let wrong = try await client.signIn(email: "ana@bde.example", password: "wrong password")
            #expect(wrong.status == 401)
            #expect(wrong.html.contains("That email and password do not match."))
            #expect(wrong.html.contains(#"value="ana@bde.example""#))
            let right = try await client.signIn(email: "ana@bde.example", password: Self.password)
            #expect(right.status == 303)
            let hooks = try await client.get("/hooks")
            #expect(hooks.status == 200 && hooks.html.contains("Add webhook"))
            let out = try await client.submit(from: "/hooks", to: "/logout", [])
            #expect(out.location == "/login")
            #expect(try await client.get("/hooks").location == "/login")
        }
    }

    @Test func aFormWithoutTheCSRFTokenIsRefused() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await member(herald, bde.team, "ana@bde.example")
            let refused = try await client.post("/hooks", [("url", "http://127.0.0.1:9/x"), ("events_mode", "all"), ("active", "1")])
            #expect(refused.status == 403)
            #expect(refused.html.contains("security token"))
            let forged = try await client.post("/hooks", [("_csrf", "forged"), ("url", "http://127.0.0.1:9/x")])
            #expect(forged.status == 403)
            #expect(try await herald.store.hooks(teamID: nil).isEmpty)
            let login = try await WebClient(baseURL: herald.baseURL).post("/login", [("email", "ana@bde.example"), ("password", Self.password)])
            #expect(login.status == 403)
        }
    }

    @Test func aMemberRegistersAHookThroughTheForm() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let client = try await member(herald, bde.team, "ana@bde.example")
                let form = try await client.get("/hooks/new")
                for label in ["Payload URL", "Content type", "Secret", "SSL verification", "Which events would you like to trigger this webhook?", "Channels", "Active"] {
                    #expect(form.html.contains(label), "\(label)")
                }
                #expect(form.html.contains("lead.assigned"), "catalog events are offered")
                // Defaults that deliver: left empty, a hook listens on every channel its team reads.
                #expect(form.html.contains(#"name="channels" type="text" value="""#))
                #expect(form.html.contains("Empty: every channel the team reads (<code>bde</code>)"))
                // Invalid input comes back with the user's values and a message next to the field.
                let invalid = try await client.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", "ftp://nope"), ("content_type", "form"), ("events_mode", "custom"), ("channels", "bde"), ("active", "1"),
                ])
                #expect(invalid.status == 422)
                #expect(invalid.html.contains(#"value="ftp://nope""#))
                #expect(invalid.html.contains("The URL must be an absolute http or https URL."))
                #expect(invalid.html.contains("Choose at least one event."))
                #expect(invalid.html.contains(#"<option value="form" selected>"#))
                #expect(try await herald.store.hooks(teamID: nil).isEmpty)
                // Channels are tenancy: a team uses only its own and those an admin granted.
                let ungranted = try await client.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", receiver.url()), ("events_mode", "all"), ("channels", "bde, cce"), ("active", "1"),
                ])
                #expect(ungranted.status == 422)
                #expect(ungranted.html.contains("Channel cce is not granted to team bde"))
                #expect(try await herald.store.hooks(teamID: nil).isEmpty)
                _ = try await herald.store.setExtraChannels(["cce"], teamID: bde.team.id)
                let posted = try await client.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", receiver.url()), ("content_type", "json"), ("insecure_ssl", "0"), ("events_mode", "custom"),
                    ("events", "lead.created"), ("events", "lead.updated"), ("channels", "bde, cce"), ("active", "1"),
                ])
                // Post/Redirect/Get: reloading the page the form led to cannot submit it again.
                let hook = try #require(try await herald.store.hooks(teamID: bde.team.id).first)
                #expect(posted.status == 303)
                #expect(posted.location == "/hooks/\(hook.id)?notice=created")
                // Another page opened first (a second tab) leaves the secret for the hook's page.
                #expect(!(try await client.get("/tokens")).html.contains("whsec_"))
                let created = try await client.get(try #require(posted.location))
                #expect(created.status == 200)
                #expect(created.html.contains("Webhook added"))
                #expect(created.html.contains("Your new secret"))
                #expect(hook.events == ["lead.created", "lead.updated"])
                #expect(hook.channels == ["bde", "cce"])
                let secret = try #require(created.html.range(of: #"whsec_[A-Za-z0-9+/=]+"#, options: .regularExpression).map { String(created.html[$0]) })
                #expect(WebhookSecretCheck.opens(hook, secret, herald))
                try await eventually("the ping") { receiver.received.count == 1 }
                // The secret is not shown again.
                #expect(!(try await client.get("/hooks/\(hook.id)")).html.contains(secret))
                // Rotating shows the new secret once, on the page the form redirects to.
                let rotatedPost = try await client.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/rotate", [])
                #expect(rotatedPost.status == 303)
                let rotated = try await client.follow(rotatedPost)
                #expect(rotated.html.contains("New secret issued"))
                let newSecret = try #require(rotated.html.range(of: #"whsec_[A-Za-z0-9+/=]+"#, options: .regularExpression).map { String(rotated.html[$0]) })
                #expect(newSecret != secret)
                #expect(!(try await client.get("/hooks/\(hook.id)")).html.contains(newSecret))
            }
        }
    }

    @Test func theHookPageShowsDeliveriesAndRedeliversAndPings() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let client = try await member(herald, bde.team, "ana@bde.example")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"lead_77"}}"#)
                try await eventually("the lead") { receiver.received.count == 2 }
                try await eventually("both are recorded") {
                    try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, statuses: DeliveryStatus.APIStatus.success.statuses, limit: 10)).count == 2
                }
                let page = try await client.get("/hooks/\(hook.id)")
                #expect(page.html.contains("Recent Deliveries"))
                #expect(page.html.contains("<code>lead.created</code>"))
                #expect(page.html.contains("<svg class=\"chart\""))
                #expect(page.html.contains("2 succeeded, 0 failed"))
                #expect(!page.html.contains("<dt>Public key</dt>"), "empty settings are not listed")
                #expect(page.html.contains("<dt>Channels</dt><dd>every channel the team reads</dd>"), "a hook without channels says what it listens on")
                #expect(page.html.contains("<dt>Authentication</dt><dd>none</dd>"))
                #expect(!page.html.contains("received none of"), "a hook that gets its team's events needs no explanation")
                let delivery = try #require(try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, eventType: "lead.created", limit: 1)).first)
                let detail = try await client.get("/hooks/\(hook.id)/deliveries/\(delivery.id)")
                #expect(detail.html.contains("X-Hub-Signature-256"))
                #expect(detail.html.contains("&quot;lead_id&quot;: &quot;lead_77&quot;"))
                receiver.respond { _, _ in .init(status: 500, body: "down for maintenance") }
                let redelivered = try await client.submit(from: "/hooks/\(hook.id)/deliveries/\(delivery.id)", to: "/hooks/\(hook.id)/deliveries/\(delivery.id)/redeliver", [])
                #expect(redelivered.location == "/hooks/\(hook.id)?notice=redelivered")
                try await eventually("the redelivery fails") {
                    try await herald.store.delivery(id: delivery.id)?.lifecycle.status == .failed
                }
                let failed = try await client.get("/hooks/\(hook.id)/deliveries/\(delivery.id)")
                #expect(failed.html.contains("down for maintenance"))
                #expect(failed.html.contains("redelivery"))
                let pinged = try await client.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/ping", [])
                #expect(pinged.location == "/hooks/\(hook.id)?notice=pinged")
                try await eventually("the ping") { receiver.received.count == 4 }
            }
        }
    }

    @Test func recentDeliveriesPage() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await member(herald, bde.team, "ana@bde.example")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","active":false}"#)
            for _ in 0..<22 { _ = try await herald.store.ping(hookID: hook.id, now: Date()) }
            let first = try await client.get("/hooks/\(hook.id)")
            let rows = { (html: String) in html.components(separatedBy: "/hooks/\(hook.id)/deliveries/").count - 1 }
            #expect(rows(first.html) == 20)
            let next = try #require(first.html.range(of: #"\?cursor=d\d+"#, options: .regularExpression).map { String(first.html[$0]) })
            let second = try await client.get("/hooks/\(hook.id)\(next)")
            #expect(rows(second.html) == 3)
            #expect(!second.html.contains("Older deliveries"))
        }
    }

    @Test func aDisabledHookShowsWhyAndCanBeEnabled() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await member(herald, bde.team, "ana@bde.example")
            let created = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","active":false}"#)
            var hook = try #require(try await herald.store.hook(id: created.id))
            hook.disabledReason = "The receiver answered 410 Gone."
            _ = try await herald.store.updateHook(hook, now: Date())
            let page = try await client.get("/hooks/\(hook.id)")
            #expect(page.html.contains("This webhook is disabled."))
            #expect(page.html.contains("The receiver answered 410 Gone."))
            let enabled = try await client.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/enable", [])
            #expect(enabled.status == 303)
            let saved = try #require(try await herald.store.hook(id: hook.id))
            #expect(saved.active && saved.disabledReason == nil)
        }
    }

    @Test func anotherTeamsHookIsANotFoundPage() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","active":false}"#)
            let other = try await member(herald, cce.team, "luis@cce.example")
            for path in ["/hooks/\(hook.id)", "/hooks/\(hook.id)/edit"] {
                let page = try await other.get(path)
                #expect(page.status == 404, "\(path)")
                #expect(page.html.contains("Page not found"))
            }
            let change = try await other.submit(from: "/hooks", to: "/hooks/\(hook.id)/delete", [])
            #expect(change.status == 404)
            #expect(try await herald.store.hook(id: hook.id) != nil)
            #expect(!(try await other.get("/hooks")).html.contains("127.0.0.1:9/x"))
            #expect(try await other.get("/admin").status == 403)
        }
    }

    @Test func aTokenIsShownOnceAndCanBeRevoked() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await member(herald, bde.team, "ana@bde.example")
            let posted = try await client.submit(from: "/tokens", to: "/tokens", [("name", "crm-sync")])
            #expect(posted.status == 303 && posted.location == "/tokens")
            let created = try await client.get("/tokens")
            let token = try #require(created.html.range(of: #"hrld_[A-Za-z0-9_-]+"#, options: .regularExpression).map { String(created.html[$0]) })
            #expect(try await herald.call(.GET, "/api/hooks", token: token).status == 200)
            let list = try await client.get("/tokens")
            #expect(list.html.contains("crm-sync") && !list.html.contains(token))
            let stored = try #require(try await herald.store.tokens(teamID: bde.team.id).first { $0.name == "crm-sync" })
            #expect(stored.scope == .team)
            _ = try await client.submit(from: "/tokens", to: "/tokens/\(stored.id)/revoke", [])
            #expect(try await herald.call(.GET, "/api/hooks", token: token).status == 401)
            // The page and the API name tokens by one rule: trimmed, "token" when blank, at most 200 characters.
            let long = String(repeating: "n", count: APIToken.maxNameLength)
            #expect(try await client.submit(from: "/tokens", to: "/tokens", [("name", "  " + long + " ")]).status == 303)
            #expect(try await client.submit(from: "/tokens", to: "/tokens", [("name", " ")]).status == 303)
            let tooLong = try await client.submit(from: "/tokens", to: "/tokens", [("name", long + "n")])
            #expect(tooLong.status == 422 && tooLong.html.contains("at most \(APIToken.maxNameLength) characters"))
            let api = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"team","team":"bde","name":"\#(long)n"}"#)
            #expect(api.status == 422 && api.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/name")
            let blank = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"team","team":"bde","name":" "}"#)
            #expect(blank.json["name"]?.stringValue == "token")
            let names = try await herald.store.tokens(teamID: bde.team.id).map(\.name)
            #expect(names.contains(long) && names.filter { $0 == "token" }.count == 2)
        }
    }

    @Test func anAdminCreatesATeamAndAMemberWhoCanSignIn() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.store.createUser(email: "admin@example.org", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .admin, teamID: nil, now: Date())
            let admin = WebClient(baseURL: herald.baseURL)
            #expect(try await admin.signIn(email: "admin@example.org", password: Self.password).location == "/admin")
            let bad = try await admin.submit(from: "/admin", to: "/admin/teams", [("name", "Tourism"), ("slug", "Not A Slug")])
            #expect(bad.status == 422 && bad.html.contains("Use lower-case letters"))
            let posted = try await admin.submit(from: "/admin", to: "/admin/teams", [("name", "Tourism Company"), ("slug", "tourism")])
            #expect(posted.status == 303)
            let team = try await admin.follow(posted)
            #expect(team.status == 200 && team.html.contains("Team Tourism Company created."))
            #expect(!(try await admin.get("/admin")).html.contains("Team Tourism Company created."), "a notice shows once")
            let teamID = try #require(try await herald.store.team(slug: "tourism")?.id)
            let weak = try await admin.submit(from: "/admin", to: "/admin/members", [("email", "eva@tourism.example"), ("password", "short"), ("team", String(teamID))])
            #expect(weak.status == 422 && weak.html.contains("at least 10 characters"))
            let added = try await admin.follow(try await admin.submit(
                from: "/admin", to: "/admin/members", [("email", "eva@tourism.example"), ("password", Self.password), ("team", String(teamID)), ("role", "member")]
            ))
            #expect(added.html.contains("eva@tourism.example can now sign in."))
            let eva = WebClient(baseURL: herald.baseURL)
            #expect(try await eva.signIn(email: "eva@tourism.example", password: Self.password).location == "/hooks")
        }
    }

    func admin(_ herald: HeraldHarness) async throws -> WebClient {
        _ = try await herald.store.createUser(email: "admin@example.org", passwordHash: Bcrypt.hash(Self.password, cost: 4), role: .admin, teamID: nil, now: Date())
        let admin = WebClient(baseURL: herald.baseURL)
        _ = try await admin.signIn(email: "admin@example.org", password: Self.password)
        return admin
    }

    @Test func anAdminEditsTheEventTypeCatalog() async throws {
        try await HeraldHarness.run { herald in
            let admin = try await admin(herald)
            let page = try await admin.get("/admin/event-types")
            #expect(page.html.contains("<code>lead.created</code>") && page.html.contains("&quot;lead_id&quot;"))
            let badJSON = try await admin.submit(from: "/admin/event-types", to: "/admin/event-types", [("name", "grant.approved"), ("schema", "{not json")])
            #expect(badJSON.status == 422 && badJSON.html.contains("is not valid JSON"))
            #expect(badJSON.html.contains(#"value="grant.approved""#), "the user's values come back")
            let mismatch = try await admin.submit(from: "/admin/event-types", to: "/admin/event-types", [
                ("name", "grant.approved"), ("schema", #"{"type":"object","required":["amount"]}"#), ("example", "{}"),
            ])
            #expect(mismatch.status == 422 && mismatch.html.contains("does not match the schema"))
            let saved = try await admin.follow(try await admin.submit(from: "/admin/event-types", to: "/admin/event-types", [
                ("name", "grant.approved"), ("description", "A grant was approved."), ("schema", #"{"type":"object","required":["amount"]}"#),
                ("example", #"{"amount":5}"#),
            ]))
            #expect(saved.status == 200 && saved.html.contains("grant.approved added."))
            let provider = try await herald.providerToken()
            #expect(try await herald.emit(provider, #"{"type":"grant.approved","data":{}}"#).status == 422)
            _ = try await admin.submit(from: "/admin/event-types", to: "/admin/event-types/grant.approved/delete", [])
            #expect(try await herald.store.eventType(name: "grant.approved") == nil)
            let bde = try await herald.makeTeam("bde")
            let member = try await member(herald, bde.team, "ana@bde.example")
            #expect(try await member.get("/admin/event-types").status == 403)
        }
    }

    @Test func anAdminBrowsesEveryDeliveryWithFiltersAndLooksOneUp() async throws {
        try await HeraldHarness.run { herald in
            let admin = try await admin(herald)
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            let bdeHook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/bde","active":false}"#)
            _ = try await herald.makeHook(cce, #"{"url":"http://127.0.0.1:9/cce","active":false}"#)
            let all = try await admin.get("/admin/deliveries")
            #expect(all.html.contains("127.0.0.1:9/bde") && all.html.contains("127.0.0.1:9/cce"))
            let filtered = try await admin.get("/admin/deliveries?team=cce&status=pending&event=ping")
            #expect(filtered.html.contains("127.0.0.1:9/cce") && !filtered.html.contains("127.0.0.1:9/bde"))
            #expect(try await admin.get("/admin/deliveries?status=success").html.contains("No deliveries match."))
            #expect(try await admin.get("/admin/deliveries?since=yesterday").status == 400)
            // The filter form as a browser sends it, every field present and "Any status" empty.
            let blank = try await admin.get("/admin/deliveries?status=&event=&team=&hook=&since=&until=")
            #expect(blank.status == 200 && !blank.html.contains("No deliveries match."), "\(blank.status)")
            let delivery = try #require(try await herald.store.deliveries(DeliveryQuery(hookID: bdeHook.id, limit: 1)).first)
            let lookup = try await admin.get("/admin/deliveries?id=\(delivery.id)")
            #expect(lookup.location == "/hooks/\(bdeHook.id)/deliveries/\(delivery.id)")
            #expect(try await admin.get("/admin/deliveries?id=nope").status == 404)
        }
    }

    @Test func unknownPagesAndStaticFiles() async throws {
        try await HeraldHarness.run { herald in
            let client = WebClient(baseURL: herald.baseURL)
            let missing = try await client.get("/no-such-page")
            #expect(missing.status == 404 && missing.html.contains("<h1>Page not found</h1>"))
            #expect(try await client.get("/public/herald.css").html.contains("--accent"))
            #expect([400, 404].contains(try await client.get("/public/..%2Fmaster.key").status))
            #expect(try await client.get("/public/no-such.css").status == 404)
        }
    }
}

/// Checks that a secret shown in a page is the one stored for the hook.
enum WebhookSecretCheck {
    static func opens(_ hook: Hook, _ secret: String, _ herald: HeraldHarness) -> Bool {
        (try? herald.services.secretBox.open(hook.encryptedSecret)) == secret
    }
}
