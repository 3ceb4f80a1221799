import Foundation
import HeraldCore
import Testing

/// The delivery state machine, driven with fixed clocks and jitter: no sockets, no timers.
@Suite struct DeliveryLifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    let schedule = RetrySchedule(delays: [.seconds(5), .seconds(300)], jitter: 0)

    func inFlight(_ lifecycle: DeliveryLifecycle = .new(now: Date(timeIntervalSince1970: 1_700_000_000))) throws -> DeliveryLifecycle {
        var lifecycle = lifecycle
        try #require(lifecycle.claim(now: t0) == .send(.first))
        return lifecycle
    }

    @Test func aNewDeliveryIsPendingAndDue() {
        let lifecycle = DeliveryLifecycle.new(now: t0)
        #expect(lifecycle.status == .pending)
        #expect(lifecycle.isDue(at: t0))
        #expect(!lifecycle.isDue(at: t0 - 1))
    }

    @Test func claimingMarksItInFlightAsAFirstAttempt() throws {
        var lifecycle = DeliveryLifecycle.new(now: t0)
        #expect(lifecycle.claim(now: t0) == .send(.first))
        #expect(lifecycle.status == .inFlight)
        #expect(lifecycle.nextAttemptAt == nil)
    }

    @Test func aDeliveryCannotBeClaimedBeforeItIsDue() {
        var lifecycle = DeliveryLifecycle.new(now: t0 + 10)
        #expect(lifecycle.claim(now: t0) == .refuse(DeliveryTransitionError(from: .pending, event: "claim")))
        #expect(lifecycle.isDue(at: t0 + 10))
    }

    @Test func anInFlightDeliveryCannotBeClaimedTwice() throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.claim(now: t0) == .refuse(DeliveryTransitionError(from: .inFlight, event: "claim")))
    }

    @Test(arguments: [200, 201, 202, 204, 299])
    func any2xxSucceeds(_ status: Int) throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.finish(.response(status: status, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5) == .succeeded)
        #expect(lifecycle.status == .succeeded)
    }

    @Test(arguments: [301, 302, 307, 400, 404, 500])
    func otherStatusesScheduleARetry(_ status: Int) throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.finish(.response(status: status, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5) == .retry(at: t0 + 5))
        #expect(lifecycle.status == .pending && lifecycle.nextAttemptAt == t0 + 5)
        #expect(lifecycle.attemptsInRun == 1)
        #expect(lifecycle.claim(now: t0 + 5) == .send(.retry))
    }

    @Test(arguments: [ErrorClass.dns, .connect, .tls, .timeout, .refused, .other])
    func transportErrorsScheduleARetry(_ errorClass: ErrorClass) throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.finish(.error(errorClass, message: "x"), now: t0, schedule: schedule, jitterUnit: 0.5) == .retry(at: t0 + 5))
    }

    @Test func retriesFollowTheScheduleThenFail() throws {
        var lifecycle = try inFlight()
        var now = t0
        #expect(lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5) == .retry(at: now + 5))
        now = now + 5
        #expect(lifecycle.claim(now: now) == .send(.retry))
        #expect(lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5) == .retry(at: now + 300))
        now = now + 300
        #expect(lifecycle.claim(now: now) == .send(.retry))
        #expect(lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5) == .failed)
        #expect(lifecycle.status == .failed && lifecycle.nextAttemptAt == nil)
        #expect(lifecycle.attemptsInRun == schedule.maxAttempts)
    }

    @Test func goneFailsAndDisablesTheHook() throws {
        var lifecycle = try inFlight()
        let action = lifecycle.finish(.response(status: 410, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(action == .failAndDisableHook(reason: "The receiver answered 410 Gone."))
        #expect(lifecycle.status == .failed)
    }

    @Test(arguments: [429, 502, 503, 504])
    func retryAfterIsHonouredWhenLonger(_ status: Int) throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.finish(.response(status: status, retryAfter: .seconds(60)), now: t0, schedule: schedule, jitterUnit: 0.5) == .retry(at: t0 + 60))
    }

    @Test func retryAfterIsIgnoredOnOtherStatuses() throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.finish(.response(status: 500, retryAfter: .seconds(60)), now: t0, schedule: schedule, jitterUnit: 0.5) == .retry(at: t0 + 5))
    }

    @Test func retryAfterIsCappedAtADay() throws {
        var lifecycle = try inFlight()
        let action = lifecycle.finish(.response(status: 503, retryAfter: .seconds(10_000_000)), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(action == .retry(at: t0 + 86_400))
    }

    @Test func finishingADeliveryNotInFlightIsRefused() {
        var lifecycle = DeliveryLifecycle.new(now: t0)
        let action = lifecycle.finish(.response(status: 200, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(action == .refuse(DeliveryTransitionError(from: .pending, event: "finish")))
        #expect(lifecycle == .new(now: t0))
    }

    @Test func pingsAreNotRetried() throws {
        var lifecycle = DeliveryLifecycle.new(now: t0, retries: false)
        #expect(lifecycle.claim(now: t0) == .send(.ping))
        #expect(lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5) == .failed)
    }

    @Test(arguments: [DeliveryStatus.succeeded, .failed])
    func aFinishedDeliveryCanBeRedeliveredOnce(_ finalStatus: DeliveryStatus) throws {
        var lifecycle = try inFlight()
        _ = lifecycle.finish(.response(status: finalStatus == .succeeded ? 200 : 410, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(lifecycle.status == finalStatus)
        #expect(lifecycle.redeliver(now: t0 + 100) == .requeue(at: t0 + 100))
        #expect(lifecycle.status == .pending)
        #expect(lifecycle.redelivery)
        #expect(lifecycle.claim(now: t0 + 100) == .send(.redelivery))
        #expect(lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0 + 100, schedule: schedule, jitterUnit: 0.5) == .failed)
    }

    @Test func aPendingRetryCanBeRedeliveredAtOnce() throws {
        var lifecycle = try inFlight()
        _ = lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(lifecycle.redeliver(now: t0 + 1) == .requeue(at: t0 + 1))
        #expect(lifecycle.isDue(at: t0 + 1))
    }

    @Test func anInFlightDeliveryCannotBeRedelivered() throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.redeliver(now: t0) == .refuse(DeliveryTransitionError(from: .inFlight, event: "redeliver")))
        #expect(lifecycle.status == .inFlight)
    }

    @Test func recoveringAnInterruptedAttemptMakesItDueWithoutCountingIt() throws {
        var lifecycle = try inFlight()
        #expect(lifecycle.recover(now: t0 + 3) == .requeue(at: t0 + 3))
        #expect(lifecycle.status == .pending)
        #expect(lifecycle.attemptsInRun == 0)
        #expect(lifecycle.isDue(at: t0 + 3))
        #expect(lifecycle.claim(now: t0 + 3) == .send(.first))
    }

    @Test func onlyInFlightDeliveriesCanBeRecovered() {
        var lifecycle = DeliveryLifecycle.new(now: t0)
        #expect(lifecycle.recover(now: t0) == .refuse(DeliveryTransitionError(from: .pending, event: "recover")))
    }
}
