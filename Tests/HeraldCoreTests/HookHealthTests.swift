import Foundation
import HeraldCore
import Testing

/// What finished attempts do to their hook: the failure run, disabling, and `last_response`.
@Suite struct HookHealthTests {
    let start = Date(timeIntervalSince1970: 2_000_000)

    func result(_ outcome: AttemptOutcome, at offset: Double) throws -> AttemptResult {
        var lifecycle = DeliveryLifecycle.new(now: start)
        _ = lifecycle.claim(now: start)
        let action = lifecycle.finish(outcome, now: start, schedule: .default, jitterUnit: 0.5)
        let status: Int? = if case .response(let code, _) = outcome { code } else { nil }
        let message: String? = if case .error(_, let text) = outcome { text } else { nil }
        let attempt = Attempt(
            deliveryID: "d", number: 1, trigger: .first, startedAt: start.addingTimeInterval(offset), durationMs: 0, url: "https://example.org",
            requestHeaders: [], requestBody: "", responseStatus: status, responseHeaders: [], responseBody: nil, errorClass: nil, errorMessage: message
        )
        return AttemptResult(attempt: attempt, hookID: 1, lifecycle: lifecycle, action: action, succeeded: outcome.isSuccess)
    }

    @Test func aSuccessEndsTheFailureRunAndShowsOK() throws {
        let update = try #require(HookHealth().update(after: [try result(.response(status: 500, retryAfter: nil), at: 0), try result(.response(status: 204, retryAfter: nil), at: 1)], failingSince: start))
        #expect(update.failingSince == nil)
        #expect(update.disableReason == nil)
        #expect(update.lastResponse == LastResponse(code: 204, status: "active", message: "OK"))
    }

    @Test func aFailureStartsTheRunAndNamesTheStatusOrTheError() throws {
        let http = try #require(HookHealth().update(after: [try result(.response(status: 503, retryAfter: nil), at: 3)], failingSince: nil))
        #expect(http.failingSince == start.addingTimeInterval(3))
        #expect(http.lastResponse == LastResponse(code: 503, status: "failed", message: "HTTP 503"))
        let error = try #require(HookHealth().update(after: [try result(.error(.connect, message: "connection refused"), at: 0)], failingSince: nil))
        #expect(error.lastResponse == LastResponse(code: nil, status: "failed", message: "connection refused"))
    }

    @Test func failingForTheWholeWindowDisablesTheHook() throws {
        let health = HookHealth(disableAfter: .seconds(60))
        #expect(health.update(after: [try result(.response(status: 500, retryAfter: nil), at: 59)], failingSince: start)?.disableReason == nil)
        let reason = health.update(after: [try result(.response(status: 500, retryAfter: nil), at: 60)], failingSince: start)?.disableReason
        #expect(reason?.hasPrefix("Every delivery has failed since") == true)
    }

    @Test func goneDisablesAtOnce() throws {
        let update = HookHealth().update(after: [try result(.response(status: 410, retryAfter: nil), at: 0)], failingSince: nil)
        #expect(update?.disableReason == "The receiver answered 410 Gone.")
    }

    let health = HookHealth(disableAfter: .seconds(3600))
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func aSuccessClearsTheFailureRun() {
        let result = health.afterAttempt(succeeded: true, failingSince: t0, now: t0 + 10)
        #expect(result.failingSince == nil && result.disableReason == nil)
    }

    @Test func aFirstFailureStartsARun() {
        let result = health.afterAttempt(succeeded: false, failingSince: nil, now: t0)
        #expect(result.failingSince == t0 && result.disableReason == nil)
    }

    @Test func aLongEnoughRunDisablesTheHook() {
        #expect(health.afterAttempt(succeeded: false, failingSince: t0, now: t0 + 3599).disableReason == nil)
        #expect(health.afterAttempt(succeeded: false, failingSince: t0, now: t0 + 3600).disableReason != nil)
    }
}
