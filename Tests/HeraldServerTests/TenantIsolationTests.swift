import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import HeraldDelivery
@testable import HeraldServer

/// What one tenant can do to another: read nothing the other was not given, and neither stall, skip
/// nor refuse the other's work. Scaled-down versions of the loads that once did.
///
/// The loads keep both cores busy, so under CI they run in a step of their own, one test at a time
/// (`HERALD_TEST_ISOLATION=1 swift test --filter "TenantIsolationTests|DocumentFuzzTests"`, as
/// `.ci/run` does), where they starve no timing-sensitive suite; elsewhere `swift test` runs them.
@Suite(.serialized, .enabled(if: ExternalTools.isolationStep, "under CI, a step of its own: HERALD_TEST_ISOLATION=1 swift test --filter TenantIsolationTests"))
struct TenantIsolationTests {
    /// A document shared with a second team after its first revision: that team never gets the
    /// revision it could not read, not in its hook's payload, its filter's `oldDoc` or its feed.
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func aTeamGivenADocumentNeverReceivesTheRevisionBeforeIt() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                _ = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
                // The filter passes only events without an old revision: a leak would skip the delivery.
                let filter = "function (doc, oldDoc) { return oldDoc === null; }"
                _ = try await herald.makeHook(
                    cce, #"{"url":"\#(receiver.url("/filtered"))","events":["leads.document_changed"],"channels":["cce"],"filter":\#(JSONValue.string(filter).jsonString)}"#
                )
                _ = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/plain"))","events":["leads.document_changed"],"channels":["cce"]}"#)
                let provider = try await herald.providerToken()
                let first = try await herald.call(.PUT, "/db/leads/d-move", token: provider, body: #"{"ssn":"MOVE-SECRET","channels":["bde"]}"#)
                let rev = try #require(first.json["rev"]?.stringValue)
                let shared = try await herald.call(.PUT, "/db/leads/d-move?rev=\(rev)", token: provider, body: #"{"name":"shared","channels":["bde","cce"]}"#)
                #expect(shared.status == 201)
                let changes: @Sendable () -> [TestReceiver.Received] = { receiver.received.filter { $0.header("X-Herald-Event") == "leads.document_changed" } }
                try await eventually("both hooks get the shared revision") { Set(changes().map(\.path)) == ["/filtered", "/plain"] }
                #expect(changes().count == 2)
                for delivery in changes() {
                    #expect(!delivery.bodyString.contains("MOVE-SECRET"), "\(delivery.path): \(delivery.bodyString)")
                    #expect(try JSONValue(parsing: delivery.body)["data"]?["old_doc"] == .null)
                }
                let feed = try await herald.call(.GET, "/api/events?since=0", token: cce.token)
                #expect(feed.status == 200 && feed.json["results"]?.arrayValue?.count == 1)
                #expect(!feed.text.contains("MOVE-SECRET"), "\(feed.text)")
            }
        }
    }

    // MARK: one team's scripts

    /// A hook's fields: `lead.created` on `channel`, with a filter or a transform.
    static func scripted(_ url: String, channel: String, filter: String? = nil, transform: String? = nil) -> String {
        var fields: [(key: String, value: JSONValue)] = [("url", .string(url)), ("events", .array([.string("lead.created")])), ("channels", .array([.string(channel)]))]
        if let filter { fields.append(("filter", .string(filter))) }
        if let transform { fields.append(("transform", .string(transform))) }
        return JSONValue.object(fields).jsonString
    }

    /// One team's slow transforms hold the sandbox's workers; another team's quick filter waits for
    /// a worker, and every one of its deliveries is still decided and delivered — none skipped as
    /// "timed out" for time it spent waiting.
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"), .timeLimit(.minutes(2)))
    func anotherTeamsSlowTransformsSkipNothingOfOurs() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.scriptLimits.workers = 2
                configuration.engine.scriptLimits.timeout = .seconds(2)
            } _: { herald in
                let slow = try await herald.makeTeam("slow")
                let quick = try await herald.makeTeam("quick")
                let transform = "function (event) { var end = Date.now() + 40; while (Date.now() < end) {} return event; }"
                for n in 0..<2 { _ = try await herald.makeHook(slow, Self.scripted(receiver.url("/slow\(n)"), channel: "slow", transform: transform)) }
                let filter = "function (data) { return data.n % 2 == 0; }"
                let hook = try await herald.makeHook(quick, Self.scripted(receiver.url("/quick"), channel: "quick", filter: filter))
                let provider = try await herald.providerToken()
                let load = (0..<40).map { #"{"type":"lead.created","data":{"lead_id":"x","n":\#($0)},"channels":["slow"]}"# }.joined(separator: ",")
                #expect(try await herald.emit(provider, "[\(load)]").status == 202)
                try await eventually("the slow team's transforms are running") { receiver.received.contains { $0.path.hasPrefix("/slow") && $0.header("X-Herald-Event") == "lead.created" } }
                let ours = (0..<20).map { #"{"type":"lead.created","data":{"lead_id":"x","n":\#($0)},"channels":["quick"]}"# }.joined(separator: ",")
                #expect(try await herald.emit(provider, "[\(ours)]").status == 202)
                try await eventually("every even event reaches the quick team", timeout: .seconds(60)) {
                    receiver.received.filter { $0.path == "/quick" && $0.header("X-Herald-Event") == "lead.created" }.count == 10
                }
                let skipped = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=skipped&limit=100", token: quick.token)
                let notes = skipped.json["deliveries"]?.arrayValue?.compactMap { $0["note"]?.stringValue } ?? []
                #expect(notes == Array(repeating: FilterVerdict.filteredOut, count: 10), "\(notes)")
            }
        }
    }

    /// A team whose filters are slow pays for them itself: past its time in a fan-out batch, its
    /// remaining filtered deliveries are noted as such, while another team's event in the same
    /// batch is routed and delivered; a filter that keeps timing out has its hook paused.
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"), .timeLimit(.minutes(2)))
    func aTeamsSlowFiltersCostThatTeamAndARunawayFilterIsPaused() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.scriptLimits.workers = 2
                configuration.engine.scriptLimits.timeout = .milliseconds(250)
            } _: { herald in
                let slow = try await herald.makeTeam("slow")
                let other = try await herald.makeTeam("other")
                let filter = "function () { var end = Date.now() + 80; while (Date.now() < end) {} return true; }"
                for n in 0..<10 { _ = try await herald.makeHook(slow, Self.scripted(receiver.url("/slow\(n)"), channel: "slow", filter: filter)) }
                _ = try await herald.makeHook(other, #"{"url":"\#(receiver.url("/other"))","events":["lead.created"],"channels":["other"]}"#)
                let provider = try await herald.providerToken()
                // One request: the slow team's events and the other team's share a fan-out batch.
                let events = (0..<20).map { #"{"type":"lead.created","data":{"lead_id":"x","n":\#($0)},"channels":["slow"]}"# } + [#"{"type":"lead.created","data":{"lead_id":"x","n":"other"},"channels":["other"]}"#]
                #expect(try await herald.emit(provider, "[\(events.joined(separator: ","))]").status == 202)
                try await eventually("the other team's event arrives", timeout: .seconds(60)) {
                    receiver.received.contains { $0.path == "/other" && $0.header("X-Herald-Event") == "lead.created" }
                }
                // 200 filter calls of 80 ms would be 16 s of the slow team's time; most were not run.
                var query = DeliveryQuery(statuses: [.skipped], limit: 500)
                query.teamID = slow.team.id
                let skipped = try await herald.store.deliveries(query)
                #expect(skipped.count > 100)
                #expect(skipped.allSatisfy { $0.note == HookFilters.overTeamBudget || $0.note == FilterVerdict.timedOut }, "\(Set(skipped.compactMap(\.note)))")

                // A filter that never returns: after three batches in a row its hook is paused, and says why.
                let runaway = JSONValue.object([
                    ("url", .string(receiver.url("/runaway"))), ("events", .array([.string("lead.updated")])), ("filter", .string("function () { while (true) {} }")),
                ])
                let stuck = try await herald.makeHook(other, runaway.jsonString)
                for round in 1...3 {
                    #expect(try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"x","round":\#(round)}}"#).status == 202)
                    var query = DeliveryQuery(statuses: [.skipped], limit: 10)
                    query.hookID = stuck.id
                    let mine = query
                    try await eventually("round \(round) is fanned out") { try await herald.store.deliveries(mine).count == round }
                }
                let paused = try await eventuallyValue("the hook is paused") { () -> Hook? in
                    guard let hook = try await herald.store.hook(id: stuck.id), !hook.active else { return nil }
                    return hook
                }
                #expect(paused?.disabledReason == DeliveryEngine.filterPausedReason)
                let page = try await herald.call(.GET, "/api/hooks/\(stuck.id)", token: other.token)
                #expect(page.json["active"] == .bool(false))
            }
        }
    }

    // MARK: one team's backlog

    /// One team's receiver fails and its deliveries wait hours for their retries, and its replay
    /// piles onto a hanging receiver: neither makes another team's provider writes 503.
    @Test(.timeLimit(.minutes(2)))
    func oneTeamsBacklogDoesNotRefuseEverybodysIngest() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in
                if request.path == "/failing" { return .init(status: 500) }
                if request.path == "/hanging" { return .init(delay: .seconds(5)) }
                return .init()
            }
            try await HeraldHarness.run { configuration in
                configuration.maxBacklog = 40
                configuration.maxBacklogPerTeam = 10
                configuration.maxReplaysPerTeam = 2
                configuration.engine.retrySchedule = RetrySchedule(delays: [.seconds(3600)], jitter: 0)
                configuration.engine.maxInFlightPerHook = 4
                configuration.engine.replayStep = 10
                configuration.engine.replayHoldPerHook = 10
                // Every busy delivery is to be tried once, then wait an hour: no circuit breaker
                // holding the first attempts back (its own tests are HookPolicyTests).
                configuration.engine.hookHealth.breaker.failures = 0
            } _: { herald in
                let busy = try await herald.makeTeam("busy")
                let other = try await herald.makeTeam("other")
                let failing = try await herald.makeHook(busy, #"{"url":"\#(receiver.url("/failing"))","events":["lead.created"],"channels":["busy"]}"#)
                _ = try await herald.makeHook(other, #"{"url":"\#(receiver.url("/other"))","events":["lead.created"],"channels":["other"]}"#)
                let provider = try await herald.providerToken()
                let load = (0..<60).map { #"{"type":"lead.created","data":{"lead_id":"x","n":\#($0)},"channels":["busy"]}"# }.joined(separator: ",")
                #expect(try await herald.emit(provider, "[\(load)]").status == 202)
                try await eventually("every busy delivery was tried once and waits an hour", timeout: .seconds(60)) {
                    receiver.received.filter { $0.path == "/failing" && $0.header("X-Herald-Event") == "lead.created" }.count == 60
                }
                // Sixty deliveries wait for a retry: scheduled work, not a queue; the other team's writes go in.
                let accepted = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"x","n":"first"},"channels":["other"]}"#)
                #expect(accepted.status == 202, "\(accepted.text)")
                try await eventually("the other team's first event arrives") { receiver.received.contains { $0.path == "/other" && $0.bodyString.contains("first") } }

                // The busy team replays everything onto a receiver that hangs: it holds its own backlog only.
                let hanging = try await herald.makeHook(
                    busy, #"{"url":"\#(receiver.url("/hanging"))","events":["lead.created"],"channels":["busy"],"timeout_seconds":2}"#
                )
                let since = Timestamp.string(Date().addingTimeInterval(-3600))
                let replay = try await herald.call(.POST, "/api/hooks/\(hanging.id)/replay", token: busy.token, body: #"{"since":"\#(since)"}"#)
                #expect(replay.status == 202, "\(replay.text)")
                try await eventually("the replay has queued deliveries onto the hanging receiver") {
                    var query = DeliveryQuery(statuses: [.pending, .inFlight], limit: 100)
                    query.hookID = hanging.id
                    return try await herald.store.deliveries(query).count >= 10
                }
                for n in 0..<5 {
                    let response = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"x","n":"later-\#(n)"},"channels":["other"]}"#)
                    #expect(response.status == 202, "\(response.text)")
                }
                try await eventually("the other team's later events arrive") { receiver.received.filter { $0.path == "/other" && $0.bodyString.contains("later-") }.count == 5 }
                // The replay holds at most its hook's share and waits (still running); a team runs a
                // bounded number of replays at once.
                let job = try #require(replay.json["url"]?.stringValue)
                #expect(try await herald.call(.GET, job, token: busy.token).json["state"]?.stringValue == "running")
                #expect(try await herald.call(.POST, "/api/hooks/\(failing.id)/replay", token: busy.token, body: #"{"since":"\#(since)"}"#).status == 202)
                let third = try await herald.call(.POST, "/api/hooks/\(failing.id)/replay", token: busy.token, body: #"{"since":"\#(since)"}"#)
                #expect(third.status == 429 && third.json["type"]?.stringValue == "/problems/replays-running", "\(third.text)")
            }
        }
    }

    // MARK: one anonymous client

    /// Once few connections are free, the rest are kept for requests with credentials: anonymous
    /// requests past the share are answered 503 and closed, and a team's request still gets through.
    @Test(.timeLimit(.minutes(2)))
    func anonymousClientsCannotTakeTheConnectionsKeptForTeams() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxConnections = 12
            configuration.connectionsReservedForAuthenticated = 8
            configuration.maxConnectionsPerClient = 0
            configuration.idleTimeout = .seconds(120)
            configuration.requestGrace = .seconds(120)
        } _: { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            let team = try await herald.makeTeam("bde")
            // Sign-in bodies announced as 1 KiB, sent a byte at a time, on the four anonymous slots.
            let trickle = "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1024\r\n\r\ne"
            var trickling: [RawSocket] = []
            for _ in 0..<4 {
                let socket = try RawSocket(port: port)
                socket.send(trickle)
                trickling.append(socket)
            }
            try await eventually("the server holds the four") { herald.services.connections.count == 4 }
            // Each further anonymous request is answered 503 and its connection closed at once.
            for _ in 0..<8 {
                let late = try RawSocket(port: port)
                try await eventually("the server accepted it") { herald.services.connections.count == 5 }
                late.send(trickle)
                let answer = await late.readAll(within: .seconds(10))
                #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
                try await eventually("its slot is free again") { herald.services.connections.count == 4 }
            }
            // A team's request gets a connection and its answer.
            let hooks = try await herald.call(.GET, "/api/hooks", token: team.token)
            #expect(hooks.status == 200)
            #expect(trickling.count == 4)
        }
    }

    /// A request body trickled under the minimum rate is cut once its grace is over.
    @Test(.timeLimit(.minutes(1)))
    func aBodyTrickledUnderTheMinimumRateIsCut() async throws {
        try await HeraldHarness.run { configuration in
            configuration.idleTimeout = .seconds(120)
            configuration.requestGrace = .seconds(1)
        } _: { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            let socket = try RawSocket(port: port)
            socket.send("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1024\r\n\r\ne")
            // The idle timeout (120 s) would not close it; one byte a second is under the rate.
            let keepSending = Task {
                for _ in 0..<30 where !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    socket.send("x")
                }
            }
            defer { keepSending.cancel() }
            #expect(await socket.closedByServer(within: .seconds(20)))
            #expect(try await herald.call(.GET, "/healthz", token: nil).status == 200)
        }
    }

    /// One address holds at most its share of the connections; another client is still served.
    @Test func oneAddressHoldsAtMostItsShareOfConnections() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxConnectionsPerClient = 4
            configuration.idleTimeout = .seconds(120)
        } _: { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            var held: [RawSocket] = []
            for _ in 0..<4 { held.append(try RawSocket(port: port)) }
            try await eventually("four connections are held") { herald.services.pacing.open(from: "127.0.0.1") == 4 }
            let fifth = try RawSocket(port: port)
            #expect(await fifth.closedByServer(within: .seconds(10)))
            // Another address (still loopback) is served meanwhile.
            let other = try RawSocket(port: port, from: "127.0.0.2")
            other.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(await other.readAll(within: .seconds(10)).hasPrefix("HTTP/1.1 200"))
            held.removeAll()
            try await eventually("the connections are released") { herald.services.pacing.open(from: "127.0.0.1") == 0 }
        }
        // A trusted reverse proxy carries every client's connections: it is not held to one client's share.
        try await HeraldHarness.run { configuration in
            configuration.maxConnectionsPerClient = 2
            configuration.trustedProxies = [IPNetwork("127.0.0.1")!]
            configuration.idleTimeout = .seconds(120)
        } _: { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            var held: [RawSocket] = []
            for _ in 0..<4 { held.append(try RawSocket(port: port)) }
            try await eventually("the proxy's four connections are held") { herald.services.pacing.open(from: "127.0.0.1") == 4 }
            held[3].send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(await held[3].readAll(within: .seconds(10)).hasPrefix("HTTP/1.1 200"))
        }
    }

    // MARK: credentials

    /// Custom headers are shown masked, so they must not follow a hook to another origin: a URL-only
    /// change of host drops them (a path change keeps them); hop-by-hop fields cannot be set at all.
    @Test func credentialsShownMaskedDoNotFollowAHookToAnotherHost() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/a"))","headers":{"X-Api-Key":"KEY-FOR-A"}}"#)
                // Same origin, another path: the header stays.
                let moved = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"url":"\#(receiver.url("/a2"))"}"#)
                #expect(moved.status == 200 && moved.json["headers"]?["X-Api-Key"]?.stringValue == HookCredentials.mask, "\(moved.text)")
                // Another host (the same receiver, reached by name): the header is gone.
                let elsewhere = "http://localhost:\(receiver.port)/b"
                let rehomed = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"url":"\#(elsewhere)"}"#)
                #expect(rehomed.status == 200 && rehomed.json["headers"] == .object([]), "\(rehomed.text)")
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/pings", token: bde.token).status == 204)
                try await eventually("the ping reaches the new host") { receiver.received.contains { $0.path == "/b" } }
                #expect(receiver.received.filter { $0.path == "/b" }.allSatisfy { $0.header("X-Api-Key") == nil })
                for name in ["Expect", "TE", "Upgrade", "Trailer", "Content-Encoding", "Proxy-Authorization"] {
                    let refused = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"headers":{"\#(name)":"x"}}"#)
                    #expect(refused.status == 422, "\(name): \(refused.status)")
                }
            }
        }
    }

    // MARK: names, paths and aborted requests

    /// A team's name is what other people read on pages and in logs: no NUL (which cut it short),
    /// no line breaks, no bidirectional controls that make it read as another.
    @Test(arguments: ["Evil\u{0000}Team", "Line\nBreak", "Tab\there", "Admin\u{202E}nimdA", "\u{2066}Isolated\u{2069}", "   "])
    func aTeamNameMustBeReadableText(_ name: String) async throws {
        try await HeraldHarness.run { herald in
            let body = JSONValue.object([("name", .string(name)), ("slug", .string("odd"))]).jsonString
            let refused = try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: body)
            #expect(refused.status == 422, "\(refused.text)")
            #expect(refused.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/name")
            #expect(try await herald.store.team(slug: "odd") == nil)
            let fine = JSONValue.object([("name", .string("Développement économique")), ("slug", .string("dev"))]).jsonString
            #expect(try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: fine).status == 201)
        }
    }

    /// A NUL in a public file's name names no file: `herald.css%00.js` is not the stylesheet served as script.
    @Test func aPublicPathWithAControlCharacterIsNotFound() async throws {
        try await HeraldHarness.run { herald in
            #expect(try await herald.call(.GET, "/public/herald.css", token: nil).status == 200)
            for path in ["/public/herald.css%00.js", "/public/herald.css%0a", "/public/%00"] {
                let answer = try await herald.call(.GET, path, token: nil)
                #expect(answer.status == 404, "\(path): \(answer.status) \(answer.header("Content-Type") ?? "")")
            }
        }
    }

    /// A client that leaves mid-body is its own doing: a 4xx in the log, not a server error.
    @Test func aRequestCutShortIsTheClientsDoingNotAServerError() {
        #expect(ProblemMiddleware<HeraldRequestContext>.isClientAbort(HTTPParserError.invalidEOFState))
        #expect(ProblemMiddleware<HeraldRequestContext>.isClientAbort(ChannelError.ioOnClosedChannel))
        #expect(!ProblemMiddleware<HeraldRequestContext>.isClientAbort(StoreError.notFound("x")))
    }

    // MARK: feeds

    /// A follower whose process restarts leaves its feed without a word: its slot is free as soon
    /// as its connection closes, not when the feed would have timed out.
    @Test(.timeLimit(.minutes(1)))
    func aFeedWhoseClientLeftFreesItsSlotAtOnce() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxFeedsPerToken = 1
        } _: { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            let provider = try await herald.providerToken()
            var follower: RawSocket? = try RawSocket(port: port)
            follower?.send("GET /api/events?feed=continuous&timeout=120000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(provider)\r\n\r\n")
            let head = await follower?.readAll(within: .seconds(2)) ?? ""
            #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
            #expect(try await herald.call(.GET, "/api/events?feed=longpoll&timeout=100", token: provider).status == 429)
            follower = nil  // the process restarts: its socket closes, no heartbeat was asked for
            try await eventually("the token's slot is free again", timeout: .seconds(20)) {
                try await herald.call(.GET, "/api/events?feed=longpoll&timeout=100", token: provider).status == 200
            }
        }
    }

    /// A stop does not wait for open feeds: a long poll gets its answer and the process exits.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"), .timeLimit(.minutes(2)))
    func aStopEndsOpenFeedsInsteadOfWaitingForThem() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-feedstop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, _) = try await HeraldHarness.prepareDataDirectory(dataDirectory)
        let herald = try ChildProcess(binary: binary, arguments: ["serve", "--data-dir", dataDirectory.path, "--port", "0"])
        defer { herald.stop() }
        let port = try await herald.waitForPort()
        let longpoll = try RawSocket(port: port)
        longpoll.send("GET /api/events?feed=longpoll&timeout=120000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(teamToken)\r\n\r\n")
        let continuous = try RawSocket(port: port)
        continuous.send("GET /api/events?feed=continuous&timeout=120000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(teamToken)\r\n\r\n")
        _ = await continuous.readAll(within: .seconds(1))
        herald.process.send(SIGTERM)
        // Both feeds answer (the long poll its JSON, the stream its closing last_seq) and the stop ends
        // long before the feeds' two minutes.
        let answer = await longpoll.readAll(within: .seconds(60))
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("last_seq"), "\(answer)")
        #expect(await continuous.readAll(within: .seconds(60)).contains("last_seq"))
        #expect(try await herald.exited(timeout: .seconds(60)) == 0, "\(herald.output.suffix(2000))")
    }

    // MARK: a team's tokens

    /// Per-token limits bound a team: a team has at most so many tokens, and its tokens share one
    /// request rate, so minting more buys nothing.
    @Test func aTeamCannotMintItsWayPastItsLimits() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxTokensPerTeam = 3
            configuration.requestsPerToken = 5
            configuration.requestsPerTeam = 0.01  // one request, then one per 100 s
        } _: { herald in
            let bde = try await herald.makeTeam("bde")  // its first token
            for _ in 0..<2 {
                #expect(try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"team","team":"bde"}"#).status == 201)
            }
            let fourth = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"team","team":"bde"}"#)
            #expect(fourth.status == 422 && fourth.text.contains("the most a team may have"), "\(fourth.text)")
            #expect(try await herald.store.tokens(teamID: bde.team.id).count == 3)
            // Two tokens of one team share its rate: with the first's request the team's bucket is
            // empty, though the second token has not made one.
            let second = try await HeraldHarness.issueToken(store: herald.store, scope: .team, team: bde.team).1
            #expect(try await herald.call(.GET, "/api/hooks", token: bde.token).status == 200)
            let refusal = try await herald.call(.GET, "/api/hooks", token: second)
            #expect(refusal.status == 429 && refusal.text.contains("This team's tokens may make 0.01 requests a second together"), "\(refusal.text)")
            // Another team is not held back.
            let cce = try await herald.makeTeam("cce")
            #expect(try await herald.call(.GET, "/api/hooks", token: cce.token).status == 200)
        }
    }

    // MARK: one request's validation

    /// A schema pattern that backtracks on each of a thousand events costs its request a bounded
    /// time, off the tasks that serve everybody else: `/healthz` answers while two such requests are
    /// being checked, and both are refused with the reason.
    @Test(.timeLimit(.minutes(2)))
    func aRequestsValidationHasABoundAndHoldsNobodyElse() async throws {
        try await HeraldHarness.run { herald in
            let schema = #"{"type":"object","properties":{"codes":{"type":"array","items":{"type":"string","pattern":"^(a+)+$"}}}}"#
            let created = try await herald.call(.POST, "/api/event-types", token: herald.adminToken, body: #"{"name":"codes.checked","schema":\#(schema)}"#)
            #expect(created.status == 201, "\(created.text)")
            let provider = try await herald.providerToken()
            let nearMatch = String(repeating: "a", count: 28) + "!"
            // A batch of a thousand events, each with one value the pattern backtracks on.
            let body = "[" + Array(repeating: #"{"type":"codes.checked","data":{"codes":["\#(nearMatch)"]}}"#, count: 1000).joined(separator: ",") + "]"
            async let first = herald.emit(provider, body)
            async let second = herald.emit(provider, body)
            async let health: (status: Int, at: ContinuousClock.Instant) = {
                try? await Task.sleep(for: .milliseconds(100))
                let answer = try? await herald.call(.GET, "/healthz", token: nil)
                return (answer?.status ?? 0, ContinuousClock.now)
            }()
            let (a, b) = try await (first, second)
            let checked = ContinuousClock.now
            let healthz = await health
            for answer in [a, b] {
                #expect(answer.status == 422, "\(answer.text.prefix(300))")
                #expect(answer.text.contains("could not be checked"), "\(answer.text.prefix(300))")
            }
            // /healthz was answered while both requests were still being checked.
            #expect(healthz.status == 200 && healthz.at < checked)
            #expect(try await herald.store.lastSeq() == 0)
        }
    }

    // MARK: _local documents

    /// A team's checkpoints are its own: a provider token can neither read nor overwrite them, and
    /// a team keeps a bounded number of small ones.
    @Test func aTeamsCheckpointsAreItsOwnAndBounded() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxLocalDocumentsPerTeam = 2
        } _: { herald in
            let bde = try await herald.makeTeam("bde")
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads/_local/follower", token: bde.token, body: #"{"since":"42"}"#).status == 201)
            // The provider's own _local/follower is another document; the team's namespace is closed to it.
            #expect(try await herald.call(.GET, "/db/leads/_local/follower", token: provider).status == 404)
            let namespace = "team-\(bde.team.id):follower"
            let read = try await herald.call(.GET, "/db/leads/_local/\(namespace)", token: provider)
            #expect(read.status == 403 && !read.text.contains("42"), "\(read.text)")
            #expect(try await herald.call(.PUT, "/db/leads/_local/\(namespace)", token: provider, body: #"{"since":"0"}"#).status == 403)
            #expect(try await herald.call(.GET, "/db/leads/_local/follower", token: bde.token).json["since"]?.stringValue == "42")
            // Bounded in number (updating one is always allowed) and in size.
            #expect(try await herald.call(.PUT, "/db/leads/_local/second", token: bde.token, body: #"{"since":"1"}"#).status == 201)
            let third = try await herald.call(.PUT, "/db/leads/_local/third", token: bde.token, body: #"{"since":"1"}"#)
            #expect(third.status == 403 && third.text.contains("the most it may"), "\(third.text)")
            let rev = try #require(try await herald.call(.GET, "/db/leads/_local/second", token: bde.token).json["_rev"]?.stringValue)
            #expect(try await herald.call(.PUT, "/db/leads/_local/second", token: bde.token, body: #"{"_rev":"\#(rev)","since":"2"}"#).status == 201)
            let large = #"{"_rev":"\#(rev)","blob":"\#(String(repeating: "x", count: 100 * 1024))"}"#
            #expect(try await herald.call(.PUT, "/db/leads/_local/second", token: bde.token, body: large).status == 413)
        }
    }

    // MARK: the config file's hooks

    /// A password in a handler's URL is sent as Basic credentials, as Sync Gateway sends it, and
    /// shown to nobody; the team that owns the file's hooks cannot be created by anyone else.
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func theConfigFilesCredentialsAndHooksBelongToNobodyElse() async throws {
        try await TestReceiver.run { receiver in
            let url = "http://relay:S3CRET-PASS@127.0.0.1:\(receiver.port)/changes"
            let text = SyncGatewayHandlerTests.config(handlers: #"{"document_changed": [{"handler": "webhook", "url": "\#(url)"}]}"#)
            let config = try SyncGatewayConfig(text: text)
            try await HeraldHarness.run { configuration in
                configuration.syncGateway = config
            } _: { herald in
                let provider = try await herald.providerToken()
                #expect(try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Ana"}"#).status == 201)
                try await eventually("the change arrives") { receiver.received.contains { $0.path == "/changes" } }
                let request = try #require(receiver.received.first { $0.path == "/changes" })
                #expect(request.header("Authorization") == "Basic " + Data("relay:S3CRET-PASS".utf8).base64EncodedString())
                for token in [provider, herald.adminToken] {
                    let listed = try await herald.call(.GET, "/api/hooks", token: token)
                    #expect(!listed.text.contains("S3CRET-PASS"), "\(listed.text)")
                }
                let squatter = try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: #"{"name":"Config","slug":"config-file"}"#)
                #expect(squatter.status == 422 && squatter.text.contains("reserved"), "\(squatter.text)")
            }
        }
    }
}
