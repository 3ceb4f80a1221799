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
        /// The compiled schema of each version that has one.
        var versionSchemas: [Int: JSONSchema] = [:]

        /// The schema events of this type at `version` are checked against.
        func schema(version: Int?) -> JSONSchema? {
            guard let version else { return schema }
            return versionSchemas[version]
        }
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
            var entry = Entry(type: type, schema: type.schema.flatMap { compile($0, of: type.name) })
            for version in type.versions {
                entry.versionSchemas[version.number] = version.schema.flatMap { compile($0, of: "\(type.name) version \(version.number)") }
            }
            entries[type.name] = entry
        }
        let loaded = entries
        cache.withLock { $0 = (loaded, ContinuousClock.now) }
        return entries
    }

    /// A stored schema, compiled; nil (said loudly, once) when it cannot be enforced: stored before
    /// this version refused what it cannot enforce.
    private func compile(_ document: JSONValue, of name: String) -> JSONSchema? {
        do {
            return try JSONSchema(document)
        } catch {
            if reported.withLock({ $0.insert(name + "\u{0}" + document.jsonString).inserted }) {
                logger.error(
                    "the schema of this event type cannot be enforced: its events are accepted unchecked until an admin replaces it",
                    metadata: ["event_type": "\(name)", "path": "\(error.path)", "problem": "\(error.message)"]
                )
            }
            return nil
        }
    }

    func invalidate() {
        cache.withLock { $0 = nil }
    }
}

extension EventTypeCatalog {
    /// What is wrong with a hook's event pattern, or nil: it must be `*`, `prefix.*`, a type in the
    /// catalog, or `type@N` for one of that type's versions.
    static func problem(with pattern: String, in catalog: [String: Entry]) -> String? {
        guard EventMatcher.isValidPattern(pattern) else { return "\(pattern) is not an event type in the catalog, a prefix.* pattern or *" }
        if pattern.hasSuffix("*") { return nil }
        if let (name, number) = EventMatcher.versioned(pattern) {
            guard let type = catalog[name]?.type else { return "\(name) is not an event type in the catalog" }
            guard type.version(number) != nil else {
                return type.versions.isEmpty
                    ? "\(name) has no versions: subscribe to \(name)"
                    : "\(name) has versions \(type.versions.map { String($0.number) }.joined(separator: ", ")), not \(number)"
            }
            return nil
        }
        return catalog[pattern] == nil ? "\(pattern) is not an event type in the catalog, a prefix.* pattern or *" : nil
    }

    /// The hook's subscriptions to deprecated or archived types and versions, as sentences
    /// (`lead.created version 1 is deprecated`), for its page and the API.
    static func notices(for events: [String], in catalog: [String: Entry]) -> [String] {
        events.compactMap { pattern in
            let (name, number) = EventMatcher.versioned(pattern).map { ($0.name, Optional($0.version)) } ?? (pattern, nil)
            guard let type = catalog[name]?.type else { return nil }
            if type.archived { return "\(name) is archived: no new events of it will come" }
            if type.deprecated { return "\(name) is deprecated" }
            if let number, type.version(number) == nil { return "\(name) has no version \(number) any more: no events of it will come" }
            if let number, let version = type.version(number) {
                if version.archived { return "\(name) version \(number) is archived: no new events of it will come" }
                if version.deprecated { return "\(name) version \(number) is deprecated" + (type.currentVersion.map { "; the current version is \($0.number)" } ?? "") }
            }
            return nil
        }
    }

    /// An event type from its JSON (API body or the catalog form), validated: name, schema, and
    /// the example against the schema.
    static func parse(_ body: JSONValue, name pathName: String?) throws -> EventType {
        var reader = try FieldReader(body)
        // `current_version` is what the catalog answers; a body read back from it may carry it.
        reader.rejectUnknown(["name", "description", "schema", "example", "deprecated", "archived", "versions", "current_version"])
        if pathName != nil, reader.value("name")?.isNull == true { reader.fail("name", "must be a string (or left out)") }
        let bodyName = reader.string("name", required: pathName == nil, maxLength: 128)
        if let pathName, let bodyName, bodyName != pathName { reader.fail("name", "must be the name in the path, \(pathName), when given") }
        let name = pathName ?? bodyName
        if let name, !EventType.isValidName(name) {
            reader.fail("name", "must be dot-separated lower-case words, like lead.created")
        }
        let description = reader.string("description", maxLength: 2000) ?? ""
        let (schema, example) = readSchemaAndExample(&reader)
        let deprecated = reader.bool("deprecated") ?? false
        let archived = reader.bool("archived") ?? false
        var versions: [EventType.Version] = []
        if let list = reader.value("versions"), !list.isNull {
            if case .array(let items) = list, items.count <= 100 {
                for (index, item) in items.enumerated() {
                    do {
                        versions.append(try parseVersion(item, path: "/versions/\(index)"))
                    } catch let problem as Problem {
                        for error in problem.errors { reader.fail(String(error.field.dropFirst()), error.message) }
                    }
                }
                if Set(versions.map(\.number)).count != versions.count { reader.fail("versions", "each version's number must be different") }
                if !versions.isEmpty, reader.value("schema").map({ !$0.isNull }) ?? false || example != nil {
                    reader.fail("schema", "a type with versions keeps its schema and example in each version")
                }
            } else {
                reader.fail("versions", "must be an array of at most 100 versions")
            }
        }
        try reader.check()
        return EventType(
            name: name!, description: description, schema: schema?.document, example: example, deprecated: deprecated, archived: archived, versions: versions
        )
    }

    /// `schema` (compiled: what Herald cannot enforce is refused) and `example` (checked against
    /// it), of a type or of one of its versions.
    static func readSchemaAndExample(_ reader: inout FieldReader) -> (JSONSchema?, JSONValue?) {
        var schema: JSONSchema?
        if let document = reader.value("schema"), !document.isNull {
            do { schema = try JSONSchema(document) } catch { reader.fail("schema" + error.path, error.message) }
        }
        let example = reader.value("example").flatMap { $0.isNull ? nil : $0 }
        if let schema, let example, let violation = schema.firstViolation(of: example) {
            reader.fail("example" + violation.path, "does not match the schema: \(violation.message)")
        }
        return (schema, example)
    }

    /// One `{"version": N, "schema", "example", "deprecated", "archived"}` of a type's versions.
    static func parseVersion(_ body: JSONValue, path: String) throws -> EventType.Version {
        var reader = try FieldReader(body, pathPrefix: path)
        reader.rejectUnknown(["version", "schema", "example", "deprecated", "archived"])
        if !reader.has("version") { reader.fail("version", "is required") }
        let number = reader.int("version", in: 1...1_000_000)
        let (schema, example) = readSchemaAndExample(&reader)
        let version = EventType.Version(
            number: number ?? 0, schema: schema?.document, example: example, deprecated: reader.bool("deprecated") ?? false,
            archived: reader.bool("archived") ?? false
        )
        try reader.check()
        return version
    }
}
