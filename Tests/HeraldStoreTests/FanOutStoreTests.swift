import Foundation
import HeraldCore
import Testing

/// Fan-out as two plain steps (read a batch, commit a plan), skipped deliveries, and the backlog
/// count, on every backend.
@Suite struct FanOutStoreTests {
    /// What the HTTP Sync loop lists its hooks from at every commit of events: the active hooks,
    /// as they are after every change to one (held by the store between changes).
    @Test(arguments: OutboxBackend.all)
    func theActiveHooksFollowEveryChangeToAHook(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        var push = try await store.makeHook(team: team)
        var paused = try await store.makeHook(team: team, active: false)
        #expect(try await store.activeHooks().byID.keys.sorted() == [push.id])
        // Asked again with nothing changed: the same hooks.
        #expect(try await store.activeHooks().byID.keys.sorted() == [push.id])
        var settings = HookSettings(url: "http://127.0.0.1:9/sync")
        settings.mode = .sync
        let sync = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: Data([1, 2, 3]), now: Date()).hook
        #expect(try await store.activeHooks().byID.mapValues(\.mode) == [push.id: .push, sync.id: .sync])
        paused.active = true
        paused = try await store.updateHook(paused, now: Date())
        push.active = false
        push.url = "http://127.0.0.1:9/moved"
        push = try await store.updateHook(push, now: Date())
        #expect(try await store.activeHooks().byID.keys.sorted() == [paused.id, sync.id])
        push.active = true
        _ = try await store.updateHook(push, now: Date())
        #expect(try await store.activeHooks().byID[push.id]?.url == "http://127.0.0.1:9/moved")
        #expect(try await store.deleteHook(id: sync.id))
        #expect(try await store.activeHooks().byID.keys.sorted() == [push.id, paused.id])
    }

    @Test(arguments: OutboxBackend.all)
    func aPlanIsStoredOnceWithItsSkippedDeliveriesAndTheCursorMovesWithIt(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let kept = try await store.makeHook(team: team, events: ["lead.created"])
        let gone = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.claimAll()  // the creation pings
        _ = try await store.emit()
        _ = try await store.emit()
        let batch = try await store.fanOutBatch(limit: 10)
        #expect(batch.events.count == 2)
        var planned = batch.route()
        #expect(planned.count == 4)
        // The first event is declined by `kept`'s filter; `gone` is deleted before the commit.
        planned[0].note = FilterVerdict.filteredOut
        #expect(try await store.deleteHook(id: gone.id))
        let plan = FanOutPlan(after: batch.after, through: batch.events.last!.seq, deliveries: planned)
        #expect(try await store.commitFanOut(plan, now: Date()) == 2)
        // The same plan again: the cursor has moved, nothing is stored twice.
        #expect(try await store.commitFanOut(plan, now: Date()) == nil)
        #expect(try await store.fanOutBatch(limit: 10).events.isEmpty)
        let skipped = try await store.deliveries(DeliveryQuery(hookID: kept.id, statuses: [.skipped]))
        #expect(skipped.map(\.note) == [FilterVerdict.filteredOut])
        #expect(skipped.map(\.eventSeq) == [batch.events[0].seq])
        // A skipped delivery is never claimed; the other one is.
        #expect(try await store.claimAll().map(\.event.seq) == [batch.events[1].seq])
        // Redelivered by hand, it is sent after all.
        #expect(try await store.redeliver(deliveryID: skipped[0].id, now: Date()))
        #expect(try await store.claimAll().map(\.trigger) == [.redelivery])
    }

    @Test(arguments: OutboxBackend.all)
    func theBacklogCountsUnfinishedDeliveriesAndEventsNotYetFannedOut(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let hook = try await store.makeHook(team: team, events: ["lead.created"])
        let pings = try await store.claimAll()
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 1)  // the ping, in flight
        _ = try await store.record([try result(for: pings[0], status: 200)], health: HookHealth())
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 0)
        _ = try await store.emit()
        _ = try await store.emit()
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 2)  // two events to fan out
        _ = try await store.fanOut(limit: 10, now: Date())
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 2)  // two pending deliveries
        #expect(try await store.unfinishedDeliveryCount(hookID: hook.id, limit: 10) == 2)
        #expect(try await store.unfinishedDeliveryCount(hookID: hook.id, limit: 1) == 1)
        let claimed = try await store.claimAll()
        _ = try await store.record(claimed.map { try result(for: $0, status: 200) }, health: HookHealth())
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 0)
        #expect(hook.managedKey == nil)
    }
}

extension FanOutStoreTests {
    @Test(arguments: OutboxBackend.all)
    func aHookChangedWhileItsBatchWasFilteredGetsOnlyWhatItStillRoutes(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let paused = try await store.makeHook(team: team, events: ["lead.created"])
        let moved = try await store.makeHook(team: team, events: ["lead.created"])
        let kept = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.claimAll()
        _ = try await store.emit()
        let batch = try await store.fanOutBatch(limit: 10)
        var off = paused
        off.active = false
        _ = try await store.updateHook(off, now: Date())
        var elsewhere = moved
        elsewhere.events = ["lead.updated"]
        _ = try await store.updateHook(elsewhere, now: Date())
        let plan = FanOutPlan(after: batch.after, through: batch.events.last!.seq, deliveries: batch.route())
        #expect(plan.deliveries.count == 3)
        #expect(try await store.commitFanOut(plan, now: Date()) == 1)
        #expect(try await store.deliveries(DeliveryQuery(statuses: [.pending])).map(\.hookID) == [kept.id])
    }

