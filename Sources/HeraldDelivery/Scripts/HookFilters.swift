import HeraldCore
import Logging
import Synchronization

/// Runs the filters of a fan-out batch's hooks and notes each delivery a filter declines or cannot
/// decide, so it is stored as skipped ("filtered out", "filter error: …", "filter timed out") where
/// the hook's delivery log shows it.
///
/// Calls run on the sandbox's workers in parallel. A hook whose filter times out or runs out of
/// memory ``trippedAfterFailures`` times in one batch, or spends more than ``budgetPerBatch`` in it,
/// is not run again for the rest of that batch (its deliveries are noted at once), so one runaway
/// filter costs the batch a bounded delay however many of its events match that hook.
///
/// When no worker can run at all (the `herald-js` program is missing or cannot start), the batch
/// fails instead: nothing is stored, and fan-out tries the batch again, so no event is skipped
/// for want of a worker.
struct HookFilters: Sendable {
    let runner: ScriptRunner
    let logger: Logger

    static let trippedAfterFailures = 2
    static let budgetPerBatch: Duration = .seconds(1)

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    func decide(_ planned: [PlannedDelivery]) async throws -> [PlannedDelivery] {
        let filtered = planned.indices.filter { planned[$0].hook.filter != nil }
        guard !filtered.isEmpty else { return planned }
        let shared = Shared()
        await withDiscardingTaskGroup { group in
            for _ in 0..<min(filtered.count, max(1, runner.limits.workers)) {
                group.addTask {
                    while true {
                        let position = shared.next.add(1, ordering: .relaxed).oldValue
                        guard position < filtered.count else { return }
                        let index = filtered[position]
                        let delivery = planned[index]
                        if let tripped = shared.tripped.withLock({ $0[delivery.hookID] }) {
                            shared.notes.withLock { $0[index] = tripped }
                            continue
                        }
                        let started = ContinuousClock.now
                        let result = await call(delivery)
                        let spent = ContinuousClock.now - started
                        if case .failure(.unavailable(let reason)) = result {
                            shared.unavailable.withLock { $0 = reason }
                            return
                        }
                        let verdict = FilterVerdict(result)
                        log(verdict, delivery)
                        if case .skip(let note) = verdict { shared.notes.withLock { $0[index] = note } }
                        shared.account(delivery.hookID, result: result, verdict: verdict, spent: spent)
                    }
                }
            }
        }
        if let reason = shared.unavailable.withLock({ $0 }) { throw Unavailable(description: reason) }
        var decided = planned
        for (index, note) in shared.notes.withLock({ $0 }) { decided[index].note = note }
        return decided
    }

    /// What the parallel calls of one batch share.
    private final class Shared: Sendable {
        let notes = Mutex<[Int: String]>([:])
        /// Per hook: failures (timeouts, memory) and time spent in this batch.
        let spent = Mutex<[Int64: (failures: Int, time: Duration)]>([:])
        /// Hooks not run again in this batch, with the note their deliveries get.
        let tripped = Mutex<[Int64: String]>([:])
        let unavailable = Mutex<String?>(nil)
        let next = Atomic<Int>(0)

        func account(_ hookID: Int64, result: ScriptResult, verdict: FilterVerdict, spent time: Duration) {
            let failed: Bool
            switch result {
            case .failure(.timedOut), .failure(.memory): failed = true
            default: failed = false
            }
            let total = spent.withLock { spent in
                var entry = spent[hookID] ?? (0, .zero)
                entry.failures += failed ? 1 : 0
                entry.time += time
                spent[hookID] = entry
                return entry
            }
            guard total.failures >= HookFilters.trippedAfterFailures || total.time > HookFilters.budgetPerBatch else { return }
            let note: String
            if case .skip(let last) = verdict, failed {
                note = last
            } else {
                note = FilterVerdict.timedOut
            }
            tripped.withLock { $0[hookID] = note }
        }
    }

    func call(_ delivery: PlannedDelivery) async -> ScriptResult {
        guard let source = delivery.hook.filter else { return .success(ScriptValue(type: "boolean", json: "true")) }
        let key = Hook.scriptKey(hookID: delivery.hookID, kind: "filter", source: source)
        return await runner.call(key: key, source: source, arguments: HookScripts.filterArguments(for: delivery.event))
    }

    func log(_ verdict: FilterVerdict, _ delivery: PlannedDelivery) {
        if case .skip(let note) = verdict, note != FilterVerdict.filteredOut {
            logger.notice("hook filter did not decide", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "outcome": "\(note)"])
        } else {
            logger.debug("hook filter decided", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "verdict": "\(verdict)"])
        }
    }
}
