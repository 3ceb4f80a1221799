import Foundation
import HeraldCore
import Testing

/// The claim turn's decisions, without a store: what a store reads and saves is asked of it.
@Suite struct ClaimTurnTests {
    let hooks: [Int64: Hook] = Dictionary(uniqueKeysWithValues: [ClaimPolicyTests().hook(1, ordering: .none), ClaimPolicyTests().hook(2, team: 2, ordering: .ordered)].map { ($0.id, $0) })

    func row(_ key: Int64, hook: Int64, dueAt: Date, status: DeliveryStatus = .pending, redelivery: Bool = false) -> DueDelivery {
        DueDelivery(
            key: key, deliveryID: "d\(key)", hookID: hook, eventSeq: key,
            stored: StoredLifecycle(status: status, attemptsInRun: 0, redelivery: redelivery, retries: true, nextAttemptAt: dueAt), totalAttempts: 3,
            syncThrough: key == 3 ? 40 : nil
        )
    }

    func event(_ seq: Int64) -> Event {
        Event(seq: seq, id: "evt_\(seq)", type: "lead.created", data: "{}", channels: [], idempotencyKey: nil, timestamp: Date())
    }

    /// A row written with `now` and read back is due at that `now`, however the conversion to the
    /// stored seconds rounds (the turn keeps `now` as stores do).
    @Test func aDeliveryWrittenWithNowIsDueAtThatNow() throws {
        // An instant whose seconds since 1970 do not convert back to the very same Date.
        let instant = try #require((0..<10_000).lazy.map { Date(timeIntervalSinceReferenceDate: 786_000_000.123_456 + Double($0) * 0.000_123_7) }
            .first { Date(timeIntervalSince1970: $0.timeIntervalSince1970) != $0 })
        let stored = Date(timeIntervalSince1970: instant.timeIntervalSince1970)
        let turn = ClaimTurn(policy: ClaimPolicy(limit: 10, perHook: 10, perTeam: 10), now: instant)
        #expect(turn.now == stored)
        #expect(turn.choose([row(1, hook: 1, dueAt: stored)], hooks: hooks).map(\.key) == [1])
    }

    @Test func chosenRowsAreMarkedInFlightWithWhatSendingNeeds() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var turn = ClaimTurn(policy: ClaimPolicy(limit: 10, perHook: 1, perTeam: 10), now: now)
        #expect(turn.read(for: hooks[1]) == .due(limit: 1))
        #expect(turn.read(for: hooks[2]) == .oldestUnfinished)
        #expect(turn.read(for: nil) == nil, "a hook no longer active is not read")
        // Another node has one in flight for hook 1: its cap is reached.
        turn.countInFlight([(hookID: 1, teamID: 1, count: 1)])
        #expect(turn.read(for: hooks[1]) == nil)
        turn = ClaimTurn(policy: ClaimPolicy(limit: 10, perHook: 1, perTeam: 10), now: now)
        let rows = [row(1, hook: 1, dueAt: now), row(2, hook: 1, dueAt: now), row(3, hook: 2, dueAt: now, redelivery: true), row(4, hook: 1, dueAt: now + 60)]
        let chosen = turn.choose(rows, hooks: hooks)
        #expect(chosen.map(\.key) == [1, 3], "one per hook (cap 1), none not yet due")
        let claims = turn.claim(chosen, hooks: hooks, events: [1: event(1)])
        #expect(claims.map(\.mark.key) == [1], "a row whose event is gone is left")
        let (mark, delivery) = (claims[0].mark, claims[0].delivery)
        #expect(mark.status == .inFlight && mark.attemptEndsBy == now + 10)
        #expect(delivery.deliveryID == "d1" && delivery.trigger == .first && delivery.previousAttempts == 3)
        let redelivered = turn.claim([rows[2]], hooks: hooks, events: [3: event(3)])
        #expect(redelivered.first?.delivery.trigger == .redelivery && redelivered.first?.delivery.syncThrough == 40)
    }
}

/// Putting stored deliveries back in the queue, decided once for every store.
@Suite struct RequeueTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func stored(_ status: DeliveryStatus, attempts: Int = 2) -> StoredLifecycle {
        StoredLifecycle(status: status, attemptsInRun: attempts, redelivery: false, retries: true, nextAttemptAt: status == .pending ? now : nil)
    }

    @Test func eachRequeueGoesWhereTheLifecycleAllows() throws {
        let recovered = try #require(Requeue.recover.apply(to: stored(.inFlight), now: now))
        #expect(recovered.status == .pending && recovered.nextAttemptAt == now && recovered.attemptsInRun == 2)
        #expect(Requeue.recover.apply(to: stored(.succeeded), now: now) == nil, "only what was in flight is recovered")
        let redelivered = try #require(Requeue.redeliver.apply(to: stored(.failed), now: now))
        #expect(redelivered.status == .pending && redelivered.redelivery && redelivered.nextAttemptAt == now)
        #expect(Requeue.redeliver.apply(to: stored(.inFlight), now: now) == nil, "in flight: being sent already")
        let replayed = try #require(Requeue.replay.apply(to: stored(.succeeded), now: now))
        #expect(replayed.status == .pending && !replayed.redelivery && replayed.attemptsInRun == 0 && replayed.retries)
        #expect(Requeue.replay.apply(to: stored(.inFlight), now: now) == nil)
    }
}
