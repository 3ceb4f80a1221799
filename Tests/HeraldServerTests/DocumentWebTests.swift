import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

@testable import HeraldServer

/// The Documents section of the web UI: databases, a document list with search, a document page
/// with its history and the deliveries it caused, and live changes; members see their channels only.
@Suite struct DocumentWebTests {
    static let password = "a long enough password"

    func signedIn(_ herald: HeraldHarness, _ email: String, role: User.Role, team: Team?) async throws -> WebClient {
        _ = try await herald.store.createUser(email: email, passwordHash: Bcrypt.hash(Self.password, cost: 4), role: role, teamID: team?.id, now: Date())
        let client = WebClient(baseURL: herald.baseURL)
        _ = try await client.signIn(email: email, password: Self.password)
        return client
    }

    @Test func anAdminCreatesADatabaseAndAMemberBrowsesItsChannels() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let admin = try await signedIn(herald, "admin@example.org", role: .admin, team: nil)
                let bad = try await admin.submit(from: "/documents", to: "/documents", [("name", "Not Valid")])
                #expect(bad.status == 422 && bad.html.contains("lower-case letters"))
                let posted = try await admin.submit(from: "/documents", to: "/documents", [("name", "leads")])
                #expect(posted.status == 303)
                #expect(try await admin.follow(posted).html.contains("Database leads created"))

                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["leads.document_changed"],"channels":["bde"]}"#)
                let provider = try await herald.providerToken()
                let first = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Ana","channels":["bde"]}"#)
                _ = try await herald.call(.PUT, "/db/leads/lead-1?rev=\(try #require(first.json["rev"]?.stringValue))", token: provider, body: #"{"name":"Ana R.","channels":["bde"]}"#)
                _ = try await herald.call(.PUT, "/db/leads/lead-2", token: provider, body: #"{"name":"Not for BDE","channels":["cce"]}"#)
                try await eventually("both changes of lead-1 are delivered") {
                    try await herald.store.deliveries(DeliveryQuery(statuses: [.succeeded], limit: 10)).filter { $0.eventType == "leads.document_changed" }.count == 2
                }

                let member = try await signedIn(herald, "ana@bde.example", role: .member, team: bde.team)
                let list = try await member.get("/documents/leads")
                #expect(list.status == 200 && list.html.contains("lead-1") && !list.html.contains("lead-2"))
                #expect(try await member.get("/documents/leads?q=lead-2").html.contains("No documents"))
                let page = try await member.get("/documents/leads/lead-1")
                #expect(page.status == 200 && page.html.contains("Ana R.") && page.html.contains("2-"))
                #expect(page.html.components(separatedBy: "leads.document_changed").count - 1 == 2, "the two deliveries it caused")
                #expect(try await member.get("/documents/leads/lead-2").status == 404)
                #expect(try await admin.get("/documents/leads/lead-2").status == 200)
            }
        }
    }

    @Test func anAdminNamesTheVersionFieldThatDiscardsStaleWrites() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.store.createDocumentDatabase("rows")
            let admin = try await signedIn(herald, "admin@example.org", role: .admin, team: nil)
            #expect(try await admin.get("/documents/rows").html.contains("Revisions alone decide"))
            let saved = try await admin.submit(from: "/documents/rows", to: "/documents/rows/version-field", [("version_field", "updated_at")])
            #expect(saved.status == 303)
            #expect(try await herald.store.database("rows")?.versionField == "updated_at")
            #expect(try await admin.follow(saved).html.contains("Writes are ordered by <code>updated_at</code>"))
            let refused = try await admin.submit(from: "/documents/rows", to: "/documents/rows/version-field", [("version_field", "_rev")])
            #expect(refused.status == 422)
            #expect(try await admin.submit(from: "/documents/rows", to: "/documents/rows/version-field", [("version_field", "")]).status == 303)
            #expect(try await herald.store.database("rows")?.versionField == nil)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theDatabasePageStreamsLiveChanges() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.store.createDocumentDatabase("leads")
            let admin = try await signedIn(herald, "admin@example.org", role: .admin, team: nil)
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads/a", token: provider, body: "{}")
            // From a given seq, the live stream sends what changed after it.
            let stream = try await admin.get("/documents/leads/changes?since=0&limit=1")
            #expect(stream.html.hasPrefix("id: 1\ndata: {\"seq\":1,\"id\":\"a\""))
            // Without `since`, it waits for the next change and pushes it.
            async let live = admin.get("/documents/leads/changes?limit=1")
            // Its feed holds a slot once it has read where it starts: a write from then on is after it.
            try await eventually("the live feed is open") { herald.services.feeds.openFeeds == 1 }
            _ = try await herald.call(.PUT, "/db/leads/b", token: provider, body: "{}")
            #expect(try await live.html.hasPrefix("id: 2\ndata: {\"seq\":2,\"id\":\"b\""))
        }
    }
}
