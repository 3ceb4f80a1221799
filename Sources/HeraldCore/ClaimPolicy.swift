import Foundation

/// Decides which due deliveries the engine takes for attempts, fairly across hooks and teams.
///
/// A store carries the decision out in two plain steps: for each active hook with pending
/// deliveries it reads what ``read(for:)`` asks for, then it marks the deliveries ``choose(from:now:)``
/// returns in flight. The policy is the same for every backend:
/// - no more than ``limit`` deliveries in all (the engine's free slots);
/// - an unordered hook gets at most ``perHook`` in flight, counting those already in flight;
/// - a team gets at most ``perTeam`` in flight across its hooks, so one team's hanging receivers
///   cannot take every slot;
/// - an ordered hook offers only its oldest unfinished delivery, and only while none is in flight;
/// - hooks take turns: round by round, each hook with work (oldest due first) gets one delivery, so
///   a hook with a large backlog never pushes another hook's due delivery out of the batch;
/// - a hook with a rate limit gets no more than its ``rates`` allow: its attempts are given start
///   times spaced one interval apart, and what does not fit waits (held, never dropped);
/// - a hook whose circuit breaker is open gets nothing, and one probe at a time once it half-opens.
public struct ClaimPolicy: Sendable, Hashable {
    /// Free slots: the most deliveries this claim may take.
    public var limit: Int
    public var perHook: Int
    public var perTeam: Int
    /// Deliveries already in flight, by hook and by team.
    public var inFlightByHook: [Int64: Int]
    public var inFlightByTeam: [Int64: Int]
    /// The rate-limited hooks' slots, as read from the store for this claim.
    public var rates: [Int64: RateSlots] = [:]
    /// Hooks whose circuit breaker is open: nothing is taken for them.
    public var paused: Set<Int64> = []
    /// Hooks whose breaker lets one probe through: at most one attempt in flight.
    public var probing: Set<Int64> = []

    public init(limit: Int, perHook: Int, perTeam: Int, inFlightByHook: [Int64: Int] = [:], inFlightByTeam: [Int64: Int] = [:]) {
        self.limit = limit
        self.perHook = perHook
        self.perTeam = perTeam
        self.inFlightByHook = inFlightByHook
        self.inFlightByTeam = inFlightByTeam
    }

    /// What a store reads for one hook.
    public enum Read: Sendable, Hashable {
        /// Up to `limit` pending deliveries due by now, oldest due first (then by event `seq`).
        case due(limit: Int)
        /// The hook's oldest unfinished (pending or in-flight) delivery by event `seq`.
        case oldestUnfinished
    }

    /// What to read for `hook`, or nil when nothing can be taken for it now. A rate-limited hook is
    /// read one row past its slots, so the claim learns whether work is held.
    public func read(for hook: Hook) -> Read? {
        guard hook.active, limit > 0, (inFlightByTeam[hook.teamID] ?? 0) < perTeam, !paused.contains(hook.id) else { return nil }
        let inFlight = inFlightByHook[hook.id] ?? 0
        switch hook.ordering {
        case .ordered:
            return inFlight == 0 ? .oldestUnfinished : nil
        case .none:
            var free = min(min(perHook, probing.contains(hook.id) ? 1 : hook.maxInFlight ?? perHook) - inFlight, limit)
            if let slots = rates[hook.id] { free = min(free, slots.available + 1) }
            return free > 0 ? .due(limit: free) : nil
        }
    }

    /// The most this claim may take for `hookID` (its cap, and its rate slots if it has a limit).
    private func cap(for candidate: ClaimCandidate) -> Int {
        if paused.contains(candidate.hookID) { return 0 }
        let cap = candidate.ordered || probing.contains(candidate.hookID) ? 1 : min(perHook, candidate.maxInFlight ?? perHook)
        return rates[candidate.hookID].map { min(cap, (inFlightByHook[candidate.hookID] ?? 0) + $0.available) } ?? cap
    }

