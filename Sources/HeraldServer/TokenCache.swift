import Foundation
import HeraldCore
import Synchronization

/// Recently checked API tokens, so a provider emitting thousands of events a second does not read
/// the token table on every request. An entry lives `maxAge`; revoking a token through Herald
/// empties the cache at once, so a revoked token stops working on the next request. Loading a token
/// records when it was last used, to the minute.
final class TokenCache: Sendable {
    private let store: any TokenStore
    private let maxAge: Duration
    private let maxEntries: Int
    private let state = Mutex<State>(State())

    private struct State {
        var entries: [String: (token: APIToken, loadedAt: ContinuousClock.Instant)] = [:]
        /// Bumped by every revocation: a lookup that started before one does not fill the cache.
        var generation = 0
    }

    /// How stale a token's recorded last use may be.
    static let usePrecision: TimeInterval = 60

    init(store: any TokenStore, maxAge: Duration = .seconds(2), maxEntries: Int = 10_000) {
        self.store = store
        self.maxAge = maxAge
        self.maxEntries = maxEntries
    }

    /// The token stored under `hash`, if any.
    func token(hash: String) async throws -> APIToken? {
        let now = ContinuousClock.now
        let (cached, generation) = state.withLock { ($0.entries[hash], $0.generation) }
        if let cached, now - cached.loadedAt < maxAge { return cached.token }
        guard var token = try await store.token(hash: hash) else { return nil }
        // Last use to the minute, for the token lists: one write a minute per busy token, at most.
        let wallClock = Date()
        if token.lastUsedAt.map({ wallClock.timeIntervalSince($0) >= Self.usePrecision }) ?? true {
            // A store that cannot take the write (a full disk) must not refuse the request.
            try? await store.markTokenUsed(id: token.id, at: wallClock)
            token.lastUsedAt = wallClock
        }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= maxEntries { state.entries.removeAll(keepingCapacity: true) }
            state.entries[hash] = (token, now)
        }
        return token
    }

    func removeAll() {
        state.withLock { state in
            state.entries.removeAll()
            state.generation += 1
        }
    }
}
