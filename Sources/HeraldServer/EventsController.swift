import Foundation
import HeraldCore
import Hummingbird

/// Ingest (`POST /api/events`, provider and admin) and the pull feed (`GET /api/events`).
struct EventsController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/events", use: emit)
        router.get("/api/events", use: feed)
    }

    static func summary(_ event: Event) -> JSONValue {
        .object([("id", .string(event.id)), ("seq", .int(event.seq)), ("type", .string(event.type)), ("timestamp", event.timestamp.json)])
    }

    /// Accepts one event or a batch. Answers 202 once the events are committed; their deliveries
    /// are created by the engine's fan-out from the committed log, so none can be lost.
    @Sendable func emit(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.provider, .admin)
        let limit = services.configuration.maxEventBodyBytes
        let body = try await request.jsonBody(limit: limit)
        let headerKey = request.headers[.idempotencyKey]
        let isBatch: Bool
        let items: [JSONValue]
        switch body {
        case .array(let array):
            isBatch = true
            items = array
            guard !items.isEmpty else { throw Problem.validation([.init(field: "", message: "a batch must hold at least one event")]) }
            guard items.count <= services.configuration.maxBatchSize else {
                throw Problem.validation([.init(field: "", message: "a batch holds at most \(services.configuration.maxBatchSize) events")], status: .contentTooLarge)
            }
            if headerKey != nil {
                throw Problem.validation([.init(field: "", message: "the Idempotency-Key header applies to single events; put idempotency_key in each item")])
            }
        default:
            isBatch = false
            items = [body]
        }
        let catalog = try await services.catalog.entries()
        var events: [NewEvent] = []
        var errors: [Problem.FieldError] = []
        for (index, item) in items.enumerated() {
            let prefix = isBatch ? "/\(index)" : ""
            do {
                var reader = try FieldReader(item, pathPrefix: prefix)
                reader.rejectUnknown(["type", "data", "channels", "idempotency_key"])
                let type = reader.string("type", required: true, maxLength: 128)
                let channels = reader.stringArray("channels", maxCount: 50) ?? []
                let key = reader.string("idempotency_key", maxLength: 255) ?? (isBatch ? nil : headerKey)
                let data = reader.value("data") ?? .object([])
                if let type {
                    if type == "ping" {
                        reader.fail("type", "ping events are sent by Herald itself (POST /api/hooks/{id}/pings)")
                    } else if let entry = catalog[type] {
                        if let violation = entry.schema?.firstViolation(of: data, at: prefix + "/data") {
                            errors.append(.init(field: violation.path, message: violation.message))
                        }
                    } else {
                        reader.fail("type", "unknown event type \(type); see GET /api/event-types")
                    }
                }
                errors += reader.errors
                if let type, reader.errors.isEmpty {
                    events.append(NewEvent(type: type, data: data.jsonString, channels: channels, idempotencyKey: key))
                }
            } catch let problem as Problem {
                errors += problem.errors
            }
        }
        // All or nothing: one bad item rejects the batch and stores nothing.
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let appended = try await services.ingest.submit(events)
        if appended.contains(where: { !$0.duplicate }) { services.engine.eventsAppended() }
        let summaries = appended.map { Self.summary($0.event) }
        return JSONResponse(status: .accepted, body: isBatch ? .object([("events", .array(summaries))]) : summaries[0])
    }

    /// `GET /api/events?since=SEQ&limit=N`: the changes feed. A team token sees only events one of
    /// its hooks could receive.
    @Sendable func feed(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let principal = try context.requirePrincipal()
        let query = request.uri.queryParameters
        let since = try query["since"].map { value -> Int64 in
            guard let seq = Int64(String(value)), seq >= 0 else { throw Problem.badRequest("since must be a non-negative sequence number") }
            return seq
        } ?? 0
        let limit = try query["limit"].map { value -> Int in
            guard let limit = Int(String(value)), (1...1000).contains(limit) else { throw Problem.badRequest("limit must be from 1 to 1000") }
            return limit
        } ?? 100
        let teamID = principal.scope == .team ? principal.teamID : nil
        let events = try await store.events(since: since, limit: limit, visibleTo: teamID)
        let lastSeq = events.last?.seq ?? since
        let results: [JSONValue] = events.map { event in
            .object([
                ("seq", .int(event.seq)), ("id", .string(event.id)), ("type", .string(event.type)), ("timestamp", event.timestamp.json),
                ("data", (try? JSONValue(parsing: event.data)) ?? .null), ("channels", .array(event.channels.map(JSONValue.string))),
            ])
        }
        return .object([("results", .array(results)), ("last_seq", .string(String(lastSeq)))])
    }
}
