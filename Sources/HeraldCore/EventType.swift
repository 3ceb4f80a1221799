import Foundation

/// A catalog entry: an event name, what it means, and optionally a schema and an example payload —
/// or, once its payload has changed shape, numbered versions, each with its own schema and example.
///
/// A type or a version may be *deprecated* (still accepted; flagged in the catalog and on the hooks
/// that subscribe to it) and then *archived* (new events of it are refused with a 422).
public struct EventType: Sendable, Hashable {
    public var name: String
    public var description: String
    /// The schema and example of a type without versions.
    public var schema: JSONValue?
    public var example: JSONValue?
    public var deprecated: Bool
    public var archived: Bool
    /// Empty for a type without versions; otherwise in ascending order of number.
    public var versions: [Version]

    /// One shape of a type's payload.
    public struct Version: Sendable, Hashable {
        public var number: Int
        public var schema: JSONValue?
        public var example: JSONValue?
        public var deprecated: Bool
        public var archived: Bool

        public init(number: Int, schema: JSONValue? = nil, example: JSONValue? = nil, deprecated: Bool = false, archived: Bool = false) {
            self.number = number
            self.schema = schema
            self.example = example
            self.deprecated = deprecated
            self.archived = archived
        }
    }

    public init(
        name: String, description: String, schema: JSONValue? = nil, example: JSONValue? = nil, deprecated: Bool = false, archived: Bool = false,
        versions: [Version] = []
    ) {
        self.name = name
        self.description = description
        self.schema = schema
        self.example = example
        self.deprecated = deprecated
        self.archived = archived
        self.versions = versions.sorted { $0.number < $1.number }
    }

    /// Version `number`, if the type has it.
    public func version(_ number: Int) -> Version? { versions.first { $0.number == number } }

    /// The version an event names none of gets: the newest one not archived.
    public var currentVersion: Version? { versions.last { !$0.archived } }

    /// Why an event of this type (at `version`, if given) cannot be accepted now, or nil.
    public func refusal(version number: Int?) -> (field: String, message: String)? {
        if archived { return ("type", "\(name) is archived: it takes no new events") }
        guard let number else {
            if !versions.isEmpty && currentVersion == nil { return ("type", "every version of \(name) is archived: it takes no new events") }
            return nil
        }
        guard !versions.isEmpty else { return ("version", "\(name) has no versions") }
        guard let version = version(number) else {
            return ("version", "\(name) has versions \(versions.map { String($0.number) }.joined(separator: ", ")), not \(number)")
        }
        if version.archived { return ("version", "version \(number) of \(name) is archived: send version \(currentVersion.map { String($0.number) } ?? "none")") }
        return nil
    }

    /// Whether events of this type at `version` are deprecated (the type, or that version).
    public func isDeprecated(version number: Int?) -> Bool {
        deprecated || (number.flatMap(version)?.deprecated ?? false)
    }

    /// What a store keeps besides the name, description, schema and example: the flags and the
    /// versions, as one JSON object (nil when there is nothing to keep).
    public var lifecycleJSON: String? {
        guard deprecated || archived || !versions.isEmpty else { return nil }
        return JSONValue.object([
            ("deprecated", .bool(deprecated)), ("archived", .bool(archived)),
            (
                "versions",
                .array(versions.map { version in
                    .object([
                        ("version", .int(Int64(version.number))), ("schema", version.schema ?? .null), ("example", version.example ?? .null),
                        ("deprecated", .bool(version.deprecated)), ("archived", .bool(version.archived)),
                    ])
                })
            ),
        ]).jsonString
    }

    /// Sets the flags and versions from ``lifecycleJSON`` as stored.
    public mutating func readLifecycle(_ text: String?) {
        guard let text, let value = try? JSONValue(parsing: text) else { return }
        deprecated = value["deprecated"] == .bool(true)
        archived = value["archived"] == .bool(true)
        versions = (value["versions"]?.arrayValue ?? []).compactMap { item in
            guard let number = item["version"]?.intValue else { return nil }
            func present(_ key: String) -> JSONValue? { item[key].flatMap { $0.isNull ? nil : $0 } }
            return Version(
                number: Int(number), schema: present("schema"), example: present("example"), deprecated: item["deprecated"] == .bool(true),
                archived: item["archived"] == .bool(true)
            )
        }.sorted { $0.number < $1.number }
    }

    /// Names are dot-separated segments of lower-case letters, digits, `_` and `-` (`lead.created`).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...128).contains(name.utf8.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty
                && segment.utf8.allSatisfy {
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                        || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
                }
        }
    }

    /// The catalog a fresh install starts with.
    public static let seedCatalog: [EventType] = {
        let lead: JSONValue = .object([
            ("type", .string("object")),
            ("required", .array([.string("lead_id")])),
            (
                "properties",
                .object([
                    ("lead_id", .object([("type", .string("string")), ("minLength", .int(1))])),
                    ("name", .object([("type", .string("string"))])),
                    ("email", .object([("type", .string("string")), ("format", .string("email"))])),
                    ("programs", .object([("type", .string("array")), ("items", .object([("type", .string("string"))]))])),
                    ("department", .object([("type", .string("string"))])),
                ])
            ),
        ])
        let example: JSONValue = .object([
            ("lead_id", .string("lead_8412")), ("name", .string("Ana Rivera")), ("email", .string("ana@example.org")),
            ("programs", .array([.string("export-financing")])), ("department", .string("bde")),
        ])
        return [
            EventType(name: "lead.created", description: "A business owner asked to hear about one or more programs.", schema: lead, example: example),
            EventType(name: "lead.updated", description: "A lead's details changed.", schema: lead, example: example),
            EventType(
                name: "lead.assigned", description: "A lead was assigned to a department.", schema: lead,
                example: example
            ),
            EventType(name: PingPayload.eventType, description: "Sent when a hook is created and when its Ping button is pressed."),
        ] + OperationalEvents.catalog
    }()
}
