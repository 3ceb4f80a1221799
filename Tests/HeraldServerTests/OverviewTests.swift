import Foundation
import HeraldCore
import HummingbirdBcrypt
import Synchronization
import Testing

/// The administrator's overview: `GET /api/overview` and a page that updates itself.
@Suite struct OverviewTests {
    @Test(.timeLimit(.minutes(2)))
    func theOverviewShowsBacklogRatesFailingAndDisabledHooksAndFeeds() async throws {
        try await TestReceiver.run { receiver in
            // /hang answers after 25 s (within its hook's 30 s): its deliveries wait; /broken always fails.
            receiver.respond { _, request in
                request.path == "/hang" ? .init(delay: .seconds(25)) : request.path == "/broken" ? .init(status: 500, body: "database down") : .init()
            }
            try await HeraldHarness.run { configuration in
                configuration.engine.maxInFlightPerHook = 1
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                let hanging = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/hang"))","events":["lead.*"],"timeout_seconds":30}"#)
                let broken = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/broken"))","events":["lead.created"]}"#)
                let idle = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/idle"))","events":["lead.created"]}"#)
                #expect(try await herald.call(.PATCH, "/api/hooks/\(idle.id)", token: cce.token, body: #"{"active":false}"#).status == 200)
                let provider = try await herald.providerToken()
                for index in 0..<5 { _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"l\#(index)"}}"#) }
                // Three more for bde alone: its backlog (eight events and its creation ping) stays above
                // cce's (five retrying, and at most the two creation pings) however slowly those are sent.
                for index in 0..<3 { #expect(try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"l\#(index)"}}"#).status == 202) }
                let feed = try RawSocket(port: try #require(Int(herald.baseURL.split(separator: ":").last ?? "")))
                feed.send("GET /api/events?feed=continuous&since=1000000&timeout=60000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(bde.token)\r\n\r\n")
                let head = await feed.readAll(within: .seconds(2))
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")

                let overview = try #require(try await eventuallyValue("the broken hook is failing, attempts are counted and bde's events are fanned out") { () -> JSONValue? in
                    let answer = try await herald.call(.GET, "/api/overview", token: herald.adminToken).json
                    let failing = answer["failing_hooks"]?.arrayValue ?? []
                    let rate = answer["throughput"]?["last_minute"]?["attempts_per_second"]?.numberValue ?? 0
                    // bde's eight events fanned out (they may come in more than one fan-out batch).
                    let bdeBacklog = answer["teams_by_backlog"]?.arrayValue?.first { $0["team"] == .string("bde") }?["backlog"]?.intValue ?? 0
                    return failing.contains { $0["id"]?.intValue == broken.id } && rate > 0 && bdeBacklog >= 8 ? answer : nil
                })
                let failing = try #require(overview["failing_hooks"]?.arrayValue?.first { $0["id"]?.intValue == broken.id })
                #expect(failing["last_status_code"] == .int(500) && failing["team"] == .string("cce"))
                #expect(failing["failing_since"]?.stringValue != nil)
                #expect(overview["disabled_hooks"]?.arrayValue?.map { $0["id"]?.intValue } == [idle.id])
                // The hanging hook holds its eight deliveries (one in flight); the broken one its retries.
                let backlog = try #require(overview["backlog"]?["deliveries"]?.intValue)
                #expect(backlog >= 8, "\(overview.jsonString)")
                #expect(overview["backlog"]?["oldest_pending_age_seconds"]?.numberValue != nil)
                let teams = overview["teams_by_backlog"]?.arrayValue ?? []
                #expect(teams.first?["team"] == .string("bde"), "\(overview.jsonString)")
                #expect(teams.first?["backlog"]?.intValue ?? 0 >= 8)
                #expect(overview["open_feeds"] == .int(1))
                #expect(overview["replays_running"] == .int(0))
                #expect(overview["retention"]?["days"] == .int(30))
                #expect(overview["throughput"]?["last_hour"]?["failures_per_second"]?.numberValue ?? 0 > 0)
                _ = hanging
                // Only an administrator sees it.
                #expect(try await herald.call(.GET, "/api/overview", token: bde.token).status == 403)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theOverviewPageUpdatesItselfFromItsStream() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, _ in .init(delay: .seconds(25)) }
            try await HeraldHarness.run { herald in
                _ = try await herald.store.createUser(
                    email: "admin@example.org", passwordHash: Bcrypt.hash("correct horse battery", cost: 4), role: .admin, teamID: nil, now: Date()
                )
                let admin = WebClient(baseURL: herald.baseURL)
                _ = try await admin.signIn(email: "admin@example.org", password: "correct horse battery")
                let page = try await admin.get("/admin/overview")
                #expect(page.status == 200 && page.html.contains(#"data-live-overview="/admin/overview/events""#))
                #expect(page.html.contains(#"<strong id="overview-backlog">0</strong>"#), "an empty store waits for nothing")

                let stream = try RawSocket(port: try #require(Int(herald.baseURL.split(separator: ":").last ?? "")))
                stream.send("GET /admin/overview/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: \(admin.cookieHeader)\r\n\r\n")
                let first = Mutex("")
                try await eventually("the stream's first rendering") {
                    let read = await stream.readAll(within: .milliseconds(300))
                    return first.withLock { text in
                        text += read
                        return text.contains(#"id="overview-backlog">0<"#)
                    }
                }
                let head = first.withLock { $0 }
                #expect(head.hasPrefix("HTTP/1.1 200") && head.contains("text/event-stream") && head.contains(#"data: <div class="stats">"#), "\(head)")

                // A hook whose receiver never answers in time: its deliveries wait, and the next
                // rendering the stream sends shows them.
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"],"timeout_seconds":30}"#)
                let provider = try await herald.providerToken()
                for index in 0..<3 { _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"l\#(index)"}}"#) }
                let later = Mutex("")
                try await eventually("a later rendering shows the backlog", timeout: .seconds(10)) {
                    let read = await stream.readAll(within: .milliseconds(500))
                    return later.withLock { text in
                        text += read
                        return text.contains(#"id="overview-backlog">4<"#)  // the ping and the three leads
                    }
                }
                // A member has no overview.
                let member = WebClient(baseURL: herald.baseURL)
                _ = try await herald.store.createUser(
                    email: "ana@bde.example", passwordHash: Bcrypt.hash("correct horse battery", cost: 4), role: .member, teamID: bde.team.id, now: Date()
                )
                _ = try await member.signIn(email: "ana@bde.example", password: "correct horse battery")
                #expect(try await member.get("/admin/overview").status == 403)
                #expect(try await member.get("/admin/overview/events").status == 403)
            }
        }
    }

    static var onPostgres: Bool { ProcessInfo.processInfo.environment["HERALD_TEST_STORE"] == "postgres" }

    /// On PostgreSQL the overview lists the nodes and when each last beat; SQLite has one node.
    @Test(.enabled(if: onPostgres, "lists the nodes of a PostgreSQL cluster; this run's Herald uses SQLite"))
    func onPostgreSQLTheOverviewListsEachNodeWithItsRoleAndHeartbeat() async throws {
        try await HeraldHarness.run { herald in
            let nodes = try #require(try await eventuallyValue("this node has beaten") { () -> [JSONValue]? in
                let nodes = try await herald.call(.GET, "/api/overview", token: herald.adminToken).json["nodes"]?.arrayValue ?? []
                return nodes.contains { $0["this_node"] == .bool(true) } ? nodes : nil
            })
            let this = try #require(nodes.first { $0["this_node"] == .bool(true) })
            #expect(this["role"] == .string("all"))
            let beat = try #require(this["heartbeat_at"]?.stringValue.flatMap(Timestamp.parse))
            #expect(abs(beat.timeIntervalSinceNow) < 60)
        }
    }

    @Test(.enabled(if: !onPostgres, "SQLite's overview; this run's Herald uses PostgreSQL"))
    func onSQLiteTheOverviewHasNoNodeList() async throws {
        try await HeraldHarness.run { herald in
            let overview = try await herald.call(.GET, "/api/overview", token: herald.adminToken).json
            #expect(overview["nodes"] == .null && overview["backlog"] != nil)
        }
    }
}
