import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

/// Portal links: a provider application mints a short-lived link that opens one team's hook pages
/// once, without an account; its session sees that team only, a read-only one changes nothing,
/// every action is the link's in the audit log, and only the origins an operator names may frame it.
@Suite struct PortalLinkTests {
    /// Mints a link for `team` with the provider's token; returns the answer.
    func mint(_ herald: HeraldHarness, _ token: String, team: String = "bde", _ body: String = "{}") async throws -> HeraldHarnessClient.APIResponse {
        try await herald.call(.POST, "/api/teams/\(team)/portal-links", token: token, body: body)
    }

    /// The path of a minted link's URL, checked to be this server's.
    func path(_ minted: HeraldHarnessClient.APIResponse, _ herald: HeraldHarness) throws -> String {
        let url = try #require(minted.json["url"]?.stringValue, "\(minted.text)")
        #expect(url.hasPrefix(herald.baseURL + "/portal/hrpl_"), "\(url)")
        return String(url.dropFirst(herald.baseURL.count))
    }

    @Test func aProviderMintsALinkThatOpensOneTeamsHookPagesOnceAndActsAsTheLink() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let other = try await herald.makeTeam("other")
                let provider = try await herald.providerToken()
                let ours = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/bde"))","events":["lead.*"]}"#)
                let theirs = try await herald.makeHook(other, #"{"url":"\#(receiver.url("/other"))","events":["lead.*"]}"#)

                // Who may mint, and what is refused.
                #expect(try await mint(herald, bde.token).status == 403, "a team token mints no links")
                #expect(try await mint(herald, provider, team: "nobody").status == 404)
                let refused = try await mint(herald, provider, #"{"expires_in":5,"read_only":"yes"}"#)
                #expect(refused.status == 422, "\(refused.text)")
                let fields = Set(refused.json["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
                #expect(fields == ["/expires_in", "/read_only"], "\(refused.text)")

                let minted = try await mint(herald, provider)
                #expect(minted.status == 201, "\(minted.text)")
                #expect(minted.json["state"] == .string("unopened") && minted.json["read_only"] == .bool(false) && minted.json["team"] == .string("bde"))
                let linkID = try #require(minted.json["id"]?.intValue)
                let link = try path(minted, herald)
                let token = String(link.dropFirst("/portal/".count))
                #expect(!(try await herald.call(.GET, "/api/teams/bde/portal-links", token: provider).text.contains(token)), "only the link's hash is kept")

                // A HEAD (a link checker) does not spend it. Opened once: a session on the team's webhooks.
                #expect(try await herald.call(.HEAD, link, token: nil).status == 200)
                let browser = WebClient(baseURL: herald.baseURL)
                let opened = try await browser.get(link)
                #expect(opened.status == 303 && opened.location == "/hooks", "\(opened.status) \(opened.html.prefix(500))")
                #expect(opened.header("Cache-Control") == "no-store")
                let again = try await WebClient(baseURL: herald.baseURL).get(link)
                #expect(again.status == 410 && again.html.contains("cannot be opened again"), "a link opens once: \(again.status)")

                let list = try await browser.get("/hooks")
                #expect(list.status == 200)
                #expect(list.html.contains(receiver.url("/bde")) && !list.html.contains(receiver.url("/other")), "its team's hooks only")
                #expect(list.html.contains("End session") && !list.html.contains("/tokens") && !list.html.contains("/documents"), "the portal's header")
                #expect(try await browser.get("/hooks/\(ours.id)").status == 200)
                #expect(try await browser.get("/hooks/\(theirs.id)").status == 404, "another team's hook is not there")
                for page in ["/tokens", "/documents", "/admin", "/admin/overview", "/account", "/login"] {
                    let closed = try await browser.get(page)
                    #expect(closed.status == 403, "\(page) is not the portal's: \(closed.status)")
                }
                // Changing another team's hook is refused like reading it.
                let csrf = try #require(try await browser.get("/hooks/\(ours.id)").csrf)
                #expect(try await browser.post("/hooks/\(theirs.id)/ping", [("_csrf", csrf)]).status == 404)

                // It acts: a ping, a hook registered through the form.
                let pinged = try await browser.post("/hooks/\(ours.id)/ping", [("_csrf", csrf)])
                #expect(pinged.status == 303, "\(pinged.html.prefix(500))")
                try await eventually("the portal's ping arrives") {
                    receiver.received.filter { $0.path == "/bde" && $0.header("X-GitHub-Event") == "ping" }.count >= 2
                }
                let registered = try await browser.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", receiver.url("/bde-new")), ("events_mode", "all"), ("active", "1"), ("delivery_mode", "push"),
                ])
                #expect(registered.status == 303, "\(registered.html.prefix(2000))")
                let created = try #require(try await herald.store.hooks(teamID: bde.team.id).first { $0.url == receiver.url("/bde-new") })
                #expect(created.teamID == bde.team.id)

                // The audit log says it was the link, from the browser's address.
                let log = try await herald.call(.GET, "/api/audit-log?actor=portal%20link%20\(linkID)", token: herald.adminToken)
                let entries = log.json["entries"]?.arrayValue ?? []
                let actions = Set(entries.compactMap { $0["action"]?.stringValue })
                #expect(actions.isSuperset(of: ["portal-link.opened", "hook.pinged", "hook.created"]), "\(log.text)")
                #expect(entries.allSatisfy { $0["address"] == .string("127.0.0.1") && $0["team"] == .string("bde") }, "\(log.text)")
                let made = try await herald.call(.GET, "/api/audit-log?action=portal-link.created", token: herald.adminToken)
                #expect(made.json["entries"]?.arrayValue?.first?["actor"]?.stringValue?.hasPrefix("token ") == true, "\(made.text)")

                let listed = try await herald.call(.GET, "/api/teams/bde/portal-links", token: provider)
                let row = try #require(listed.json["portal_links"]?.arrayValue?.first { $0["id"]?.intValue == linkID })
                #expect(row["state"] == .string("open") && row["opened_from"] == .string("127.0.0.1"), "\(listed.text)")
                #expect(try await herald.call(.GET, "/api/teams/other/portal-links", token: provider).json["portal_links"]?.arrayValue?.isEmpty == true)

                // Leaving ends the session for good.
                let left = try await browser.post("/logout", [("_csrf", csrf)])
                #expect(left.status == 303 && left.location == "/portal/ended")
                #expect(try await WebClient(baseURL: herald.baseURL).get("/portal/ended").status == 200)
                let cookie = try #require(try await herald.store.portalLinks(teamID: bde.team.id, now: Date()).first { $0.id == linkID })
                #expect(cookie.state(at: Date()) == "ended")
            }
        }
    }

    @Test func aReadOnlyLinkShowsTheHooksAndDeliveriesButChangesNothing() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let provider = try await herald.providerToken()
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/bde"))","events":["lead.*"]}"#)
                let delivery = try #require(
                    try await eventuallyValue("the creation ping is recorded") {
                        try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, limit: 10)).first { $0.lifecycle.status == .succeeded }
                    }
                )
                let minted = try await mint(herald, provider, #"{"read_only":true,"session_lifetime":600}"#)
                #expect(minted.status == 201 && minted.json["read_only"] == .bool(true) && minted.json["session_lifetime"] == .int(600), "\(minted.text)")
                let browser = WebClient(baseURL: herald.baseURL)
                #expect(try await browser.get(try path(minted, herald)).location == "/hooks")

                let page = try await browser.get("/hooks/\(hook.id)")
                #expect(page.status == 200 && page.html.contains("read-only"))
                for action in ["/ping\"", "/edit\"", "/replay\"", "/delete\"", "/rotate\""] {
                    #expect(!page.html.contains("/hooks/\(hook.id)\(action)"), "no \(action) on a read-only page")
                }
                #expect(!(try await browser.get("/hooks").html.contains("/hooks/new")))
                let shown = try await browser.get("/hooks/\(hook.id)/deliveries/\(delivery.id)")
                #expect(shown.status == 200 && !shown.html.contains("/redeliver"), "the delivery shows, without Redeliver")

                let csrf = try #require(page.csrf)
                for action in ["ping", "replay", "delete", "deliveries/\(delivery.id)/redeliver"] {
                    let refused = try await browser.post("/hooks/\(hook.id)/\(action)", [("_csrf", csrf), ("period_hours", "1")])
                    #expect(refused.status == 403 && refused.html.contains("read-only"), "\(action): \(refused.status)")
                }
                #expect(try await browser.get("/hooks/new").status == 403, "nor the forms it could not save")
                #expect(try await browser.get("/hooks/\(hook.id)/edit").status == 403)
                #expect(try await browser.post("/hooks", [("_csrf", csrf), ("url", receiver.url("/x"))]).status == 403)
                #expect(try await herald.store.hooks(teamID: bde.team.id).count == 1)
                // Signing out is not a change to the team.
                #expect(try await browser.post("/logout", [("_csrf", csrf)]).location == "/portal/ended")
            }
        }
    }

    @Test func expiredRevokedAndSpentLinksDoNotOpenAndRevokingEndsTheSession() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let provider = try await herald.providerToken()
            let store = herald.store

            // Expired before it was opened.
            let stale = PortalLink.generateToken()
            _ = try await store.createPortalLink(
                teamID: bde.team.id, tokenHash: APIToken.hash(stale), readOnly: false, expiresAt: Date().addingTimeInterval(-1), sessionLifetime: 600,
                createdBy: "test", now: Date().addingTimeInterval(-60)
            )
            #expect(try await WebClient(baseURL: herald.baseURL).get("/portal/\(stale)").status == 410)
            #expect(try await WebClient(baseURL: herald.baseURL).get("/portal/hrpl_made-up").status == 410)
            #expect(try await WebClient(baseURL: herald.baseURL).get("/portal/not-a-link").status == 410)

            // Revoked while its session is open: the session ends at once.
            let minted = try await mint(herald, provider)
            let id = try #require(minted.json["id"]?.intValue)
            let browser = WebClient(baseURL: herald.baseURL)
            #expect(try await browser.get(try path(minted, herald)).location == "/hooks")
            #expect(try await browser.get("/hooks").status == 200)
            #expect(try await herald.call(.DELETE, "/api/teams/other/portal-links/\(id)", token: provider).status == 404, "another team's path")
            #expect(try await herald.call(.DELETE, "/api/teams/bde/portal-links/\(id)", token: bde.token).status == 403)
            #expect(try await herald.call(.DELETE, "/api/teams/bde/portal-links/\(id)", token: provider).status == 204)
            let ended = try await browser.get("/hooks")
            #expect(ended.status == 401 && ended.html.contains("This session has ended"), "\(ended.status)")
            let revoked = try await mint(herald, provider)
            let revokedID = try #require(revoked.json["id"]?.intValue)
            #expect(try await herald.call(.DELETE, "/api/teams/bde/portal-links/\(revokedID)", token: provider).status == 204)
            #expect(try await WebClient(baseURL: herald.baseURL).get(try path(revoked, herald)).status == 410, "a revoked link does not open")
            let audit = try await herald.call(.GET, "/api/audit-log?action=portal-link.revoked", token: herald.adminToken)
            #expect(audit.json["entries"]?.arrayValue?.count == 2, "\(audit.text)")

            // A session ends when its lifetime does.
            let brief = PortalLink.generateToken()
            _ = try await store.createPortalLink(
                teamID: bde.team.id, tokenHash: APIToken.hash(brief), readOnly: false, expiresAt: Date().addingTimeInterval(600), sessionLifetime: 1,
                createdBy: "test", now: Date()
            )
            let short = WebClient(baseURL: herald.baseURL)
            #expect(try await short.get("/portal/\(brief)").location == "/hooks")
            try await eventually("the one-second session ends") { try await short.get("/hooks").status == 401 }

            // Opened by many at once, a link starts one session.
            let raced = PortalLink.generateToken()
            _ = try await store.createPortalLink(
                teamID: bde.team.id, tokenHash: APIToken.hash(raced), readOnly: false, expiresAt: Date().addingTimeInterval(600), sessionLifetime: 600,
                createdBy: "test", now: Date()
            )
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await WebClient(baseURL: herald.baseURL).get("/portal/\(raced)").status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.sorted() == [303] + Array(repeating: 410, count: 7), "\(statuses)")
        }
    }

    @Test func onlyTheNamedOriginsMayFrameAPortalAndNothingElseIsFramed() async throws {
        try await HeraldHarness.run(configure: { $0.portalFrameAncestors = ["https://crm.example.org", "http://127.0.0.1:3000"] }) { herald in
            let bde = try await herald.makeTeam("bde")
            let provider = try await herald.providerToken()
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["lead.*"]}"#)
            let allowed = "frame-ancestors https://crm.example.org http://127.0.0.1:3000"
            let browser = WebClient(baseURL: herald.baseURL)
            let minted = try await mint(herald, provider)
            #expect(try await browser.get(try path(minted, herald)).location == "/hooks")
            for page in ["/hooks", "/hooks/\(hook.id)", "/hooks/new", "/tokens"] {
                let shown = try await browser.get(page)
                #expect(shown.header("Content-Security-Policy")?.contains(allowed) == true, "\(page): \(shown.header("Content-Security-Policy") ?? "none")")
            }
            // A spent link's page shows in the frame too, to say what happened.
            let spent = try await WebClient(baseURL: herald.baseURL).get(try path(minted, herald))
            #expect(spent.status == 410 && spent.header("Content-Security-Policy")?.contains(allowed) == true)
            // Once the session has ended, its browser's pages are nobody's portal: not framed.
            let csrf = try #require(try await browser.get("/hooks").csrf)
            #expect(try await browser.post("/logout", [("_csrf", csrf)]).location == "/portal/ended")
            #expect(try await browser.get("/login").header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            // Nobody's own pages may be framed, by those origins or any.
            let person = WebClient(baseURL: herald.baseURL)
            for page in ["/login", "/no-such-page"] {
                let shown = try await person.get(page)
                #expect(shown.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true, "\(page)")
            }
        }
        // Without named origins, a portal cannot be framed either.
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            let minted = try await mint(herald, try await herald.providerToken())
            let browser = WebClient(baseURL: herald.baseURL)
            #expect(try await browser.get(try path(minted, herald)).location == "/hooks")
            #expect(try await browser.get("/hooks").header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
        }
    }

    @Test func anAdministratorMakesAndRevokesLinksOnTheTeamPage() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            _ = try await herald.store.createUser(
                email: "admin@example.org", passwordHash: Bcrypt.hash("admin password 1", cost: 4), role: .admin, teamID: nil, now: Date()
            )
            let admin = WebClient(baseURL: herald.baseURL)
            #expect(try await admin.signIn(email: "admin@example.org", password: "admin password 1").location == "/admin")
            for (minutes, hours) in [("0", "1"), ("999999999999999999", "1"), ("10", "nan"), ("10", "1e300"), ("10", "inf")] {
                let refused = try await admin.submit(
                    from: "/admin/teams/bde", to: "/admin/teams/bde/portal-links", [("expires_minutes", minutes), ("session_hours", hours)]
                )
                #expect(try await admin.follow(refused).html.contains("A link may wait 1 to 1440 minutes"), "\(minutes) \(hours)")
            }
            let made = try await admin.submit(
                from: "/admin/teams/bde", to: "/admin/teams/bde/portal-links", [("expires_minutes", "5"), ("session_hours", "0.5"), ("read_only", "on")]
            )
            #expect(made.status == 303)
            let page = try await admin.follow(made)
            let match = try #require(page.html.firstMatch(of: /id="portal-url">([^<]+)</), "the link is shown once: \(page.html.prefix(3000))")
            let url = String(match.1)
            #expect(url.hasPrefix(herald.baseURL + "/portal/hrpl_"))
            #expect(!(try await admin.get("/admin/teams/bde").html.contains(url)), "shown once")
            let link = try #require(try await herald.store.portalLinks(teamID: nil, now: Date()).first)
            #expect(link.readOnly && link.sessionLifetime == 1800 && link.createdBy == "admin@example.org")
            #expect(abs(link.expiresAt.timeIntervalSinceNow - 300) < 30)

            let portal = WebClient(baseURL: herald.baseURL)
            #expect(try await portal.get(String(url.dropFirst(herald.baseURL.count))).location == "/hooks")
            #expect(try await portal.get("/hooks").html.contains("read-only"))
            let revoked = try await admin.submit(from: "/admin/teams/bde", to: "/admin/teams/bde/portal-links/\(link.id)/revoke", [])
            #expect(try await admin.follow(revoked).html.contains("Portal link \(link.id) revoked"))
            #expect(try await portal.get("/hooks").status == 401)
        }
    }

    @Test func aLinksTokenIsNeverLogged() {
        #expect(PortalLink.redacted(path: "/portal/hrpl_secret") == "/portal/hrpl_…")
        #expect(PortalLink.redacted(path: "/hooks/1") == "/hooks/1")
    }

    @Test func frameOriginsAreOriginsOnly() {
        #expect(PortalLink.frameOrigin("https://CRM.example.org") == "https://crm.example.org")
        #expect(PortalLink.frameOrigin("http://127.0.0.1:3000/") == "http://127.0.0.1:3000")
        for bad in ["crm.example.org", "ftp://crm.example.org", "https://crm.example.org/app", "https://crm.example.org?x=1", "https://a b", "*", "'self'", "https://x;script-src *"] {
            #expect(PortalLink.frameOrigin(bad) == nil, "\(bad)")
        }
    }
}