    @Test(arguments: OutboxBackend.all)
    func aDisabledHooksBacklogHoldsNobodyBack(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let hook = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.record(try await store.claimAll().map { try result(for: $0, status: 200) }, health: HookHealth())
        for _ in 0..<3 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 10, now: Date())
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 3)
        var off = hook
        off.active = false
        _ = try await store.updateHook(off, now: Date())
        #expect(try await store.backlog(now: Date(), perTeam: 1000) == 0)
    }
}

/// Replay jobs on every backend: steps that cannot repeat, failed-only, cancel.
@Suite struct ReplayStoreTests {
    @Test(arguments: OutboxBackend.all)
    func aStepIsTakenOnceAndOnlyFailedDeliveriesCanBeChosen(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let hook = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.record(try await store.claimAll().map { try result(for: $0, status: 200) }, health: HookHealth())
        let start = Date().addingTimeInterval(-5)
        let first = try await store.emit()
        let second = try await store.emit()
        _ = try await store.fanOut(limit: 10, now: Date())
        let claimed = try await store.claimAll()
        // The first fails for good (one-shot schedule), the second succeeds.
        _ = try await store.record(
            [
                try result(for: claimed.first { $0.event.seq == first.event.seq }!, status: 500, schedule: RetrySchedule(delays: [], jitter: 0)),
                try result(for: claimed.first { $0.event.seq == second.event.seq }!, status: 200),
            ],
            health: HookHealth()
        )
        let job = try await store.createReplayJob(hookID: hook.id, since: start, until: nil, onlyFailed: true, now: Date())
        #expect(job.state == .running)
        let events = try await store.replayEvents(for: job, limit: 100)
        #expect(events.map(\.seq) == [first.event.seq, second.event.seq])
        #expect(try await store.commitReplay(job, seqs: events.map(\.seq), through: events.last!.seq, now: Date()) == 1)
        // The same step again is refused: the cursor has moved.
        #expect(try await store.commitReplay(job, seqs: events.map(\.seq), through: events.last!.seq, now: Date()) == nil)
        let done = try #require(try await store.replayJob(id: job.id))
        #expect(done.state == .done && done.percent == 100 && done.queued == 1)
        #expect(try await store.claimAll().map(\.event.seq) == [first.event.seq])
    }

    @Test(arguments: OutboxBackend.all)
    func aCancelledJobTakesNoMoreSteps(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let hook = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.emit()
        let job = try await store.createReplayJob(hookID: hook.id, since: Date().addingTimeInterval(-5), until: nil, onlyFailed: false, now: Date())
        #expect(try await store.cancelReplayJob(id: job.id, now: Date()))
        #expect(try await store.commitReplay(job, seqs: [job.toSeq], through: job.toSeq, now: Date()) == nil)
        #expect(try await store.replayJob(id: job.id)?.state == .cancelled)
        #expect(try await store.replayJobs(state: .running).isEmpty)
        #expect(!(try await store.cancelReplayJob(id: job.id, now: Date())))
    }
}

/// Retention on every backend.
@Suite struct RetentionStoreTests {
    @Test(arguments: OutboxBackend.all)
    func pruningTakesFinishedWorkBeforeTheCutoffAndLeavesTheRest(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        _ = try await store.makeHook(team: team, events: ["lead.created"])
        _ = try await store.record(try await store.claimAll().map { try result(for: $0, status: 200) }, health: HookHealth())
        let delivered = try await store.emit()
        let failed = try await store.emit()
        _ = try await store.fanOut(limit: 10, now: Date())
        let claimed = try await store.claimAll()
        _ = try await store.record(
            [
                try result(for: claimed.first { $0.event.seq == delivered.event.seq }!, status: 200),
                try result(for: claimed.first { $0.event.seq == failed.event.seq }!, status: 500, schedule: RetrySchedule(delays: [], jitter: 0)),
            ],
            health: HookHealth()
        )
        let unrouted = try await store.emit("other.event")
        _ = try await store.fanOut(limit: 10, now: Date())
        let notFannedOut = try await store.emit()
        // Nothing is older than a cutoff in the past.
        #expect(try await store.prune(before: Date().addingTimeInterval(-3600), limit: 100) == PruneResult())
        let cutoff = Date().addingTimeInterval(60)
        var total = PruneResult()
        while true {
            let step = try await store.prune(before: cutoff, limit: 1)  // one row per part and step
            if step.total == 0 { break }
            total.attemptBodies += step.attemptBodies
            total.deliveries += step.deliveries
            total.events += step.events
        }
        #expect(total.deliveries == 2)  // the ping's and the succeeded one; the failed one stays
        #expect(total.attemptBodies >= 1)
        let left = try await store.deliveries(DeliveryQuery())
        #expect(left.map(\.eventSeq) == [failed.event.seq])
        #expect(try await store.attempts(deliveryID: left[0].id).first?.requestBody == "")
        // Events: the failed one's stays; the one never fanned out stays; the delivered and unrouted ones go.
        let events = try await store.events(since: 0, limit: 100).map(\.seq)
        #expect(events == [failed.event.seq, notFannedOut.event.seq])
        #expect(!events.contains(unrouted.event.seq))
    }
}
