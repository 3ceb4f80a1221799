import Foundation
import HeraldCore
import Synchronization

/// The event-type catalog with compiled schemas, cached for the ingest path. Changes made through
/// this process invalidate it at once; changes made elsewhere are picked up within `maxAge`.
final class EventTypeCatalog: Sendable {
    struct Entry: Sendable {
        var type: EventType
        var schema: JSONSchema?
    }

    private let store: any EventTypeStore
    private let maxAge: Duration
    private let cache = Mutex<(entries: [String: Entry], loadedAt: ContinuousClock.Instant)?>(nil)

    init(store: any EventTypeStore, maxAge: Duration = .seconds(5)) {
        self.store = store
        self.maxAge = maxAge
    }

    func entry(named name: String) async throws -> Entry? {
        try await entries()[name]
    }

    func entries() async throws -> [String: Entry] {
        if let cached = cache.withLock({ $0 }), ContinuousClock.now - cached.loadedAt < maxAge { return cached.entries }
        var entries: [String: Entry] = [:]
        for type in try await store.eventTypes() {
            entries[type.name] = Entry(type: type, schema: type.schema.flatMap { try? JSONSchema($0) })
        }
        let loaded = entries
        cache.withLock { $0 = (loaded, ContinuousClock.now) }
        return entries
    }

    func invalidate() {
        cache.withLock { $0 = nil }
    }
}
