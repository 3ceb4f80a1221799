import Foundation
import HeraldDelivery
import Synchronization
import Testing

/// The overview's rates: attempts per second over a window, from one-second buckets.
@Suite struct ThroughputWindowTests {
    final class FakeClock: Sendable {
        let now = Mutex<Double>(1_800_000_000)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
        var date: Date { Date(timeIntervalSince1970: now.withLock { $0 }) }
    }

    @Test func ratesCountFinishedSecondsWithinTheWindowOnly() {
        let clock = FakeClock()
        let window = ThroughputWindow(clock: { clock.date })
        for _ in 0..<30 { window.record(failed: false) }
        for _ in 0..<10 { window.record(failed: true) }
        // The current second is not counted yet.
        #expect(window.rates(over: 60).attemptsPerSecond == 0)
        clock.advance(1)
        #expect(window.rates(over: 60) == .init(attemptsPerSecond: 40.0 / 60, failuresPerSecond: 10.0 / 60))
        #expect(window.rates(over: 1) == .init(attemptsPerSecond: 40, failuresPerSecond: 10))
        // Past the minute, the minute forgets them; the hour does not.
        clock.advance(120)
        #expect(window.rates(over: 60).attemptsPerSecond == 0)
        #expect(window.rates(over: 3599).attemptsPerSecond == 40.0 / 3599)
        // An hour later their bucket is reused by a new second, not added to.
        clock.advance(3600)
        window.record(failed: true)
        clock.advance(1)
        #expect(window.rates(over: 3599) == .init(attemptsPerSecond: 1.0 / 3599, failuresPerSecond: 1.0 / 3599))
    }
}
