import Foundation
import Synchronization

/// The outbox's claim and record turns, written once over any store's row verbs.
///
/// A store opens the transaction and moves rows; every decision — which hook's rows to read, which
/// of them to take (``ClaimPolicy``), each delivery's next state (``DeliveryLifecycle``), what a
/// batch of attempts does to its hook (``HookHealth``), and what to do when a row is refused — is
/// made here, the same for SQLite, PostgreSQL and any backend to come. A store's verbs
/// (``DeliveryStore/claim(_:)`` and ``DeliveryStore/record(_:attempts:thenClaim:)``) take a
/// ``ClaimTurn`` or a ``RecordTurn`` and ask it, as `DocumentStore.writeDocuments(_:)` asks its
/// writes for their next revisions inside the store's transaction.
public struct DeliveryQueue: Sendable {
    public let store: any DeliveryStore
    public let health: HookHealth

    public init(store: any DeliveryStore, health: HookHealth) {
        self.store = store
        self.health = health
    }

    /// Claims due deliveries as `policy` decides.
    public func claim(now: Date, policy: ClaimPolicy) async throws -> [ClaimedDelivery] {
        guard policy.limit > 0 else { return [] }
        return try await store.claim(ClaimTurn(policy: policy, now: now))
    }

    /// Records finished attempts, their deliveries' new states and what they do to their hooks.
    /// A result that cannot be recorded for good (its delivery was deleted with its hook, or a
    /// row breaks a rule) is skipped and reported, never allowed to block the others.
    @discardableResult public func record(_ results: [AttemptResult]) async throws -> [DiscardedResult] {
        try await recordAndClaim(results, claim: nil).discarded
    }

    /// Records finished attempts, then claims due deliveries: in one transaction where the store
    /// can (the engine's hot path).
    public func recordAndClaim(_ results: [AttemptResult], now: Date, policy: ClaimPolicy) async throws -> ClaimBatch {
        try await recordAndClaim(results, claim: policy.limit > 0 ? ClaimTurn(policy: policy, now: now) : nil)
    }

    private func recordAndClaim(_ results: [AttemptResult], claim: ClaimTurn?) async throws -> ClaimBatch {
        var batch: ClaimBatch
        if let claim, !results.isEmpty, store.claimsBesideRecords, Self.claimMayRunBeside(results) {
            batch = try await recordBeside(results, claim: claim)
        } else {
            batch = try await recordThenClaim(results, claim: claim)
        }
        batch.heldUntil = claim?.report.heldUntil
        return batch
    }

    /// Whether a claim may run beside recording `results`, not after it: when what the record
    /// changes for the claim is only the slots it frees. An ordered hook's next delivery, what a
    /// breaker's probe decides, an HTTP Sync hook's next page and a failure's effect on its hook (an
    /// open breaker, a disabled hook) are for a claim after the record to see.
    public static func claimMayRunBeside(_ results: [AttemptResult]) -> Bool {
        results.allSatisfy { $0.succeeded && !$0.holdsItsHook && $0.syncThrough == nil }
    }

    /// The record and the claim at once, each in its own transaction, on a store whose claims run on
    /// connections of their own (``DeliveryStore/claimsBesideRecords``): a turn takes as long as the
    /// longer of the two, not both.
    ///
    /// The claim may read before the record commits and so count the deliveries being recorded as
    /// still in flight: it takes no more than every cap allows, at worst less for a hook at its cap,
    /// and the record's commit signals the engine, which claims what that held back on its next
    /// turn. What one of the two did is kept when the other fails: a failed record leaves its results
    /// with the engine to record again (``ClaimBatch/recordFailure``) while the deliveries claimed
    /// beside it are sent; a failed claim changed nothing (``ClaimBatch/claimFailure``).
    private func recordBeside(_ results: [AttemptResult], claim: ClaimTurn) async throws -> ClaimBatch {
        async let claiming = Self.outcome { [store] in try await store.claim(claim) }
        let recording = await Self.outcome { try await recordThenClaim(results, claim: nil) }
        switch (recording, await claiming) {
        case (.success(var batch), .success(let claimed)):
            batch.claimed = claimed
            return batch
        case (.success(var batch), .failure(let error)):
            batch.claimFailure = String(reflecting: error)
            return batch
        case (.failure(let error), .success(let claimed)):
            var batch = ClaimBatch(claimed: claimed)
            batch.recordFailure = String(reflecting: error)
            return batch
        case (.failure(let error), .failure):
            throw error
        }
    }

