import Foundation
import HeraldCore
import Testing

/// A hook's own retry schedule, disable window and rate limit, without a store or a clock.
@Suite struct DeliveryPolicyTests {
    @Test func aPolicyReadsBackFromTheJSONItIsKeptAs() throws {
        let policies = [
            DeliveryPolicy(),
            DeliveryPolicy(retry: .delays([5, 300, 0.5])),
            DeliveryPolicy(retry: .exponential(initialSeconds: 10, maxSeconds: 3600, attempts: 8), disableAfterSeconds: 86_400, rateLimitPerSecond: 20),
        ]
        for policy in policies { #expect(DeliveryPolicy(stored: policy.stored) == policy) }
        #expect(DeliveryPolicy().stored == nil)
        #expect(
            DeliveryPolicy(retry: .delays([5, 0.5]), rateLimitPerSecond: 2).json.jsonString
                == #"{"retry_policy":{"type":"delays","delays_seconds":[5,0.5]},"rate_limit_per_second":2}"#
        )
    }

    @Test func exponentialDelaysDoubleUpToTheirCap() {
        let policy = RetryPolicy.exponential(initialSeconds: 10, maxSeconds: 60, attempts: 6)
        #expect(policy.delays == [.seconds(10), .seconds(20), .seconds(40), .seconds(60), .seconds(60)])
        #expect(policy.summary == "doubling from 10 s up to 1 min, 6 attempts in all")
        #expect(RetryPolicy.delays([0.25, 5, 300, 7200, 172_800]).summary == "250 ms, 5 s, 5 min, 2 h, 2 d")
        // Its schedule keeps the server's jitter; no policy is the server's schedule.
        let server = RetrySchedule(delays: [.seconds(1)], jitter: 0.2)
        #expect(DeliveryPolicy(retry: policy).retrySchedule(default: server) == RetrySchedule(delays: policy.delays, jitter: 0.2))
        #expect(DeliveryPolicy().retrySchedule(default: server) == server)
    }

