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
///   a hook with a large backlog never pushes another hook's due delivery out of the batch.
public struct ClaimPolicy: Sendable, Hashable {
    /// Free slots: the most deliveries this claim may take.
    public var limit: Int
    public var perHook: Int
    public var perTeam: Int
    /// Deliveries already in flight, by hook and by team.
    public var inFlightByHook: [Int64: Int]
    public var inFlightByTeam: [Int64: Int]

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

    /// What to read for `hook`, or nil when nothing can be taken for it now.
    public func read(for hook: Hook) -> Read? {
        guard hook.active, limit > 0, (inFlightByTeam[hook.teamID] ?? 0) < perTeam else { return nil }
        let inFlight = inFlightByHook[hook.id] ?? 0
        switch hook.ordering {
        case .ordered:
            return inFlight == 0 ? .oldestUnfinished : nil
        case .none:
            let free = min(min(perHook, hook.maxInFlight ?? perHook) - inFlight, limit)
            return free > 0 ? .due(limit: free) : nil
        }
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
                guard byHook[hookID, default: 0] < (candidate.ordered ? 1 : min(perHook, candidate.maxInFlight ?? perHook)), byTeam[candidate.teamID, default: 0] < perTeam else { continue }
                byHook[hookID, default: 0] += 1
                byTeam[candidate.teamID, default: 0] += 1
                chosen.append(candidate)
                takenThisRound = true
            }
            round += 1
        }
        return chosen
    }
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
