import HeraldCore
import Logging
import Synchronization

/// Runs the filters of a fan-out batch's hooks and notes each delivery a filter declines or cannot
/// decide, so it is stored as skipped ("filtered out", "filter error: …", "filter timed out") where
/// the hook's delivery log shows it.
///
/// Filters cost their own team, never another:
/// - calls are made in turns across teams (and the sandbox serves waiting teams in turn), so one
///   team's many filters do not queue another team's behind them;
/// - only a script's own run time counts against it — never the time it waited for a worker;
/// - a hook whose filter times out or runs out of memory ``trippedAfterFailures`` times in one batch,
///   or runs longer than ``budgetPerHook`` in it, is not run again for the rest of that batch, and a
///   team whose filters together run longer than ``budgetPerTeam`` has none run again in it (their
///   deliveries are noted at once). However many hooks a team has, its filters delay a batch by a
///   bounded time.
///
/// When no worker can run at all (the `herald-js` program is missing or cannot start), the batch
/// fails instead: nothing is stored, and fan-out tries the batch again, so no event is skipped
/// for want of a worker.
struct HookFilters: Sendable {
    let runner: ScriptRunner
    let logger: Logger

    static let trippedAfterFailures = 2
    static let budgetPerHook: Duration = .seconds(1)
    static let budgetPerTeam: Duration = .seconds(2)
    /// The note of deliveries whose filter was not run because its team's filters used up the batch's time.
    static let overTeamBudget = "filter not run: the team's filters used up their time in this fan-out batch"

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// What a batch's filters decided.
    struct Decision: Sendable {
        var planned: [PlannedDelivery]
        /// Hooks whose filter timed out or ran out of memory in this batch.
        var failing: Set<Int64>
        /// Hooks whose filter ran in this batch without failing.
        var healthy: Set<Int64>
    }

    func decide(_ planned: [PlannedDelivery]) async throws -> [PlannedDelivery] {
        try await decideBatch(planned).planned
    }

    func decideBatch(_ planned: [PlannedDelivery]) async throws -> Decision {
        let filtered = Self.inTurns(planned.indices.filter { planned[$0].hook.filter != nil }, team: { planned[$0].teamID })
        guard !filtered.isEmpty else { return Decision(planned: planned, failing: [], healthy: []) }
        let shared = Shared()
        await withDiscardingTaskGroup { group in
            for _ in 0..<min(filtered.count, max(1, runner.limits.workers)) {
                group.addTask {
                    while true {
                        let position = shared.next.add(1, ordering: .relaxed).oldValue
                        guard position < filtered.count else { return }
                        let index = filtered[position]
                        let delivery = planned[index]
                        if let tripped = shared.tripped(delivery) {
                            shared.notes.withLock { $0[index] = tripped }
                            continue
                        }
                        let run = await call(delivery)
                        if case .failure(.unavailable(let reason)) = run.result {
                            shared.unavailable.withLock { $0 = reason }
                            return
                        }
                        let verdict = FilterVerdict(run.result)
                        log(verdict, delivery)
                        if case .skip(let note) = verdict { shared.notes.withLock { $0[index] = note } }
                        shared.account(delivery, result: run.result, verdict: verdict, ran: run.ran)
                    }
                }
            }
        }
        if let reason = shared.unavailable.withLock({ $0 }) { throw Unavailable(description: reason) }
        var decided = planned
        for (index, note) in shared.notes.withLock({ $0 }) { decided[index].note = note }
        let spent = shared.spent.withLock { $0 }
        return Decision(
            planned: decided, failing: Set(spent.filter { $0.value.failures > 0 }.keys), healthy: Set(spent.filter { $0.value.failures == 0 }.keys)
        )
    }

    /// `indices` reordered so teams take turns: the first of each team, then the second of each, …
    /// (each team's own order kept).
    static func inTurns(_ indices: [Int], team: (Int) -> Int64) -> [Int] {
        var queues: [Int64: [Int]] = [:]
        var order: [Int64] = []
        for index in indices {
            let owner = team(index)
            if queues[owner] == nil { order.append(owner) }
            queues[owner, default: []].append(index)
        }
        guard order.count > 1 else { return indices }
        var result: [Int] = []
        result.reserveCapacity(indices.count)
        var round = 0
        while result.count < indices.count {
            for owner in order where round < queues[owner]!.count { result.append(queues[owner]![round]) }
            round += 1
        }
        return result
    }

    /// What the parallel calls of one batch share.
    private final class Shared: Sendable {
        let notes = Mutex<[Int: String]>([:])
        /// Per hook: failures (timeouts, memory) and run time in this batch.
        let spent = Mutex<[Int64: (failures: Int, time: Duration)]>([:])
        /// Per team: run time in this batch.
        let spentByTeam = Mutex<[Int64: Duration]>([:])
        /// Hooks and teams not run again in this batch, with the note their deliveries get.
        let trippedHooks = Mutex<[Int64: String]>([:])
        let trippedTeams = Mutex<Set<Int64>>([])
        let unavailable = Mutex<String?>(nil)
        let next = Atomic<Int>(0)

        func tripped(_ delivery: PlannedDelivery) -> String? {
            if let note = trippedHooks.withLock({ $0[delivery.hookID] }) { return note }
            return trippedTeams.withLock { $0.contains(delivery.teamID) } ? HookFilters.overTeamBudget : nil
        }

        func account(_ delivery: PlannedDelivery, result: ScriptResult, verdict: FilterVerdict, ran time: Duration) {
            let failed: Bool
            switch result {
            case .failure(.timedOut), .failure(.memory): failed = true
            default: failed = false
            }
            let total = spent.withLock { spent in
                var entry = spent[delivery.hookID] ?? (0, .zero)
                entry.failures += failed ? 1 : 0
                entry.time += time
                spent[delivery.hookID] = entry
                return entry
            }
            let teamTotal = spentByTeam.withLock { spent in
                spent[delivery.teamID, default: .zero] += time
                return spent[delivery.teamID]!
            }
            if teamTotal > HookFilters.budgetPerTeam { _ = trippedTeams.withLock { $0.insert(delivery.teamID) } }
            guard total.failures >= HookFilters.trippedAfterFailures || total.time > HookFilters.budgetPerHook else { return }
            let note: String
            if case .skip(let last) = verdict, failed {
                note = last
            } else {
                note = FilterVerdict.timedOut
            }
            trippedHooks.withLock { $0[delivery.hookID] = note }
        }
    }

    func call(_ delivery: PlannedDelivery) async -> ScriptRunner.Run {
        guard let source = delivery.hook.filter else { return ScriptRunner.Run(result: .success(ScriptValue(type: "boolean", json: "true")), ran: .zero) }
        let key = Hook.scriptKey(hookID: delivery.hookID, kind: "filter", source: source)
        return await runner.run(key: key, source: source, arguments: HookScripts.filterArguments(for: delivery.event), team: delivery.teamID)
    }

    func log(_ verdict: FilterVerdict, _ delivery: PlannedDelivery) {
        if case .skip(let note) = verdict, note != FilterVerdict.filteredOut {
            logger.notice("hook filter did not decide", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "outcome": "\(note)"])
        } else {
            logger.debug("hook filter decided", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "verdict": "\(verdict)"])
        }
    }
}
