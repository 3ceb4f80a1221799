import Foundation
import HeraldCore
import Testing

/// The delivery state machine, driven with fixed clocks and jitter: no sockets, no timers.
@Suite struct DeliveryLifecycleTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    let schedule = RetrySchedule(delays: [.seconds(5), .seconds(300)], jitter: 0)

    func inFlight(_ lifecycle: DeliveryLifecycle = .new(now: Date(timeIntervalSince1970: 1_700_000_000))) throws -> DeliveryLifecycle {
        var lifecycle = lifecycle
        _ = try lifecycle.claim(now: t0)
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
        #expect(try lifecycle.claim(now: t0) == .first)
        #expect(lifecycle.status == .inFlight)
        #expect(lifecycle.nextAttemptAt == nil)
    }

    @Test func aDeliveryCannotBeClaimedBeforeItIsDue() {
        var lifecycle = DeliveryLifecycle.new(now: t0 + 10)
        #expect(throws: DeliveryTransitionError.self) { try lifecycle.claim(now: t0) }
    }

    @Test func anInFlightDeliveryCannotBeClaimedTwice() throws {
        var lifecycle = try inFlight()
        #expect(throws: DeliveryTransitionError(from: .inFlight, event: "claim")) { try lifecycle.claim(now: t0) }
    }

    @Test(arguments: [200, 201, 202, 204, 299])
    func any2xxSucceeds(_ status: Int) throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: status, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision == DeliveryDecision(status: .succeeded, nextAttemptAt: nil, disableHookReason: nil))
        #expect(lifecycle.status == .succeeded)
    }

    @Test(arguments: [301, 302, 307, 400, 404, 500])
    func otherStatusesScheduleARetry(_ status: Int) throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: status, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.status == .pending)
        #expect(decision.nextAttemptAt == t0 + 5)
        #expect(lifecycle.attemptsInRun == 1)
        #expect(try lifecycle.claim(now: t0 + 5) == .retry)
    }

    @Test(arguments: [ErrorClass.dns, .connect, .tls, .timeout, .refused, .other])
    func transportErrorsScheduleARetry(_ errorClass: ErrorClass) throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.error(errorClass, message: "x"), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.status == .pending)
    }

    @Test func retriesFollowTheScheduleThenFail() throws {
        var lifecycle = try inFlight()
        var now = t0
        var next = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5)
        #expect(next.nextAttemptAt == now + 5)
        now = next.nextAttemptAt!
        _ = try lifecycle.claim(now: now)
        next = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5)
        #expect(next.nextAttemptAt == now + 300)
        now = next.nextAttemptAt!
        _ = try lifecycle.claim(now: now)
        next = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: now, schedule: schedule, jitterUnit: 0.5)
        #expect(next == DeliveryDecision(status: .failed, nextAttemptAt: nil, disableHookReason: nil))
        #expect(lifecycle.attemptsInRun == schedule.maxAttempts)
    }

    @Test func goneFailsAndDisablesTheHook() throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: 410, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.status == .failed)
        #expect(decision.disableHookReason != nil)
    }

    @Test(arguments: [429, 502, 503, 504])
    func retryAfterIsHonouredWhenLonger(_ status: Int) throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: status, retryAfter: .seconds(60)), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.nextAttemptAt == t0 + 60)
    }

    @Test func retryAfterIsIgnoredOnOtherStatuses() throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: 500, retryAfter: .seconds(60)), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.nextAttemptAt == t0 + 5)
    }

    @Test func retryAfterIsCappedAtADay() throws {
        var lifecycle = try inFlight()
        let decision = try lifecycle.finish(.response(status: 503, retryAfter: .seconds(10_000_000)), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.nextAttemptAt == t0 + 86_400)
    }

    @Test func finishingADeliveryNotInFlightIsRefused() {
        var lifecycle = DeliveryLifecycle.new(now: t0)
        #expect(throws: DeliveryTransitionError.self) {
            try lifecycle.finish(.response(status: 200, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        }
    }

    @Test func pingsAreNotRetried() throws {
        var lifecycle = DeliveryLifecycle.new(now: t0, retries: false)
        #expect(try lifecycle.claim(now: t0) == .ping)
        let decision = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.status == .failed)
    }

    @Test(arguments: [DeliveryStatus.succeeded, .failed])
    func aFinishedDeliveryCanBeRedeliveredOnce(_ finalStatus: DeliveryStatus) throws {
        var lifecycle = try inFlight()
        _ = try lifecycle.finish(.response(status: finalStatus == .succeeded ? 200 : 410, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        try lifecycle.redeliver(now: t0 + 100)
        #expect(lifecycle.status == .pending)
        #expect(lifecycle.redelivery)
        #expect(try lifecycle.claim(now: t0 + 100) == .redelivery)
        let decision = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0 + 100, schedule: schedule, jitterUnit: 0.5)
        #expect(decision.status == .failed)
    }

    @Test func aPendingRetryCanBeRedeliveredAtOnce() throws {
        var lifecycle = try inFlight()
        _ = try lifecycle.finish(.response(status: 500, retryAfter: nil), now: t0, schedule: schedule, jitterUnit: 0.5)
        try lifecycle.redeliver(now: t0 + 1)
        #expect(lifecycle.isDue(at: t0 + 1))
    }

    @Test func anInFlightDeliveryCannotBeRedelivered() throws {
        var lifecycle = try inFlight()
        #expect(throws: DeliveryTransitionError(from: .inFlight, event: "redeliver")) { try lifecycle.redeliver(now: t0) }
    }

    @Test func recoveringAnInterruptedAttemptMakesItDueWithoutCountingIt() throws {
        var lifecycle = try inFlight()
        try lifecycle.recover(now: t0 + 3)
        #expect(lifecycle.status == .pending)
        #expect(lifecycle.attemptsInRun == 0)
        #expect(lifecycle.isDue(at: t0 + 3))
        #expect(try lifecycle.claim(now: t0 + 3) == .first)
    }

    @Test func onlyInFlightDeliveriesCanBeRecovered() {
        var lifecycle = DeliveryLifecycle.new(now: t0)
        #expect(throws: DeliveryTransitionError.self) { try lifecycle.recover(now: t0) }
    }
}
