import Foundation

/// A catalog entry: an event name, what it means, and optionally a schema and an example payload.
public struct EventType: Sendable, Hashable {
    public var name: String
    public var description: String
    public var schema: JSONValue?
    public var example: JSONValue?

    public init(name: String, description: String, schema: JSONValue? = nil, example: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.schema = schema
        self.example = example
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
