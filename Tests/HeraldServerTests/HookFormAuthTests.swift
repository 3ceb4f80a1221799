import Foundation
import HeraldCore
import Testing

/// The hook form sets what the API can: HTTP Sync mode, custom headers, Basic credentials and
/// OAuth2 client credentials, each shown masked once saved, kept when left empty, removable.
@Suite struct HookFormAuthTests {
    @Test func theFormSetsModeHeadersAndCredentialsAndShowsThemMasked() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let ana = try await WebTests().member(herald, bde.team, "ana@bde.example")
                let created = try await ana.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", receiver.url("/crm")), ("events_mode", "all"), ("active", "1"), ("delivery_mode", "push"),
                    ("headers", "X-Api-Key: k-123-secret\nX-Tenant: bde"), ("basic_user", "crm"), ("basic_password", "basic-pass-456"),
                ])
                #expect(created.status == 303, "\(created.html.prefix(3000))")
                let hook = try #require(try await herald.store.hooks(teamID: bde.team.id).first)
                let stored = try #require(try credentials(herald, hook))
                #expect(stored.basicUser == "crm" && stored.basicPassword == "basic-pass-456")
                #expect(stored.headers.map { "\($0.name)=\($0.value)" } == ["X-Api-Key=k-123-secret", "X-Tenant=bde"])
                #expect(hook.url == receiver.url("/crm"), "the credentials are not kept in the URL")

                // Shown masked on the page and the form; nothing secret on either.
                let page = try await ana.get("/hooks/\(hook.id)")
                #expect(page.html.contains("Basic: crm / ••••") && page.html.contains("X-Api-Key: ••••"))
                let form = try await ana.get("/hooks/\(hook.id)/edit")
                #expect(form.html.contains("X-Api-Key: ••••") && form.html.contains(#"value="crm""#))
                for secret in ["k-123-secret", "basic-pass-456"] { #expect(!page.html.contains(secret) && !form.html.contains(secret)) }

                // Saved as shown: the masked values and the empty password keep what is stored.
                let kept = try await ana.submit(from: "/hooks/\(hook.id)/edit", to: "/hooks/\(hook.id)", [
                    ("url", receiver.url("/crm")), ("events_mode", "all"), ("active", "1"), ("delivery_mode", "push"),
                    ("headers", "X-Api-Key: ••••\nX-Tenant: bde-2"), ("basic_user", "crm"), ("basic_password", ""),
                ])
                #expect(kept.status == 303, "\(kept.html.prefix(3000))")
                let saved = try #require(try await herald.store.hook(id: hook.id))
                let again = try #require(try credentials(herald, saved))
                #expect(again.basicPassword == "basic-pass-456")
                #expect(again.headers.map { "\($0.name)=\($0.value)" } == ["X-Api-Key=k-123-secret", "X-Tenant=bde-2"])

                // Basic and OAuth2 together are refused, next to the field; then Basic removed and OAuth2
                // set. The mode is chosen when a hook is made.
                let both = try await ana.submit(from: "/hooks/\(hook.id)/edit", to: "/hooks/\(hook.id)", [
                    ("url", receiver.url("/crm")), ("events_mode", "all"), ("active", "1"), ("delivery_mode", "push"), ("basic_user", "crm"),
                    ("oauth2_token_url", receiver.url("/token")), ("oauth2_client_id", "herald"), ("oauth2_client_secret", "oauth-secret-789"),
                ])
                #expect(both.status == 422 && both.html.contains("not both"), "\(both.html.prefix(3000))")
                let modeChange = try await ana.submit(from: "/hooks/\(hook.id)/edit", to: "/hooks/\(hook.id)", [
                    ("url", receiver.url("/crm")), ("events_mode", "all"), ("active", "1"), ("delivery_mode", "sync"), ("basic_user", "crm"),
                ])
                #expect(modeChange.status == 422 && modeChange.html.contains("chosen when it is created"))
                let switched = try await ana.submit(from: "/hooks/\(hook.id)/edit", to: "/hooks/\(hook.id)", [
                    ("url", receiver.url("/crm")), ("events", "lead.created"), ("events_mode", "custom"), ("active", "1"),
                    ("delivery_mode", "push"), ("basic_remove", "1"), ("headers", ""),
                    ("oauth2_token_url", receiver.url("/token")), ("oauth2_client_id", "herald"), ("oauth2_client_secret", "oauth-secret-789"),
                ])
                #expect(switched.status == 303, "\(switched.html.prefix(3000))")
                let synced = try #require(try await herald.store.hook(id: hook.id))
                let last = try #require(try credentials(herald, synced))
                #expect(last.basicUser == nil && last.oauth2?.clientSecret == "oauth-secret-789" && last.headers.isEmpty)
                let shown = try await ana.get("/hooks/\(hook.id)")
                #expect(shown.html.contains("OAuth2: client herald at \(receiver.url("/token")), secret ••••") && !shown.html.contains("oauth-secret-789"))
                // An HTTP Sync hook from the form: its receiver answers the test page first.
                let sync = try await ana.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", receiver.url("/sync")), ("events_mode", "default"), ("active", "1"), ("delivery_mode", "sync"), ("sync_page_size", "50"),
                ])
                #expect(sync.status == 303, "\(sync.html.prefix(3000))")
                let made = try #require(try await herald.store.hooks(teamID: bde.team.id).first { $0.url == receiver.url("/sync") })
                #expect(made.mode == .sync && made.sync.pageSize == 50)
                #expect(try await ana.get("/hooks/\(made.id)").html.contains("pages of 50 rows"))
            }
        }
    }

    /// The hook's credentials as stored, opened with the server's key.
    func credentials(_ herald: HeraldHarness, _ hook: Hook) throws -> HookCredentials? {
        try hook.encryptedCredentials.map { try HookCredentials.open($0, with: herald.services.secretBox) }
    }
}
