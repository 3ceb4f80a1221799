import Foundation
import HeraldCore
import HeraldVerify
import HummingbirdBcrypt
import Synchronization
import Testing

/// HTTP Sync hooks: ordered pages of rows, one in flight, the cursor moving on a 2xx only.
@Suite struct HTTPSyncTests {
    @Test(.timeLimit(.minutes(2)))
    func pagesArriveInOrderEachRowOnceAndAFailedPageIsSentAgainUnchanged() async throws {
        try await TestReceiver.run { receiver in
            let pages = Mutex<(count: Int, failedOnce: Set<Int>)>((0, []))
            receiver.respond { _, request in
                guard let body = try? JSONValue(parsing: request.body), let rows = body["rows"]?.arrayValue, !rows.isEmpty else { return .init() }
                // The 3rd and the 7th page fail the first time they arrive.
                return pages.withLock { state in
                    state.count += 1
                    let cursor = Int(body["cursor"]?.stringValue ?? "") ?? 0
                    if (state.count == 3 || state.count == 8) && !state.failedOnce.contains(cursor) {
                        state.failedOnce.insert(cursor)
                        return .init(status: 500)
                    }
                    return .init()
                }
            }
            try await HeraldHarness.run { herald in
                let provider = try await herald.providerToken()
                for batch in 0..<5 {
                    let items = (0..<500).map { #"{"type":"lead.created","data":{"lead_id":"r\#(batch * 500 + $0)"}}"# }.joined(separator: ",")
                    #expect(try await herald.emit(provider, "[\(items)]").status == 202)
                }
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(
                    bde, #"{"url":"\#(receiver.url("/sync"))","events":["lead.created"],"mode":"sync","sync":{"page_size":200}}"#
                )
                let shown = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token)
                #expect(shown.json["mode"]?.stringValue == "sync")
                #expect(shown.json["sync"]?["page_size"] == .int(200))
                try await eventually("the cursor reaches the end", timeout: .seconds(90)) {
                    // Past the 2,500 leads (the failed pages' herald.hook.failing event may come after them).
                    try await herald.store.hook(id: hook.id)?.sync.cursor ?? 0 >= 2500
                }
                let posts = receiver.received.compactMap { try? JSONValue(parsing: $0.body) }
                #expect(posts.first?["rows"]?.arrayValue?.isEmpty == true, "the test page comes first")
                #expect(posts.first?["integration_service"]?.stringValue == "httpsync_test", "WebhookDB's verification page")
                let pagePosts = posts.filter { $0["rows"]?.arrayValue?.isEmpty == false }
                #expect(pagePosts.count == 15, "13 pages and the two sent again")
                // A page sent again is the same page.
                var accepted: [JSONValue] = []
                var previous: JSONValue?
                for post in pagePosts {
                    if let previous, previous["cursor"] == post["cursor"] {
                        #expect(previous["rows"] == post["rows"])
                    } else {
                        accepted.append(post)
                    }
                    previous = post
                }
                #expect(accepted.count == 13)
                let ids = accepted.flatMap { $0["rows"]?.arrayValue ?? [] }.compactMap { $0["data"]?["lead_id"]?.stringValue }
                #expect(ids.count == 2500 && ids == (0..<2500).map { "r\($0)" }, "every row exactly once, in order")
                #expect(accepted.map { $0["rows"]?.arrayValue?.count ?? 0 } == Array(repeating: 200, count: 12) + [100])
                #expect(accepted.allSatisfy { $0["hook_id"] == .int(hook.id) && $0["table"]?.stringValue == "lead.created" })
                #expect(accepted.allSatisfy { $0["integration_id"]?.stringValue == "\(hook.id)" && $0["integration_service"]?.stringValue == "lead.created" })
                // Signed like every delivery; each page is in the log.
                let signed = try #require(receiver.received.last)
                try HubSignature.verify(signature: signed.header("X-Hub-Signature-256"), body: signed.body, secret: hook.secret)
                let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=success&limit=100", token: bde.token)
                let logged = log.json["deliveries"]?.arrayValue?.filter { $0["event"]?.stringValue == "sync.page" } ?? []
                #expect(logged.count == 13)
                // Each page's rows, in the log (newest first); the last page reaches the log's end, past
                // the leads (the two failed pages' herald.hook.failing events came after them).
                let cursor = try #require(try await herald.store.hook(id: hook.id)?.sync.cursor)
                #expect(logged.first?["note"]?.stringValue == "100 rows, seq 2401–\(cursor)")
                #expect(logged.last?["note"]?.stringValue == "200 rows, seq 1–200")
                // "Sync now", from the hook's page: recorded until the next page is made (no rows wait now).
                _ = try await herald.store.createUser(
                    email: "ana@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
                )
                let web = WebClient(baseURL: herald.baseURL)
                _ = try await web.signIn(email: "ana@bde.example", password: WebTests.password)
                let page = try await web.get("/hooks/\(hook.id)")
                #expect(page.html.contains("Sync now") && page.html.contains("acknowledged through seq \(cursor)"))
                let asked = try await web.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/sync", [])
                #expect(asked.location == "/hooks/\(hook.id)?notice=syncing")
                #expect(try await herald.store.hook(id: hook.id)?.sync.requestedAt != nil)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/sync", token: bde.token).status == 202)
            }
        }
    }

    @Test func aSyncHookWhoseTestPageIsRefusedIsNotCreated() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, _ in .init(status: 403, body: "no") }
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let refused = try await herald.call(
                    .POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(receiver.url())","events":["lead.created"],"mode":"sync"}"#
                )
                #expect(refused.status == 422)
                #expect(refused.text.contains("the receiver answered 403 to the test page"))
                #expect(try await herald.store.hooks(teamID: nil).isEmpty)
                #expect(receiver.received.count == 1)
                let bad = try await herald.call(
                    .POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(receiver.url())","mode":"sync","sync":{"page_size":5000}}"#
                )
                #expect(bad.status == 422)
            }
        }
    }
}
