import HeraldCore
import Logging
import Synchronization

/// Runs the filters of a fan-out batch's hooks and notes each delivery a filter declines or cannot
/// decide, so it is stored as skipped ("filtered out", "filter error: …", "filter timed out") where
/// the hook's delivery log shows it.
///
/// Calls run on the sandbox's workers in parallel. A hook whose filter times out
/// ``trippedAfterTimeouts`` times in one batch is not run again for the rest of that batch (its
/// deliveries are noted "filter timed out" at once), so one endless loop costs the batch a bounded
/// delay however many of its events match that hook.
struct HookFilters: Sendable {
    let runner: ScriptRunner
    let logger: Logger

    static let trippedAfterTimeouts = 2

    func decide(_ planned: [PlannedDelivery]) async -> [PlannedDelivery] {
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
                        if shared.timeouts.withLock({ $0[delivery.hookID, default: 0] }) >= Self.trippedAfterTimeouts {
                            shared.notes.withLock { $0[index] = FilterVerdict.timedOut }
                            continue
                        }
                        let verdict = await evaluate(delivery)
                        if case .skip(let note) = verdict {
                            shared.notes.withLock { $0[index] = note }
                            if note == FilterVerdict.timedOut { shared.timeouts.withLock { $0[delivery.hookID, default: 0] += 1 } }
                        }
                    }
                }
            }
        }
        var decided = planned
        for (index, note) in shared.notes.withLock({ $0 }) { decided[index].note = note }
        return decided
    }

    /// What the parallel calls of one batch share.
    private final class Shared: Sendable {
        let notes = Mutex<[Int: String]>([:])
        let timeouts = Mutex<[Int64: Int]>([:])
        let next = Atomic<Int>(0)
    }

    func evaluate(_ delivery: PlannedDelivery) async -> FilterVerdict {
        guard let source = delivery.hook.filter else { return .deliver }
        let key = Hook.scriptKey(hookID: delivery.hookID, kind: "filter", source: source)
        let verdict = Self.verdict(await runner.call(key: key, source: source, arguments: HookScripts.filterArguments(for: delivery.event)))
        if case .skip(let note) = verdict, note != FilterVerdict.filteredOut {
            logger.notice("hook filter did not decide", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "outcome": "\(note)"])
        } else {
            logger.debug("hook filter decided", metadata: ["hook": "\(delivery.hookID)", "event": "\(delivery.eventSeq)", "verdict": "\(verdict)"])
        }
        return verdict
    }

    static func verdict(_ result: ScriptResult) -> FilterVerdict {
        switch result {
        case .success(let value): HookScripts.verdict(type: value.type, json: value.json)
        case .failure(.timedOut): .skip(note: FilterVerdict.timedOut)
        case .failure(let failure): FilterVerdict.error(failure.description)
        }
    }
}