    @Test(arguments: [
        (#"{"type":"delays","delays_seconds":[0]}"#, "above 0"),
        (#"{"type":"delays","delays_seconds":["5s"]}"#, "array of seconds"),
        (#"{"type":"delays","delays_seconds":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}"#, "at most 25"),
        (#"{"type":"exponential","initial_seconds":10,"max_seconds":5,"attempts":3}"#, "max_seconds"),
        (#"{"type":"exponential","initial_seconds":10,"max_seconds":50,"attempts":0}"#, "attempts"),
        (#"{"type":"linear"}"#, "delays or exponential"),
        (#"{"type":"delays","delays_seconds":[1],"jitter":0}"#, "jitter is not a setting"),
        (#"[1,2]"#, "must be an object"),
    ])
    func aPolicyThatCannotBeUsedIsRefusedSayingWhy(json: String, message: String) throws {
        #expect {
            try RetryPolicy(json: try JSONValue(parsing: json))
        } throws: { error in
            (error as? PolicyError)?.description.contains(message) == true
        }
    }

    @Test func rateSlotsAreSpacedEvenlyAndTakenWithinTheLookahead() {
        let now = Date(timeIntervalSince1970: 1_000)
        // 50 a second: a slot every 20 ms; within 100 ms of now, six (0, 20, … 100 ms).
        let fresh = RateSlots(limitPerSecond: 50, storedNext: nil, now: now)
        #expect(fresh.available == 6)
        #expect(fresh.slot(3) == now.addingTimeInterval(0.06))
        // A slot stored in the past counts from now: unused time is not saved up as a burst.
        #expect(RateSlots(limitPerSecond: 50, storedNext: now.addingTimeInterval(-60), now: now).available == 6)
        // One a second, the next slot 400 ms away: nothing now; the claim comes back 100 ms before it.
        let waiting = RateSlots(limitPerSecond: 1, storedNext: now.addingTimeInterval(0.4), now: now)
        #expect(waiting.available == 0)
        #expect(waiting.opens(after: 0) == now.addingTimeInterval(0.3))
    }

    @Test func aRateLimitedHookGetsItsSlotsOnlyAndSaysWhenMoreOpen() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        var policy = ClaimPolicy(limit: 100, perHook: 10, perTeam: 100)
        policy.rates[1] = RateSlots(limitPerSecond: 10, storedNext: nil, now: now)  // 2 slots: 0 and 100 ms
        let candidates = (1...5).map { key in
            ClaimCandidate(
                key: key, deliveryID: "d\(key)", hookID: key <= 4 ? 1 : 2, teamID: 1, eventSeq: key,
                lifecycle: DeliveryLifecycle(status: .pending, attemptsInRun: 0, redelivery: false, retries: true, nextAttemptAt: now.addingTimeInterval(-1)),
                previousAttempts: 0, ordered: false
            )
        }
        // Read: its two slots and one more, to learn whether work is held.
        let hook = Hook(
            id: 1, teamID: 1, url: "https://example.org", contentType: .json, encryptedSecret: Data(), events: ["*"], channels: [], active: true,
            insecureSSL: false, timeoutSeconds: 10, ordering: .none, signature: .hmac, createdAt: now, updatedAt: now,
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil
        )
        #expect(policy.read(for: hook) == .due(limit: 3))
        let chosen = policy.choose(from: candidates, now: now)
        #expect(chosen.map(\.key).sorted() == [1, 2, 5])
        #expect(policy.heldUntil(candidates: candidates, chosen: chosen, now: now) == now.addingTimeInterval(0.2 - RateSlots.lookahead))
        // Nothing held once all its due work fits.
        #expect(policy.heldUntil(candidates: Array(candidates.prefix(2)), chosen: Array(candidates.prefix(2)), now: now) == nil)
    }

    @Test func aHooksOwnDisableWindowDecidesWhenItIsDisabled() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        func failed(at seconds: Double, health: HookHealth?) -> AttemptResult {
            let attempt = Attempt(
                deliveryID: "d\(seconds)", number: 1, trigger: .first, startedAt: start.addingTimeInterval(seconds), durationMs: 0, url: "https://example.org",
                requestHeaders: [], requestBody: "", responseStatus: 500, responseHeaders: [], responseBody: nil, errorClass: nil, errorMessage: nil
            )
            var lifecycle = DeliveryLifecycle(status: .inFlight, attemptsInRun: 0, redelivery: false, retries: true, nextAttemptAt: nil)
            let action = lifecycle.finish(.response(status: 500, retryAfter: nil), now: attempt.startedAt, schedule: RetrySchedule(delays: []), jitterUnit: 0)
            return AttemptResult(attempt: attempt, hookID: 7, lifecycle: lifecycle, action: action, succeeded: false, hookHealth: health)
        }
        let server = HookHealth(disableAfter: .seconds(5 * 86_400))
        // Two hours of failures: the server's five days are far off; the hook's own hour is past.
        let own = RecordTurn(results: [failed(at: 7200, health: HookHealth(disableAfter: .seconds(3600)))], health: server)
        let stored = HookHealth.Stored(lastResponse: LastResponse(code: nil, status: "unused", message: nil), failingSince: start)
        #expect(own.change(forHook: 7, recorded: ["d7200.0"], stored: stored)?.disableReason != nil)
        let serverRule = RecordTurn(results: [failed(at: 7200, health: nil)], health: server)
        #expect(serverRule.change(forHook: 7, recorded: ["d7200.0"], stored: stored) != nil)
        #expect(serverRule.change(forHook: 7, recorded: ["d7200.0"], stored: stored)?.disableReason == nil)
    }

    /// A record writes a hook's row only when its results change it: a healthy hook's successes,
    /// turn after turn, leave it alone (every store asks this; PostgreSQL then neither locks nor
    /// writes the row), while a first success, a failure or a run that goes on is saved.
    @Test func aHookRowIsChangedOnlyWhenItsResultsChangeIt() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        func result(_ id: String, status: Int) -> AttemptResult {
            let attempt = Attempt(
                deliveryID: id, number: 1, trigger: .first, startedAt: start, durationMs: 5, url: "https://example.org", requestHeaders: [],
                requestBody: "", responseStatus: status, responseHeaders: [], responseBody: nil, errorClass: nil, errorMessage: nil
            )
            var lifecycle = DeliveryLifecycle(status: .inFlight, attemptsInRun: 0, redelivery: false, retries: true, nextAttemptAt: nil)
            let action = lifecycle.finish(
                .response(status: status, retryAfter: nil), now: start, schedule: RetrySchedule(delays: [.seconds(60)], jitter: 0), jitterUnit: 0
            )
            return AttemptResult(attempt: attempt, hookID: 7, lifecycle: lifecycle, action: action, succeeded: (200..<300).contains(status))
        }
        let healthy = HookHealth.Stored(lastResponse: LastResponse(code: 200, status: "active", message: "OK"), failingSince: nil)
        let successes = RecordTurn(results: [result("a", status: 200), result("b", status: 204)], health: HookHealth())
        // The last success answered 204: the last response changes, so the row is written …
        #expect(successes.change(forHook: 7, recorded: ["a", "b"], stored: healthy)?.lastResponse.code == 204)
        // … and a turn of 200s on a hook whose row already says so changes nothing.
        let again = RecordTurn(results: [result("c", status: 200)], health: HookHealth())
        #expect(again.change(forHook: 7, recorded: ["c"], stored: healthy) == nil)
        // A result that was not recorded (its delivery deleted meanwhile) changes nothing either.
        #expect(successes.change(forHook: 7, recorded: [], stored: healthy) == nil)
        // A failure starts a run and counts toward the breaker.
        let failure = RecordTurn(results: [result("d", status: 500)], health: HookHealth())
        let failed = failure.change(forHook: 7, recorded: ["d"], stored: healthy)
        #expect(failed?.failingSince != nil && failed?.circuit.failures == 1 && failed?.lastResponse.status == "failed")
        // A success after it ends the run: written, though its last response reads as the healthy one.
        let recovering = HookHealth.Stored(lastResponse: healthy.lastResponse, failingSince: start, circuit: failed?.circuit ?? CircuitState())
        #expect(again.change(forHook: 7, recorded: ["c"], stored: recovering)?.failingSince == nil)
    }

    @Test func aCircuitBreakerOpensAfterARunOfFailuresAndOneProbeDecides() {
        let breaker = CircuitBreaker(failures: 3, cooldown: .seconds(30), maxCooldown: .seconds(100))
        let start = Date(timeIntervalSince1970: 1_000_000)
        var circuit = CircuitState()
        for second in 0..<2 { circuit = breaker.after(succeeded: false, circuit, at: start.addingTimeInterval(Double(second))) }
        #expect(circuit.openUntil == nil && circuit.failures == 2)
        circuit = breaker.after(succeeded: false, circuit, at: start.addingTimeInterval(2))
        #expect(circuit.openUntil == start.addingTimeInterval(32))
        // An attempt already in flight that fails while it is open changes nothing.
        circuit = breaker.after(succeeded: false, circuit, at: start.addingTimeInterval(10))
        #expect(circuit.openUntil == start.addingTimeInterval(32))
        // One started before it opened that fails after (at its timeout) is no probe either.
        circuit = breaker.after(succeeded: false, circuit, startedAt: start.addingTimeInterval(1), at: start.addingTimeInterval(35))
        #expect(circuit.openUntil == start.addingTimeInterval(32))
        // The probe fails: open again, for twice as long; again: capped.
        circuit = breaker.after(succeeded: false, circuit, at: start.addingTimeInterval(40))
        #expect(circuit.openUntil == start.addingTimeInterval(100))
        circuit = breaker.after(succeeded: false, circuit, at: start.addingTimeInterval(100))
        #expect(circuit.openUntil == start.addingTimeInterval(200))
        #expect(circuit.summary(at: start.addingTimeInterval(150))?.hasPrefix("open after 7 failed attempts in a row") == true)
        #expect(circuit.summary(at: start.addingTimeInterval(250))?.hasPrefix("half open") == true)
        // A success closes it.
        #expect(breaker.after(succeeded: true, circuit, at: start.addingTimeInterval(201)) == CircuitState())
        // Off: failures are counted, the breaker never opens.
        let off = CircuitBreaker(failures: 0)
        #expect((0..<50).reduce(CircuitState()) { state, _ in off.after(succeeded: false, state, at: start) }.openUntil == nil)
        // Turned off while one was open: it lets go at the next attempt.
        #expect(off.after(succeeded: false, circuit, at: start.addingTimeInterval(300)).openUntil == nil)
    }

    @Test func anOpenBreakerPausesItsHookAndAHalfOpenOneLetsOneProbeThrough() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        func hook(_ id: Int64) -> Hook {
            Hook(
                id: id, teamID: 1, url: "https://example.org", contentType: .json, encryptedSecret: Data(), events: ["*"], channels: [], active: true,
                insecureSSL: false, timeoutSeconds: 10, ordering: .none, signature: .hmac, createdAt: now, updatedAt: now,
                lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil
            )
        }
        var turn = ClaimTurn(policy: ClaimPolicy(limit: 100, perHook: 10, perTeam: 100), now: now)
        turn.setCircuits([1: now.addingTimeInterval(5), 2: now.addingTimeInterval(-1), 9: now.addingTimeInterval(1)], among: [1, 2, 3])
        #expect(turn.read(for: hook(1)) == nil)
        #expect(turn.read(for: hook(2)) == .due(limit: 1))
        #expect(turn.read(for: hook(3)) == .due(limit: 10))
        // The engine comes back when the paused hook's breaker half-opens (hook 9 has no work).
        #expect(turn.report.heldUntil == now.addingTimeInterval(5))
        var probing = ClaimPolicy(limit: 100, perHook: 10, perTeam: 100, inFlightByHook: [2: 1])
        probing.probing = [2]
        #expect(probing.read(for: hook(2)) == nil, "its probe is in flight")
    }
}