    private static func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    private func recordThenClaim(_ results: [AttemptResult], claim: ClaimTurn?) async throws -> ClaimBatch {
        guard !results.isEmpty else { return ClaimBatch(claimed: try await claim.asyncMap { try await store.claim($0) } ?? []) }
        do {
            let turn = try await store.record(RecordTurn(results: results, health: health), attempts: true, thenClaim: claim)
            return ClaimBatch(claimed: turn.claimed, discarded: Self.gone(results, recorded: turn.recorded))
        } catch StoreError.refused {
            // A row broke a rule and nothing was written: each result on its own, so that row is
            // skipped alone and the others are kept.
            var discarded: [DiscardedResult] = []
            for result in results {
                do {
                    let turn = try await store.record(RecordTurn(results: [result], health: health), attempts: true, thenClaim: nil)
                    discarded += Self.gone([result], recorded: turn.recorded)
                } catch StoreError.refused(let reason) {
                    // The attempt row is refused: the delivery still moves on (retry, success,
                    // failure) without it, so it neither stays in flight nor blocks an ordered hook.
                    // Any other failure is the engine's to try again: what is recorded stays
                    // recorded once (a store records a delivery only while it is in flight).
                    let moved: Bool
                    do {
                        _ = try await store.record(RecordTurn(results: [result], health: health), attempts: false, thenClaim: nil)
                        moved = true
                    } catch StoreError.refused {
                        moved = false
                    }
                    discarded.append(
                        DiscardedResult(deliveryID: result.attempt.deliveryID, reason: reason + (moved ? "; the delivery moved on without this attempt in its log" : ""))
                    )
                }
            }
            return ClaimBatch(claimed: try await claim.asyncMap { try await store.claim($0) } ?? [], discarded: discarded)
        }
    }

