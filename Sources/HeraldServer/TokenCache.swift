import Foundation
import HeraldCore
import Synchronization

/// Recently checked API tokens, so a provider emitting thousands of events a second does not read
/// the token table on every request. An entry lives `maxAge`; revoking a token through Herald
/// empties the cache at once, so a revoked token stops working on the next request.
final class TokenCache: Sendable {
    private let store: any TokenStore
    private let maxAge: Duration
    private let maxEntries: Int
    private let entries = Mutex<[String: (token: APIToken, loadedAt: ContinuousClock.Instant)]>([:])

    init(store: any TokenStore, maxAge: Duration = .seconds(2), maxEntries: Int = 10_000) {
        self.store = store
        self.maxAge = maxAge
        self.maxEntries = maxEntries
    }

    /// The token stored under `hash`, if any.
    func token(hash: String) async throws -> APIToken? {
        let now = ContinuousClock.now
        if let cached = entries.withLock({ $0[hash] }), now - cached.loadedAt < maxAge { return cached.token }
        guard let token = try await store.token(hash: hash) else { return nil }
        entries.withLock { entries in
            if entries.count >= maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[hash] = (token, now)
        }
        return token
    }

    func removeAll() {
        entries.withLock { $0.removeAll() }
    }
}
