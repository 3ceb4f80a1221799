import HeraldCore
import Synchronization

/// The latest committed `seq` and a way to wait for a later one: long changes feeds wake on
/// commit, never by polling.
final class CommitSignal: Sendable {
    private struct State {
        var seq: Int64 = 0
        var waiters: [Int: (after: Int64, rendezvous: Rendezvous<Void>)] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    /// The latest `seq` known committed.
    var latest: Int64 { state.withLock { $0.seq } }

    /// Call after a transaction that appended up to `seq` committed.
    func committed(_ seq: Int64) {
        let woken = state.withLock { state -> [Rendezvous<Void>] in
            state.seq = max(state.seq, seq)
            let due = state.waiters.filter { $0.value.after < state.seq }
            for id in due.keys { state.waiters[id] = nil }
            return due.map(\.value.rendezvous)
        }
        for rendezvous in woken { rendezvous.fulfil(()) }
    }

    /// Returns once a `seq` after `seq` has committed, after `timeout`, when `end` is set, or when
    /// the task is cancelled.
    func wait(after seq: Int64, timeout: Duration, end: FeedEnd? = nil) async {
        let rendezvous = Rendezvous<Void>()
        let id = state.withLock { state -> Int? in
            guard state.seq <= seq else { return nil }
            state.nextID += 1
            state.waiters[state.nextID] = (seq, rendezvous)
            return state.nextID
        }
        guard let id else { return }
        end?.onEnd { rendezvous.fulfil(()) }
        await rendezvous.wait(timeout: timeout, fallback: ())
        end?.onEnd(nil)
        _ = state.withLock { $0.waiters.removeValue(forKey: id) }
    }
}

/// Why a long feed stops before its timeout: its client's connection closed, or the server began
/// a graceful stop. A feed's wait (there is one at a time) ends at once when it is set, so a gone
/// client frees its slot and a stop is not held by a feed.
final class FeedEnd: Sendable {
    private let state = Mutex<(ended: Bool, wake: (@Sendable () -> Void)?)>((false, nil))

    var hasEnded: Bool { state.withLock { $0.ended } }

    func end() {
        let wake = state.withLock { state in
            state.ended = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?()
    }

    /// Calls `wake` when the feed ends (at once if it has); nil forgets the last one.
    func onEnd(_ wake: (@Sendable () -> Void)?) {
        let ended = state.withLock { state in
            if !state.ended { state.wake = wake }
            return state.ended
        }
        if ended { wake?() }
    }
}

/// How many long-lived feeds each token, and each team across its tokens, holds open at once, so
/// a flood of followers cannot exhaust the server (a team's members can mint many tokens).
final class FeedLimiter: Sendable {
    let perToken: Int
    let perTeam: Int
    private let open = Mutex<(tokens: [Int64: Int], teams: [Int64: Int])>(([:], [:]))

    init(perToken: Int, perTeam: Int = .max) {
        self.perToken = perToken
        self.perTeam = perTeam
    }

    /// Why a slot was refused.
    enum Refusal { case token, team }

    /// Takes a slot for `token` (of `team`); nil when taken, else which limit is reached.
    func acquire(_ token: Int64, team: Int64? = nil) -> Refusal? {
        open.withLock { open in
            guard open.tokens[token, default: 0] < perToken else { return .token }
            if let team {
                guard open.teams[team, default: 0] < perTeam else { return .team }
                open.teams[team, default: 0] += 1
            }
            open.tokens[token, default: 0] += 1
            return nil
        }
    }

    /// Feeds open across all tokens.
    var openFeeds: Int { open.withLock { $0.tokens.values.reduce(0, +) } }

    func release(_ token: Int64, team: Int64? = nil) {
        open.withLock { open in
            let left = (open.tokens[token] ?? 1) - 1
            open.tokens[token] = left > 0 ? left : nil
            if let team {
                let teamLeft = (open.teams[team] ?? 1) - 1
                open.teams[team] = teamLeft > 0 ? teamLeft : nil
            }
        }
    }
}

/// One long feed's hold on its token's ``FeedLimiter`` slot: released once, when the feed ends or
/// when its response is dropped without being sent.
final class FeedSlot: Sendable {
    private let limiter: FeedLimiter
    private let token: Int64
    private let team: Int64?
    private let released = Atomic<Bool>(false)

    /// Takes a slot, or throws what `refused` makes of the limit reached.
    init(_ limiter: FeedLimiter, token: Int64, team: Int64? = nil, refused: (FeedLimiter.Refusal) -> any Error) throws {
        if let refusal = limiter.acquire(token, team: team) { throw refused(refusal) }
        self.limiter = limiter
        self.token = token
        self.team = team
    }

    func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { limiter.release(token, team: team) }
    }

    deinit { release() }
}