    /// Picks the deliveries to claim from what was read, hooks taking turns. `candidates` holds
    /// each hook's deliveries in the order read.
    public func choose(from candidates: [ClaimCandidate], now: Date) -> [ClaimCandidate] {
        var queues: [Int64: [ClaimCandidate]] = [:]
        var hookOrder: [Int64] = []
        for candidate in candidates where candidate.lifecycle.isDue(at: now) {
            if queues[candidate.hookID] == nil { hookOrder.append(candidate.hookID) }
            queues[candidate.hookID, default: []].append(candidate)
        }
        // The hook whose oldest delivery has waited longest goes first.
        hookOrder.sort { a, b in
            let (x, y) = (queues[a]![0], queues[b]![0])
            return (x.dueAt, x.hookID) < (y.dueAt, y.hookID)
        }
        var byHook = inFlightByHook
        var byTeam = inFlightByTeam
        var chosen: [ClaimCandidate] = []
        var round = 0
        var takenThisRound = true
        while chosen.count < limit && takenThisRound {
            takenThisRound = false
            for hookID in hookOrder where chosen.count < limit {
                guard let queue = queues[hookID], round < queue.count else { continue }
                let candidate = queue[round]
                guard byHook[hookID, default: 0] < cap(for: candidate), byTeam[candidate.teamID, default: 0] < perTeam else { continue }
                byHook[hookID, default: 0] += 1
                byTeam[candidate.teamID, default: 0] += 1
                chosen.append(candidate)
                takenThisRound = true
            }
            round += 1
        }
        return chosen
    }

    /// The rate-limited hooks that had due work this claim could not take for want of slots, and
    /// when their next slot opens (the engine claims again then).
    public func heldUntil(candidates: [ClaimCandidate], chosen: [ClaimCandidate], now: Date) -> Date? {
        guard !rates.isEmpty else { return nil }
        var due: [Int64: Int] = [:]
        for candidate in candidates where rates[candidate.hookID] != nil && candidate.lifecycle.isDue(at: now) { due[candidate.hookID, default: 0] += 1 }
        var taken: [Int64: Int] = [:]
        for candidate in chosen { taken[candidate.hookID, default: 0] += 1 }
        return due.compactMap { hookID, count in
            guard let slots = rates[hookID], count > taken[hookID] ?? 0, taken[hookID] ?? 0 >= slots.available else { return nil }
            return slots.opens(after: taken[hookID] ?? 0)
        }.min()
    }
}

/// A rate-limited hook's slots for one claim: attempts start one ``interval`` apart, the first no
/// earlier than ``start``; a claim takes the slots that begin within ``lookahead`` of its `now`, and
/// each attempt waits for its slot's time before it is sent. So no window of one second ever sees
/// more than the limit, on one node or many (the slots are kept in the store).
public struct RateSlots: Sendable, Hashable {
    /// When the hook's next attempt may start (its stored slot, or `now` if that has passed).
    public var start: Date
    public var interval: Double
    /// How many slots begin within the lookahead.
    public var available: Int

    /// How far ahead a claim takes slots: attempts wait at most this long in the engine.
    public static let lookahead = 0.1

    public init(limitPerSecond: Int, storedNext: Date?, now: Date) {
        interval = 1 / Double(max(1, limitPerSecond))
        start = max(storedNext ?? now, now)
        // A microsecond's tolerance: seconds since 1970 plus 0.1 is not exactly representable.
        let window = now.timeIntervalSince1970 + Self.lookahead - start.timeIntervalSince1970 + 1e-6
        available = window < 0 ? 0 : Int((window / interval).rounded(.down)) + 1
    }

    /// The start time of slot `index` (0 is ``start``).
    public func slot(_ index: Int) -> Date { start.addingTimeInterval(Double(index) * interval) }

    /// When a claim can next take a slot, once `taken` slots are used.
    public func opens(after taken: Int) -> Date { slot(taken).addingTimeInterval(-Self.lookahead) }
}

/// A delivery a store read as a claim candidate.
public struct ClaimCandidate: Sendable, Hashable {
    /// The store's key for the row.
    public var key: Int64
    public var deliveryID: String
    public var hookID: Int64
    public var teamID: Int64
    public var eventSeq: Int64
    public var lifecycle: DeliveryLifecycle
    /// Attempts made before, across redeliveries.
    public var previousAttempts: Int
    /// Whether its hook is ordered.
    public var ordered: Bool
    /// Its hook's own cap on attempts in flight, if lower than the engine's.
    public var maxInFlight: Int?

    public init(
        key: Int64, deliveryID: String, hookID: Int64, teamID: Int64, eventSeq: Int64, lifecycle: DeliveryLifecycle, previousAttempts: Int, ordered: Bool,
        maxInFlight: Int? = nil
    ) {
        self.maxInFlight = maxInFlight
        self.key = key
        self.deliveryID = deliveryID
        self.hookID = hookID
        self.teamID = teamID
        self.eventSeq = eventSeq
        self.lifecycle = lifecycle
        self.previousAttempts = previousAttempts
        self.ordered = ordered
    }

    var dueAt: Double { lifecycle.nextAttemptAt?.timeIntervalSince1970 ?? 0 }
}
