import Foundation
import HeraldCore
import Synchronization
import Testing

/// A hook's own delivery policy, set through the API and honoured by the engine against real
/// receivers: its rate limit, its retry schedule, and the refusals of what cannot be used.
@Suite struct HookPolicyTests {
    /// Five a second: twenty events take about four seconds to reach the limited hook, while a hook
    /// of the same team without a limit gets all twenty at once.
    @Test(.timeLimit(.minutes(2)))
    func aRateLimitedHookGetsNoMoreThanItsLimitAndOthersAreNotHeldBack() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let limited = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/limited"))","events":["lead.*"],"rate_limit_per_second":5}"#)
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/free"))","events":["lead.*"]}"#)
                let shown = try await herald.call(.GET, "/api/hooks/\(limited.id)", token: bde.token)
                #expect(shown.json["rate_limit_per_second"] == .int(5), "\(shown.text)")
                let arrivals = Mutex<[String: [ContinuousClock.Instant]]>([:])
                // The events' deliveries (each hook's ping may come before or after this is set).
                receiver.respond { _, request in
                    if request.header("X-Herald-Event") == "lead.created" { arrivals.withLock { $0[request.path, default: []].append(.now) } }
                    return .init()
                }
                let provider = try await herald.providerToken()
                let events = (1...20).map { #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"l\#($0)"}}"# }
                #expect(try await herald.emit(provider, "[" + events.joined(separator: ",") + "]").status == 202)

                try await eventually("every event reaches the hook without a limit", timeout: .seconds(60)) {
                    arrivals.withLock { $0["/free"]?.count ?? 0 } == 20
                }
                let limitedWhenFreeDone = arrivals.withLock { $0["/limited"]?.count ?? 0 }
                #expect(limitedWhenFreeDone < 20, "the unlimited hook was not held behind the limited one")
                try await eventually("every event reaches the limited hook", timeout: .seconds(60)) {
                    arrivals.withLock { $0["/limited"]?.count ?? 0 } == 20
                }
                let times = arrivals.withLock { $0["/limited"] ?? [] }.sorted()
                // The attempts start 200 ms apart; an arrival seen here may be late by what a loaded
                // machine adds (up to half a second is allowed), so any one second holds at most
                // 5 + 2.5 + 1 arrivals — where without the limit all twenty come in one burst…
                for index in 0..<(times.count - 8) {
                    #expect(times[index + 8] - times[index] >= .seconds(1), "arrivals \(index)…\(index + 8) came within a second")
                }
                // …and the twenty take at least 19 × 200 ms, less that lateness.
                #expect(times.last! - times.first! >= .milliseconds(3300))
            }
        }
    }

    /// The hook's own schedule (two retries 300 ms apart) decides, not the server's.
    @Test(.timeLimit(.minutes(2)))
    func aHooksOwnRetryScheduleDecidesItsAttempts() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.retrySchedule = RetrySchedule(delays: [.milliseconds(100)], jitter: 0)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                receiver.respond { _, _ in .init(status: 503) }
                let hook = try await herald.makeHook(
                    bde, #"{"url":"\#(receiver.url())","events":["lead.*"],"retry_policy":{"type":"delays","delays_seconds":[0.3,0.3]}}"#
                )
                let provider = try await herald.providerToken()
                #expect(try await herald.emit(provider, #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"l1"}}"#).status == 202)
                let failed = try await eventuallyValue("the delivery fails for good", timeout: .seconds(60)) {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=failure", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.first { $0["event"] == .string("lead.created") }
                }
                let id = try #require(failed?["id"]?.stringValue)
                let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(id)", token: bde.token)
                let attempts = detail.json["attempt_log"]?.arrayValue ?? []
                #expect(attempts.count == 3, "\(detail.text)")
                // Each retry came after the hook's 300 ms, not the server's 100 ms.
                let started = attempts.compactMap { $0["started_at"]?.stringValue.flatMap(Timestamp.parse) }.sorted()
                #expect(started.count == 3)
                for (earlier, later) in zip(started, started.dropFirst()) { #expect(later.timeIntervalSince(earlier) >= 0.29, "\(started)") }

                // Back to the server's schedule with null; its answers say so.
                let reset = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"retry_policy":null}"#)
                #expect(reset.status == 200 && reset.json["retry_policy"] == .null, "\(reset.text)")
            }
        }
    }

    @Test(arguments: [
        (#"{"retry_policy":{"type":"delays","delays_seconds":[-1]}}"#, "/retry_policy"),
        (#"{"retry_policy":{"type":"exponential","initial_seconds":5}}"#, "/retry_policy"),
        (#"{"retry_policy":"5s,5m"}"#, "/retry_policy"),
        (#"{"rate_limit_per_second":0}"#, "/rate_limit_per_second"),
        (#"{"rate_limit_per_second":1.5}"#, "/rate_limit_per_second"),
        (#"{"disable_after_seconds":60}"#, "/disable_after_seconds"),
    ])
    func aPolicyThatCannotBeUsedIsA422NamingTheField(body: String, field: String) async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["lead.*"]}"#)
            let answer = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: body)
            #expect(answer.status == 422, "\(answer.text)")
            #expect(answer.json["errors"]?.arrayValue?.contains { $0["field"] == .string(field) } == true, "\(answer.text)")
            #expect(try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json["rate_limit_per_second"] == .null)
        }
    }

    /// The form sets the policy the API does, shows it on the hook page, and says in its own words
    /// what it cannot read.
    @Test func aMemberSetsRetriesAndARateLimitThroughTheForm() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let client = try await WebTests().member(herald, bde.team, "ana@bde.example")
            let form = try await client.get("/hooks/new")
            #expect(form.html.contains("Retries and pacing") && form.html.contains("The server's schedule"), "\(form.html)")
            let unreadable = try await client.submit(from: "/hooks/new", to: "/hooks", [
                ("url", "http://127.0.0.1:9/x"), ("events_mode", "all"), ("active", "1"), ("retry_kind", "delays"), ("retry_delays", "soon, later"),
                ("rate_limit", "0"),
            ])
            #expect(unreadable.status == 422)
            #expect(unreadable.html.contains("Write the delays before each retry as 5s, 5m, 30m, 2h."), "\(unreadable.html)")
            #expect(unreadable.html.contains("Must be an integer from 1 to 10000."), "\(unreadable.html)")
            #expect(unreadable.html.contains(#"value="soon, later""#))
            #expect(try await herald.store.hooks(teamID: nil).isEmpty)

            let created = try await client.submit(from: "/hooks/new", to: "/hooks", [
                ("url", "http://127.0.0.1:9/x"), ("events_mode", "all"), ("active", "1"), ("retry_kind", "exponential"), ("retry_initial", "10s"),
                ("retry_max", "1h"), ("retry_attempts", "6"), ("disable_after", "12h"), ("rate_limit", "3"),
            ])
            #expect(created.status == 303, "\(created.html)")
            let hook = try #require(try await herald.store.hooks(teamID: bde.team.id).first)
            #expect(hook.policy == DeliveryPolicy(retry: .exponential(initialSeconds: 10, maxSeconds: 3600, attempts: 6), disableAfterSeconds: 43_200, rateLimitPerSecond: 3))
            let page = try await client.follow(created)
            #expect(page.html.contains("doubling from 10 s up to 1 h, 6 attempts in all"), "\(page.html)")
            #expect(page.html.contains("<dd>12 h</dd>") && page.html.contains("3 per second"), "\(page.html)")
            // The edit form shows the policy as it was typed; back to the server's settings, the page says so.
            let edit = try await client.get("/hooks/\(hook.id)/edit")
            #expect(edit.html.contains(#"id="retry_initial" name="retry_initial" type="text" value="10s""#) && edit.html.contains(#"value="1h""#), "\(edit.html)")
            let reset = try await client.submit(from: "/hooks/\(hook.id)/edit", to: "/hooks/\(hook.id)", [
                ("url", "http://127.0.0.1:9/x"), ("events_mode", "all"), ("active", "1"), ("retry_kind", "server"), ("disable_after", ""), ("rate_limit", ""),
            ])
            #expect(reset.status == 303, "\(reset.html)")
            #expect(try await herald.store.hook(id: hook.id)?.policy.isEmpty == true)
            let shown = try await client.follow(reset)
            #expect(shown.html.contains("the server&#39;s (200 ms") || shown.html.contains("the server's (200 ms"), "\(shown.html)")
        }
    }

    /// Three failures in a row open the breaker for two seconds: while it is open the receiver gets
    /// nothing; then exactly one probe, whose failure opens it for four (time for a loaded machine
    /// to read the state before the next probe); once the receiver is back, the next probe closes
    /// it and the waiting deliveries go.
    @Test(.timeLimit(.minutes(2)))
    func aDeadReceiverGetsOneProbeAtATimeInsteadOfEveryRetry() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.hookHealth.breaker = CircuitBreaker(failures: 3, cooldown: .seconds(2))
                configuration.engine.retrySchedule = RetrySchedule(delays: Array(repeating: .milliseconds(100), count: 8), jitter: 0)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let down = Atomic(true)
                receiver.respond { _, _ in down.load(ordering: .relaxed) ? .init(status: 503) : .init() }
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"],"ordering":"none"}"#)
                let provider = try await herald.providerToken()
                let events = (1...10).map { #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"l\#($0)"}}"# }
                #expect(try await herald.emit(provider, "[" + events.joined(separator: ",") + "]").status == 202)
                @Sendable func circuit() async throws -> JSONValue? { try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json["circuit_breaker"] }
                // Open, with every attempt sent so far recorded and none still on its way (the ten
                // first attempts went out at once, before the breaker could open: those in flight
                // fail without extending it, and on a loaded machine one may reach the receiver late).
                let opened = try #require(try await eventuallyValue("the breaker opens, every attempt sent recorded", timeout: .seconds(60)) {
                    let state = try await circuit()
                    let inFlight = try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, limit: 100)).contains { $0.lifecycle.status == .inFlight }
                    return !inFlight && state?["state"] == .string("open") && state?["failures_in_a_row"]?.intValue == Int64(receiver.received.count)
                        ? state : nil
                })
                // Its next opening comes from the probe alone: failures in a row go up by one, and
                // the receiver saw one more request.
                let failuresWhenOpen = try #require(opened["failures_in_a_row"]?.intValue)
                let reopened = try #require(try await eventuallyValue("a probe fails and opens it again", timeout: .seconds(60)) {
                    let state = try await circuit()
                    return state?["open_until"] != opened["open_until"] && state?["state"] == .string("open") ? state : nil
                })
                #expect(reopened["failures_in_a_row"]?.intValue == failuresWhenOpen + 1, "\(reopened)")
                #expect(receiver.received.count == Int(failuresWhenOpen) + 1, "one probe, not every due retry")
                // The page says so: open, or — when signing the member in outlasted the 2 s cooldown on a
                // loaded machine — half open, one probe deciding either way.
                let page = try await WebTests().member(herald, bde.team, "ana@bde.example").get("/hooks/\(hook.id)")
                #expect(
                    page.html.contains("Circuit breaker")
                        && (page.html.contains("then one probe decides") || page.html.contains("half open: one probe attempt decides")),
                    "\(page.html)"
                )

                // The receiver is back: the next probe closes the breaker and every waiting delivery goes.
                down.store(false, ordering: .relaxed)
                try await eventually("the breaker closes", timeout: .seconds(30)) { try await circuit()?["state"] == .string("closed") }
                try await eventually("every lead is delivered", timeout: .seconds(30)) {
                    Set(receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.compactMap { request in
                        (try? JSONValue(parsing: request.bodyString))?["data"]?["lead_id"]?.stringValue
                    }).count == 10
                }
            }
        }
    }

    /// A hook whose receiver failed its creation ping, with a breaker that opens at the first
    /// failure and stays open five minutes (far longer than any wait below): `failing` tells which
    /// requests the receiver refuses.
    func withOpenBreaker(
        failing: @escaping @Sendable (TestReceiver.Received) -> Bool, path: String = "/hook",
        _ body: @Sendable (TestReceiver, HeraldHarness, HeraldHarness.TeamAccess, Int64) async throws -> Void
    ) async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.hookHealth.breaker = CircuitBreaker(failures: 1, cooldown: .seconds(300))
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                receiver.respond { _, request in failing(request) ? .init(status: 503) : .init() }
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url(path))","events":["lead.*"]}"#)
                try await eventually("the creation ping's failure opens the breaker", timeout: .seconds(60)) {
                    try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json["circuit_breaker"]?["state"] == .string("open")
                }
                try await body(receiver, herald, bde, hook.id)
            }
        }
    }

    /// A hook pointed at a new address starts with its breaker closed: the open one of the old
    /// address does not hold the delivery to the new one.
    @Test(.timeLimit(.minutes(2)))
    func aNewAddressClosesTheBreaker() async throws {
        try await withOpenBreaker(failing: { $0.path == "/old" }, path: "/old") { receiver, herald, bde, hookID in
            let moved = try await herald.call(.PATCH, "/api/hooks/\(hookID)", token: bde.token, body: #"{"url":"\#(receiver.url("/new"))"}"#)
            #expect(moved.json["circuit_breaker"]?["state"] == .string("closed"), "\(moved.text)")
            let provider = try await herald.providerToken()
            #expect(try await herald.emit(provider, #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"l1"}}"#).status == 202)
            try await eventually("the lead reaches the new address well within the old breaker's five minutes", timeout: .seconds(60)) {
                receiver.received.contains { $0.path == "/new" && $0.header("X-Herald-Event") == "lead.created" }
            }
        }
    }

    /// A person who fixed the receiver need not wait out the cool-down: their ping half-opens the
    /// breaker and is the probe; its success closes it.
    @Test(.timeLimit(.minutes(2)))
    func aPingIsTheProbeAnOpenBreakerWaitsFor() async throws {
        let down = Atomic(true)
        try await withOpenBreaker(failing: { _ in down.load(ordering: .relaxed) }) { receiver, herald, bde, hookID in
            down.store(false, ordering: .relaxed)
            #expect(try await herald.call(.POST, "/api/hooks/\(hookID)/pings", token: bde.token).status == 204)
            try await eventually("the ping goes out at once and closes the breaker, well within its five minutes", timeout: .seconds(60)) {
                try await herald.call(.GET, "/api/hooks/\(hookID)", token: bde.token).json["circuit_breaker"]?["state"] == .string("closed")
            }
            #expect(receiver.received.count >= 2)
        }
    }
}
