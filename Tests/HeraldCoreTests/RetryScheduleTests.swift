import Foundation
import HeraldCore
import Testing

@Suite struct RetryScheduleTests {
    @Test func theDefaultScheduleIsEightAttempts() {
        let delays = RetrySchedule.default.delays.map { $0.components.seconds }
        #expect(delays == [5, 300, 1800, 7200, 18000, 36000, 36000])
        #expect(RetrySchedule.default.maxAttempts == 8)
    }

    @Test func jitterStaysWithinItsBand() {
        let schedule = RetrySchedule(delays: [.seconds(100)], jitter: 0.1)
        #expect(schedule.delay(afterAttempts: 1, unit: 0)!.seconds == 90)
        #expect(schedule.delay(afterAttempts: 1, unit: 0.5)!.seconds == 100)
        #expect(abs(schedule.delay(afterAttempts: 1, unit: 0.999_999)!.seconds - 110) < 0.001)
    }

    @Test func noDelayOnceAttemptsAreUsedUp() {
        let schedule = RetrySchedule(delays: [.seconds(1), .seconds(2)])
        #expect(schedule.delay(afterAttempts: 2, unit: 0.5) != nil)
        #expect(schedule.delay(afterAttempts: 3, unit: 0.5) == nil)
        #expect(schedule.delay(afterAttempts: 0, unit: 0.5) == nil)
    }

    @Test func parsesAScheduleWithUnits() {
        let schedule = RetrySchedule(parsing: "200ms, 5s,5m,2h")
        #expect(schedule?.delays == [.milliseconds(200), .seconds(5), .seconds(300), .seconds(7200)])
        #expect(RetrySchedule(parsing: "5 parsecs") == nil)
        #expect(RetrySchedule(parsing: "-5s") == nil)
    }
}
