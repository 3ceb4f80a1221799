import Foundation
import HeraldCore
import Logging
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
    private let logger: Logger
    /// Stored schemas this version cannot enforce, already reported (by type and schema text).
    private let reported = Mutex<Set<String>>([])

    init(store: any EventTypeStore, maxAge: Duration = .seconds(5), logger: Logger) {
        self.store = store
        self.maxAge = maxAge
        self.logger = logger
    }

    func entry(named name: String) async throws -> Entry? {
        try await entries()[name]
    }

    func entries() async throws -> [String: Entry] {
        if let cached = cache.withLock({ $0 }), ContinuousClock.now - cached.loadedAt < maxAge { return cached.entries }
        var entries: [String: Entry] = [:]
        for type in try await store.eventTypes() {
            var schema: JSONSchema?
            if let document = type.schema {
                do {
                    schema = try JSONSchema(document)
                } catch {
                    // Stored before this version refused what it cannot enforce: said loudly, once.
                    if reported.withLock({ $0.insert(type.name + "\u{0}" + document.jsonString).inserted }) {
                        logger.error(
                            "the schema of this event type cannot be enforced: its events are accepted unchecked until an admin replaces it",
                            metadata: ["event_type": "\(type.name)", "path": "\(error.path)", "problem": "\(error.message)"]
                        )
                    }
                }
            }
            entries[type.name] = Entry(type: type, schema: schema)
        }
        let loaded = entries
        cache.withLock { $0 = (loaded, ContinuousClock.now) }
        return entries
    }

    func invalidate() {
        cache.withLock { $0 = nil }
    }
}

extension EventTypeCatalog {
    /// An event type from its JSON (API body or the catalog form), validated: name, schema, and
    /// the example against the schema.
    static func parse(_ body: JSONValue, name pathName: String?) throws -> EventType {
        var reader = try FieldReader(body)
        reader.rejectUnknown(["name", "description", "schema", "example"])
        if pathName != nil, reader.value("name")?.isNull == true { reader.fail("name", "must be a string (or left out)") }
        let bodyName = reader.string("name", required: pathName == nil, maxLength: 128)
        if let pathName, let bodyName, bodyName != pathName { reader.fail("name", "must be the name in the path, \(pathName), when given") }
        let name = pathName ?? bodyName
        if let name, !EventType.isValidName(name) {
            reader.fail("name", "must be dot-separated lower-case words, like lead.created")
        }
        let description = reader.string("description", maxLength: 2000) ?? ""
        var schema: JSONSchema?
        if let document = reader.value("schema"), !document.isNull {
            do { schema = try JSONSchema(document) } catch { reader.fail("schema" + error.path, error.message) }
        }
        let example = reader.value("example").flatMap { $0.isNull ? nil : $0 }
        if let schema, let example, let violation = schema.firstViolation(of: example) {
            reader.fail("example" + violation.path, "does not match the schema: \(violation.message)")
        }
        try reader.check()
        return EventType(name: name!, description: description, schema: schema?.document, example: example)
    }
}
