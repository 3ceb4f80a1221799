import Foundation
import HeraldCore
import Testing

@testable import HeraldServer

/// Limits that keep one client or team from taking more than its share.
@Suite struct AbuseLimitTests {
    @Test func aTokenOverItsRateGets429WithRetryAfterAndAnotherTokenDoesNot() async throws {
        // One request back every 100 s: however slow this machine, the bucket does not refill meanwhile.
        try await HeraldHarness.run(configure: { $0.requestsPerToken = 0.01; $0.requestBurstPerToken = 4 }) { herald in
            let provider = try await herald.providerToken()
            // The burst passes; the next request waits.
            for _ in 0..<4 { #expect(try await herald.call(.GET, "/api/events?limit=1", token: provider).status == 200) }
            let limited = try await herald.call(.GET, "/api/events?limit=1", token: provider)
            #expect(limited.status == 429)
            #expect(limited.header("Content-Type") == "application/problem+json")
            #expect(Int(limited.header("Retry-After") ?? "") ?? 0 >= 1)
            #expect(try await herald.call(.GET, "/api/events?limit=1", token: herald.adminToken).status == 200)
        }
    }

    @Test func theBucketRefillsAtItsRate() {
        let limiter = RateLimiter(rate: 10, burst: 2)
        let start = ContinuousClock.now
        #expect(limiter.take(1, now: start) == nil)
        #expect(limiter.take(1, now: start) == nil)
        #expect(limiter.take(1, now: start) == 1)
        #expect(limiter.take(1, now: start + .milliseconds(100)) == nil, "one request back after 1/rate")
        #expect(limiter.take(2, now: start) == nil, "each token has its own bucket")
    }

    @Test func aTeamCannotGoPastItsHookQuota() async throws {
        try await HeraldHarness.run(configure: { $0.maxHooksPerTeam = 2 }) { herald in
            let bde = try await herald.makeTeam("bde")
            for index in 0..<2 { _ = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/\#(index)","events":["*"]}"#) }
            let third = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"http://127.0.0.1:9/2","events":["*"]}"#)
            #expect(third.status == 422)
            #expect(third.json["detail"]?.stringValue?.contains("the most a team may have (2)") == true)
            #expect(try await herald.store.hooks(teamID: bde.team.id).count == 2)
            // Another team has its own quota.
            let other = try await herald.makeTeam("other")
            _ = try await herald.makeHook(other, #"{"url":"http://127.0.0.1:9/o","events":["*"]}"#)
        }
    }
}