    /// The results whose delivery was not there to record.
    private static func gone(_ results: [AttemptResult], recorded: Set<String>) -> [DiscardedResult] {
        results.filter { !recorded.contains($0.attempt.deliveryID) }.map {
            DiscardedResult(deliveryID: $0.attempt.deliveryID, reason: "the delivery is no longer in flight (deleted with its hook, or given back to the queue)")
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// A pending delivery as a claim reads it.
public struct DueDelivery: Sendable, Hashable {
    /// The store's key for the row.
    public var key: Int64
    public var deliveryID: String
    public var hookID: Int64
    public var eventSeq: Int64
    public var stored: StoredLifecycle
    /// Attempts made before, across redeliveries.
    public var totalAttempts: Int
    /// An HTTP Sync page's end, for a page's delivery.
    public var syncThrough: Int64?

    public init(key: Int64, deliveryID: String, hookID: Int64, eventSeq: Int64, stored: StoredLifecycle, totalAttempts: Int, syncThrough: Int64?) {
        self.key = key
        self.deliveryID = deliveryID
        self.hookID = hookID
        self.eventSeq = eventSeq
        self.stored = stored
        self.totalAttempts = totalAttempts
        self.syncThrough = syncThrough
    }
}

/// A claimed row's new state, for the store to save.
public struct ClaimMark: Sendable, Hashable {
    public var key: Int64
    public var status: DeliveryStatus
    public var nextAttemptAt: Date?
    /// When the attempt is over at the latest (its hook's timeout): a store shared by many nodes
    /// gives the row back past this (plus a margin), should its node stop answering.
    public var attemptEndsBy: Date
}

/// One claim, as a store carries it out inside its transaction:
/// 1. read the ids of the hooks with pending deliveries and their open circuit breakers
///    (``setCircuits(_:among:)``), and, with many nodes, lock their ``teams(of:hooks:)`` and
///    ``countInFlight(_:)`` what every node has in flight; the rate-limited ones' slots
///    (``setRates(_:of:hooks:)``);
/// 2. for each hook, read what ``read(for:)`` asks (nothing when it answers nil);
/// 3. read the events of the rows ``choose(_:)`` picks and save the marks ``claim(_:hooks:events:)`` makes.
public struct ClaimTurn: Sendable {
    public private(set) var policy: ClaimPolicy
    /// The instant the claim is made at, as stores keep it (seconds since 1970): SQL and the
    /// lifecycle compare due times with this one, and a due time read back from a row must not be
    /// an ulp later than the `now` it was written with.
    public let now: Date
    /// What the claim learnt beside the rows it took (work held by a rate limit), for the engine.
    public let report = ClaimReport()

    public init(policy: ClaimPolicy, now: Date) {
        self.policy = policy
        self.now = Date(timeIntervalSince1970: now.timeIntervalSince1970)
    }

    /// The teams of `hookIDs`, ascending: a store shared by many nodes lets one claimer per team
    /// at a time, taking their locks in this order so that two claimers never wait for each other.
    public func teams(of hookIDs: [Int64], hooks: [Int64: Hook]) -> [Int64] {
        Set(hookIDs.compactMap { hooks[$0]?.teamID }).sorted()
    }

    /// Deliveries in flight on every node, by hook and team (a store shared by many nodes reads
    /// them under its team locks): the caps hold across nodes.
    public mutating func countInFlight(_ rows: [(hookID: Int64, teamID: Int64, count: Int)]) {
        var teamTotals: [Int64: Int] = [:]
        for row in rows {
            policy.inFlightByHook[row.hookID] = max(policy.inFlightByHook[row.hookID] ?? 0, row.count)
            teamTotals[row.teamID, default: 0] += row.count
        }
        for (teamID, total) in teamTotals { policy.inFlightByTeam[teamID] = max(policy.inFlightByTeam[teamID] ?? 0, total) }
    }

    /// The rate-limited hooks among `hookIDs`: a store reads their stored next slots
    /// (``rateLimited(_:hooks:)``) and hands them to ``setRates(_:of:hooks:)`` before it reads rows.
    public func rateLimited(_ hookIDs: [Int64], hooks: [Int64: Hook]) -> [Int64] {
        hookIDs.filter { hooks[$0]?.policy.rateLimitPerSecond != nil }
    }

    /// The rate-limited hooks' slots for this claim, from their stored next slots (none stored:
    /// from now). A rate-limited hook whose slots were not set is not claimed from.
    public mutating func setRates(_ stored: [Int64: Date], of limited: [Int64], hooks: [Int64: Hook]) {
        for id in limited {
            guard let limit = hooks[id]?.policy.rateLimitPerSecond else { continue }
            policy.rates[id] = RateSlots(limitPerSecond: limit, storedNext: stored[id], now: now)
        }
    }

    /// The open circuit breakers (hook → open until) among the hooks with pending deliveries: a
    /// hook still open is paused (and the engine comes back when it half-opens), one past its time
    /// gets one probe.
    public mutating func setCircuits(_ openUntil: [Int64: Date], among hookIDs: [Int64]) {
        for id in hookIDs {
            guard let until = openUntil[id] else { continue }
            if until > now {
                policy.paused.insert(id)
                report.held(until: until)
            } else {
                policy.probing.insert(id)
            }
        }
    }

    /// What to read for the hook (nil: nothing), as ``ClaimPolicy/read(for:)`` decides.
    public func read(for hook: Hook?) -> ClaimPolicy.Read? {
        guard let hook, hook.policy.rateLimitPerSecond == nil || policy.rates[hook.id] != nil else { return nil }
        return policy.read(for: hook)
    }

    /// The rows to take, hooks taking turns (``ClaimPolicy/choose(from:now:)``).
    public func choose(_ rows: [DueDelivery], hooks: [Int64: Hook]) -> [DueDelivery] {
        let byKey = Dictionary(rows.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let candidates = rows.compactMap { row -> ClaimCandidate? in
            guard let hook = hooks[row.hookID] else { return nil }
            return ClaimCandidate(
                key: row.key, deliveryID: row.deliveryID, hookID: row.hookID, teamID: hook.teamID, eventSeq: row.eventSeq, lifecycle: row.stored.lifecycle,
                previousAttempts: row.totalAttempts, ordered: hook.ordering == .ordered, maxInFlight: hook.maxInFlight
            )
        }
        let chosen = policy.choose(from: candidates, now: now)
        report.held(until: policy.heldUntil(candidates: candidates, chosen: chosen, now: now))
        return chosen.compactMap { byKey[$0.key] }
    }

    /// Where each rate-limited hook's next slot is after `claimed` (the rows ``claim(_:hooks:events:)``
    /// made), for the store to save in the claim's transaction.
    public func rateMarks(_ claimed: [(mark: ClaimMark, delivery: ClaimedDelivery)]) -> [(hookID: Int64, nextAt: Date)] {
        var taken: [Int64: Int] = [:]
        for (_, delivery) in claimed where policy.rates[delivery.hook.id] != nil { taken[delivery.hook.id, default: 0] += 1 }
        return taken.keys.sorted().map { ($0, policy.rates[$0]!.slot(taken[$0]!)) }
    }

    /// Each chosen row taken for an attempt (``DeliveryLifecycle/claim(now:)``): the mark to save
    /// and the delivery to send. A row whose hook or event is gone, or that is no longer due, is left.
    /// A rate-limited hook's rows get its slots in order, each as the time its attempt starts.
    public func claim(_ chosen: [DueDelivery], hooks: [Int64: Hook], events: [Int64: Event]) -> [(mark: ClaimMark, delivery: ClaimedDelivery)] {
        var slotsTaken: [Int64: Int] = [:]
        return chosen.compactMap { row in
            guard let hook = hooks[row.hookID], let event = events[row.eventSeq] else { return nil }
            var lifecycle = row.stored.lifecycle
            guard case .send(let trigger) = lifecycle.claim(now: now) else { return nil }
            var notBefore: Date?
            if let slots = policy.rates[hook.id] {
                notBefore = slots.slot(slotsTaken[hook.id, default: 0])
                slotsTaken[hook.id, default: 0] += 1
            }
            return (
                ClaimMark(
                    key: row.key, status: lifecycle.status, nextAttemptAt: lifecycle.nextAttemptAt,
                    attemptEndsBy: now.addingTimeInterval(Double(hook.timeoutSeconds))
                ),
                ClaimedDelivery(
                    deliveryID: row.deliveryID, hook: hook, event: event, lifecycle: lifecycle, trigger: trigger, previousAttempts: row.totalAttempts,
                    syncThrough: row.syncThrough, notBefore: notBefore, probe: policy.probing.contains(hook.id)
                )
            )
        }
    }
}

/// What a claim learnt beside the rows it took, kept by reference so the turn a store was handed
/// can tell its caller.
public final class ClaimReport: Sendable {
    private let earliest = Mutex<Date?>(nil)

    public init() {}

    /// The earliest time a rate-limited hook with due work held back can be claimed from again.
    public var heldUntil: Date? { earliest.withLock { $0 } }

    func held(until date: Date?) {
        guard let date else { return }
        earliest.withLock { $0 = min($0 ?? date, date) }
    }
}

/// A batch of finished attempts, as a store records it inside its transaction: for each result,
/// its delivery's new state (``AttemptResult/lifecycle``), its attempt, and the ``syncCursorMove(for:)``
/// it makes; then, for each hook with recorded results (``hookIDs``, in that order), the
/// ``change(forHook:recorded:stored:)`` to save, from its health as stored.
public struct RecordTurn: Sendable {
    public let results: [AttemptResult]
    public let health: HookHealth
    /// Each hook's results, oldest first.
    private let byHook: [Int64: [AttemptResult]]

    public init(results: [AttemptResult], health: HookHealth) {
        self.results = results
        self.health = health
        byHook = Dictionary(grouping: results, by: \.hookID)
    }

    /// The hooks of the results, ascending: a store shared by many nodes locks their rows in this
    /// order (health, sync cursors), so two records never wait for each other in a cycle.
    public var hookIDs: [Int64] { byHook.keys.sorted() }

    /// An HTTP Sync page acknowledged: its hook's cursor moves past it (never back), in the same transaction.
    public func syncCursorMove(for result: AttemptResult) -> (through: Int64, at: Date)? {
        guard result.succeeded, let through = result.syncThrough else { return nil }
        return (through, result.attempt.finishedAt)
    }

    /// What the hook's recorded results do to it (``HookHealth/update(after:failingSince:)``, by the
    /// hook's own rule where it has one): its `last_response`, its failure run, and whether it is
    /// disabled now. Nil when they leave its row as `stored` holds it — a healthy hook's successes,
    /// turn after turn — so no store writes (or, shared by nodes, locks) that row for nothing.
    public func change(forHook hookID: Int64, recorded: Set<String>, stored: HookHealth.Stored) -> HookHealth.Update? {
        let results = (byHook[hookID] ?? []).filter { recorded.contains($0.attempt.deliveryID) }
        guard let update = (results.last?.hookHealth ?? health).update(after: results, failingSince: stored.failingSince, circuit: stored.circuit),
            !update.changesNothing(stored)
        else { return nil }
        return update
    }

    /// Whether the recorded results may have made work due for another node: a retry, an ordered
    /// hook's next delivery (anything that left flight).
    public var freesWork: Bool { results.contains { $0.lifecycle.status != .inFlight } }
}

/// What ``DeliveryStore/record(_:attempts:thenClaim:)`` did.
public struct RecordedTurn: Sendable, Hashable {
    /// The deliveries recorded (one deleted with its hook while in flight is not).
    public var recorded: Set<String>
    public var claimed: [ClaimedDelivery]

    public init(recorded: Set<String>, claimed: [ClaimedDelivery]) {
        self.recorded = recorded
        self.claimed = claimed
    }
}

/// A delivery to insert, in its stored form: the lifecycle it starts with is decided here, once,
/// for fan-out, replays, pings and HTTP Sync pages alike.
public struct NewDelivery: Sendable, Hashable {
    public let id: String
    public let hookID: Int64
    public let teamID: Int64
    public let eventSeq: Int64
    public let stored: StoredLifecycle
    public let note: String?
    public let syncThrough: Int64?

    init(hookID: Int64, teamID: Int64, eventSeq: Int64, lifecycle: DeliveryLifecycle, note: String? = nil, syncThrough: Int64? = nil) {
        id = Identifier.deliveryID()
        self.hookID = hookID
        self.teamID = teamID
        self.eventSeq = eventSeq
        stored = StoredLifecycle(lifecycle)
        self.note = note
        self.syncThrough = syncThrough
    }

    /// An event's delivery (fan-out, a replay): due now and retried on the schedule — or, with a
    /// `note` (a filter's verdict), stored as skipped.
    public static func event(hookID: Int64, teamID: Int64, eventSeq: Int64, note: String? = nil, now: Date) -> NewDelivery {
        NewDelivery(hookID: hookID, teamID: teamID, eventSeq: eventSeq, lifecycle: note == nil ? .new(now: now) : .skipped(), note: note)
    }

    /// A ping's delivery: one attempt, due now, never retried on the schedule.
    public static func ping(hookID: Int64, teamID: Int64, eventSeq: Int64, now: Date) -> NewDelivery {
        NewDelivery(hookID: hookID, teamID: teamID, eventSeq: eventSeq, lifecycle: PingPayload.lifecycle(now: now))
    }

    /// An HTTP Sync page's delivery, noted with its rows, moving its hook's cursor to `through` once it succeeds.
    public static func syncPage(hookID: Int64, teamID: Int64, eventSeq: Int64, through: Int64, note: String, now: Date) -> NewDelivery {
        NewDelivery(hookID: hookID, teamID: teamID, eventSeq: eventSeq, lifecycle: .new(now: now), note: note, syncThrough: through)
    }
}

extension FanOutPlan {
    /// The deliveries to store for the plan, as the active `hooks` — read in the committing
    /// transaction — still route them: a hook changed while its batch was being filtered loses
    /// what it no longer routes.
    public func newDeliveries(routedBy hooks: ActiveHooks, now: Date) -> [NewDelivery] {
        deliveries.filter { hooks.routes($0.event, toHook: $0.hookID) }.map { planned in
            .event(hookID: planned.hookID, teamID: planned.teamID, eventSeq: planned.eventSeq, note: planned.note, now: now)
        }
    }
}

/// A delivery's lifecycle as a store keeps it: the columns it reads and writes.
public struct StoredLifecycle: Sendable, Hashable {
    public var status: DeliveryStatus
    public var attemptsInRun: Int
    public var redelivery: Bool
    public var retries: Bool
    public var nextAttemptAt: Date?

    public init(status: DeliveryStatus, attemptsInRun: Int, redelivery: Bool, retries: Bool, nextAttemptAt: Date?) {
        self.status = status
        self.attemptsInRun = attemptsInRun
        self.redelivery = redelivery
        self.retries = retries
        self.nextAttemptAt = nextAttemptAt
    }

    init(_ lifecycle: DeliveryLifecycle) {
        self.init(
            status: lifecycle.status, attemptsInRun: lifecycle.attemptsInRun, redelivery: lifecycle.redelivery, retries: lifecycle.retries,
            nextAttemptAt: lifecycle.nextAttemptAt
        )
    }

    /// The state machine these columns stand for.
    public var lifecycle: DeliveryLifecycle {
        DeliveryLifecycle(status: status, attemptsInRun: attemptsInRun, redelivery: redelivery, retries: retries, nextAttemptAt: nextAttemptAt)
    }
}

/// Putting a stored delivery back in the queue, as its lifecycle allows: a store reads the row,
/// asks ``apply(to:now:)`` and saves what it answers (nil: leave the row as it is).
public enum Requeue: Sendable, Hashable {
    /// In flight when its process stopped (start-up, or a node whose lease ran out).
    case recover
    /// Sent again by hand: one attempt, no automatic retries.
    case redeliver
    /// Sent again by a replay: a fresh run, retried on the schedule.
    case replay

    public func apply(to stored: StoredLifecycle, now: Date) -> StoredLifecycle? {
        var lifecycle = stored.lifecycle
        let action =
            switch self {
            case .recover: lifecycle.recover(now: now)
            case .redeliver: lifecycle.redeliver(now: now)
            case .replay: lifecycle.replay(now: now)
            }
        guard case .requeue = action else { return nil }
        return StoredLifecycle(lifecycle)
    }
}
