import Foundation
import HeraldCore
import HeraldDelivery
import HummingbirdBcrypt
import Synchronization
import Testing

@testable import HeraldServer

/// Password guessing at the sign-in form: slowed per account and address, and an unknown email
/// costs the same bcrypt check as a known one.
@Suite struct SignInThrottleTests {
    @Test func failuresPastTheFreeOnesWaitTwiceAsLongEachTimeAndASuccessClears() {
        let throttle = SignInThrottle(freeFailures: 3, lockout: 10)
        let keys = [SignInThrottle.accountKey("Ana@BDE.example"), SignInThrottle.addressKey("192.0.2.7")]
        let start = Date(timeIntervalSince1970: 1_000_000)
        for _ in 0..<3 { throttle.failed(keys, now: start) }
        #expect(throttle.retryAfter(keys, now: start) == nil)
        throttle.failed(keys, now: start)
        #expect(throttle.retryAfter(keys, now: start) == 1)
        throttle.failed(keys, now: start)
        #expect(throttle.retryAfter(keys, now: start) == 2)
        for _ in 0..<10 { throttle.failed(keys, now: start) }
        #expect(throttle.retryAfter(keys, now: start) == 10, "capped at the lockout window")
        #expect(throttle.retryAfter(keys, now: start.addingTimeInterval(10)) == nil)
        // The same account from elsewhere waits too; another account from a clean address does not.
        #expect(throttle.retryAfter([SignInThrottle.accountKey("ana@bde.example"), SignInThrottle.addressKey("198.51.100.1")], now: start) == 10)
        #expect(throttle.retryAfter([SignInThrottle.accountKey("bo@bde.example"), SignInThrottle.addressKey("198.51.100.1")], now: start) == nil)
        throttle.succeeded(keys)
        #expect(throttle.retryAfter(keys, now: start) == nil)
    }

    @Test func anUnknownEmailCostsTheSameOneBcryptCheckAndNeverMatches() async throws {
        let calls = Mutex<[String]>([])
        let verify: @Sendable (String, String) -> Bool = { _, hash in
            calls.withLock { $0.append(hash) }
            return true
        }
        #expect(try await WebController.passwordMatches("guess", hash: nil, verify: verify) == false)
        #expect(try await WebController.passwordMatches("right", hash: "$2b$12$known", verify: verify) == true)
        #expect(calls.withLock { $0 } == [WebController.absentUserHash, "$2b$12$known"])
        // The stand-in hash has the cost real users' hashes have.
        #expect(WebController.absentUserHash.hasPrefix(String(Bcrypt.hash("x").prefix(7))))
    }

    @Test func theFormAnswers429WithRetryAfterOnceGuessingGoesOn() async throws {
        // A first wait of ten minutes: however slow this machine, it has not passed by the next try.
        try await HeraldHarness.run(configure: { $0.signInFirstWait = 600 }) { herald in
            let bde = try await herald.makeTeam("bde")
            _ = try await herald.store.createUser(
                email: "ana@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
            )
            let client = WebClient(baseURL: herald.baseURL)
            for _ in 0..<herald.services.signIns.freeFailures {
                #expect(try await client.signIn(email: "ana@bde.example", password: "guess").status == 401)
            }
            #expect(try await client.signIn(email: "ana@bde.example", password: "guess").status == 401)
            // Now even the right password waits, on a readable page that says for how long.
            let throttled = try await client.signIn(email: "ana@bde.example", password: WebTests.password)
            #expect(throttled.status == 429)
            #expect(Int(throttled.header("Retry-After") ?? "") ?? 0 > 500)
            #expect(throttled.html.contains("Too many failed sign-ins"))
        }
    }

    /// Whoever fails on an account slows its owner's sign-in by at most the account's cap, never
    /// walls it off; an address that keeps guessing waits up to the full lockout.
    @Test func anAccountWaitsAtMostItsCapWhileAGuessingAddressWaitsLonger() {
        let throttle = SignInThrottle(freeFailures: 3, lockout: 900, accountLockout: 30)
        let start = Date(timeIntervalSince1970: 1_000_000)
        let guessing = [SignInThrottle.accountKey("admin@bde.example"), SignInThrottle.addressKey("203.0.113.9")]
        for _ in 0..<40 { throttle.failed(guessing, now: start) }
        #expect(throttle.retryAfter([SignInThrottle.addressKey("203.0.113.9")], now: start) == 900)
        #expect(throttle.retryAfter([SignInThrottle.accountKey("admin@bde.example"), SignInThrottle.addressKey("198.51.100.4")], now: start) == 30)
    }

    /// Behind a reverse proxy every request comes from the proxy's address: with the proxy trusted,
    /// the client's address is read from `X-Forwarded-For`, so one guesser does not lock out the
    /// administrator, and a forged header from elsewhere is not believed.
    @Test func behindATrustedProxyEachClientIsThrottledByItsOwnAddress() async throws {
        try await HeraldHarness.run { configuration in
            configuration.trustedProxies = [IPNetwork("127.0.0.1")!]
            configuration.signInFirstWait = 600
        } _: { herald in
            _ = try await herald.store.createUser(
                email: "admin@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .admin, teamID: nil, now: Date()
            )
            let guesser = WebClient(baseURL: herald.baseURL, headers: [("X-Forwarded-For", "203.0.113.9")])
            for n in 0...herald.services.signIns.freeFailures {
                #expect(try await guesser.signIn(email: "nobody\(n)@bde.example", password: "guess").status == 401)
            }
            #expect(try await guesser.signIn(email: "nobody@bde.example", password: "guess").status == 429)
            let admin = WebClient(baseURL: herald.baseURL, headers: [("X-Forwarded-For", "198.51.100.4")])
            #expect(try await admin.signIn(email: "admin@bde.example", password: WebTests.password).status == 303)
            // The proxy's own hop list: the nearest address that is not a proxy counts.
            let chained = WebClient(baseURL: herald.baseURL, headers: [("X-Forwarded-For", "198.51.100.77, 203.0.113.9")])
            #expect(try await chained.signIn(email: "nobody@bde.example", password: "guess").status == 429)
        }
    }
}
