import Foundation
import Testing

@testable import HeraldDelivery

/// `Retry-After` as receivers send it: seconds or any of HTTP's three date forms, against a fixed clock.
@Suite struct RetryAfterTests {
    /// Sun, 06 Nov 1994 08:49:37 GMT.
    let now = Date(timeIntervalSince1970: 784_111_777)

    @Test(arguments: [("120", 120), ("0", 0), (" 30 ", 30)])
    func delaySeconds(_ header: String, _ seconds: Int64) {
        #expect(RetryAfter.parse(header, now: now) == .seconds(seconds))
    }

    @Test(arguments: ["Sun, 06 Nov 1994 08:51:37 GMT", "Sunday, 06-Nov-94 08:51:37 GMT", "Sun Nov  6 08:51:37 1994"])
    func httpDatesInEveryForm(_ header: String) {
        #expect(RetryAfter.parse(header, now: now) == .seconds(120))
    }

    @Test func aDateInThePastMeansNoDelay() {
        #expect(RetryAfter.parse("Sat, 05 Nov 1994 08:49:37 GMT", now: now) == .seconds(0))
    }

    @Test(arguments: ["", "-5", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 CET"])
    func malformedValuesAreIgnored(_ header: String) {
        #expect(RetryAfter.parse(header, now: now) == nil)
    }

    @Test func anEnormousDelayStaysAFiniteDuration() throws {
        let delay = try #require(RetryAfter.parse("99999999999999999999999", now: now))
        #expect(delay > .seconds(86_400))
    }
}
