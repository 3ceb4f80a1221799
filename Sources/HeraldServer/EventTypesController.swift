import Foundation
import HeraldCore
import Hummingbird

/// The event-type catalog: everyone with a token reads it, admins change it.
struct EventTypesController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.get("/api/event-types", use: list)
        router.post("/api/event-types", use: create)
        router.put("/api/event-types/{name}", use: replace)
        router.delete("/api/event-types/{name}", use: delete)
    }

    static func json(_ type: EventType) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [("name", .string(type.name)), ("description", .string(type.description))]
        if let schema = type.schema { pairs.append(("schema", schema)) }
        if let example = type.example { pairs.append(("example", example)) }
        pairs += [("deprecated", .bool(type.deprecated)), ("archived", .bool(type.archived))]
        if !type.versions.isEmpty {
            pairs.append(("current_version", type.currentVersion.map { .int(Int64($0.number)) } ?? .null))
            pairs.append((
                "versions",
                .array(type.versions.map { version in
                    var fields: [(key: String, value: JSONValue)] = [("version", .int(Int64(version.number)))]
                    if let schema = version.schema { fields.append(("schema", schema)) }
                    if let example = version.example { fields.append(("example", example)) }
                    return .object(fields + [("deprecated", .bool(version.deprecated)), ("archived", .bool(version.archived))])
                })
            ))
        }
        return .object(pairs)
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.requirePrincipal()
        return .object([("event_types", .array(try await store.eventTypes().map(Self.json)))])
    }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let type = try EventTypeCatalog.parse(try await request.jsonBody(limit: 256 * 1024), name: nil)
        guard try await store.eventType(name: type.name) == nil else { throw Problem.conflict("The event type \(type.name) exists; PUT replaces it.") }
        try await services.saveEventType(type)
        return JSONResponse(status: .created, body: Self.json(type))
    }

    @Sendable func replace(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        let name = context.parameters.get("name") ?? ""
        let type = try EventTypeCatalog.parse(try await request.jsonBody(limit: 256 * 1024), name: name)
        let created = try await services.saveEventType(type)
        return JSONResponse(status: created ? .created : .ok, body: Self.json(type))
    }

    @Sendable func delete(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        guard let name = context.parameters.get("name"), try await services.deleteEventType(name: name) else {
            throw Problem.notFound("No such event type.")
        }
        return Response(status: .noContent)
    }
}

extension HeraldServices {
    /// Adds or replaces an event type (true when it is new); ingest sees it at once.
    @discardableResult
    func saveEventType(_ type: EventType) async throws -> Bool {
        if OperationalEvents.isOperational(type.name) {
            throw Problem.validation([.init(field: "/name", message: "herald.* event types are Herald's own")])
        }
        let before = try await store.eventType(name: type.name)
        let created = try await store.saveEventType(type)
        catalog.invalidate()
        try await store.audit(
            created ? "event-type.created" : "event-type.updated", target: "event type \(type.name)",
            changes: AuditEntry.changes(before: before.map(EventTypesController.json), after: EventTypesController.json(type))
        )
        return created
    }

    /// Removes an event type from the catalog; false when there was none.
    func deleteEventType(name: String) async throws -> Bool {
        guard !OperationalEvents.isOperational(name), try await store.deleteEventType(name: name) else { return false }
        catalog.invalidate()
        try await store.audit("event-type.deleted", target: "event type \(name)")
        return true
    }
}
