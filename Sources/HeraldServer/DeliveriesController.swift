import Foundation
import HeraldCore
import Hummingbird

/// The delivery log, redelivery, and the cross-hook browser.
struct DeliveriesController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.get("/api/hooks/{id}/deliveries", use: list)
        router.get("/api/hooks/{id}/deliveries/{delivery}", use: show)
        router.post("/api/hooks/{id}/deliveries/{delivery}/attempts", use: redeliver)
        router.get("/api/deliveries", use: browse)
    }

    static func summary(_ delivery: Delivery) -> [(key: String, value: JSONValue)] {
        [
            ("id", .string(delivery.id)), ("hook_id", .int(delivery.hookID)), ("event_id", .string(delivery.eventID)),
            ("event", .string(delivery.eventType)), ("status", .string(delivery.lifecycle.status.apiStatus)),
            ("state", .string(delivery.lifecycle.status.rawValue)),
            ("status_code", delivery.lastStatusCode.map { .int(Int64($0)) } ?? .null), ("attempts", .int(Int64(delivery.totalAttempts))),
            ("redelivery", .bool(delivery.lifecycle.redelivery)), ("delivered_at", delivery.deliveredAt.json),
            ("duration_ms", delivery.lastDurationMs.map { .int(Int64($0)) } ?? .null),
            ("next_attempt_at", delivery.lifecycle.nextAttemptAt.json), ("created_at", delivery.createdAt.json),
            ("note", delivery.note.map(JSONValue.string) ?? .null),
            // GitHub's names for the same, for clients written for its deliveries API.
            ("guid", .string(delivery.id)), ("duration", delivery.lastDurationMs.map { .double(Double($0) / 1000) } ?? .null),
            ("action", .null),
        ]
    }

    static func headersJSON(_ headers: [HTTPHeaderField]) -> JSONValue {
        .object(headers.map { ($0.name, .string($0.value)) })
    }

    static func attemptJSON(_ attempt: Attempt) -> JSONValue {
        .object([
            ("number", .int(Int64(attempt.number))), ("trigger", .string(attempt.trigger.rawValue)),
            ("started_at", .string(Timestamp.millisecondString(attempt.startedAt))), ("duration_ms", .int(Int64(attempt.durationMs))),
            ("status_code", attempt.responseStatus.map { .int(Int64($0)) } ?? .null),
            ("error", attempt.errorClass.map { .string($0.rawValue) } ?? .null), ("error_message", attempt.errorMessage.map(JSONValue.string) ?? .null),
        ])
    }

    /// Parses `per_page`, `cursor` and the filters shared by both listings.
    /// The filters of a deliveries list. With `blankIsAbsent` (the web UI's filter form, which sends
    /// every field, "Any status" and blank dates too) an empty value is no filter; the API refuses it.
    func page(_ deliveries: [Delivery], query: DeliveryQuery, request: Request) -> JSONResponse {
        let next = deliveries.count == query.limit ? deliveries.last?.cursor.encoded : nil
        var headers: HTTPFields = [:]
        if let next {
            var components = URLComponents(string: request.uri.description) ?? URLComponents()
            var items = (components.queryItems ?? []).filter { $0.name != "cursor" }
            items.append(URLQueryItem(name: "cursor", value: next))
            components.queryItems = items
            headers[.link] = "<\(components.string ?? "")>; rel=\"next\""
        }
        return JSONResponse(
            status: .ok,
            body: .object([("deliveries", .array(deliveries.map { .object(Self.summary($0)) })), ("next_cursor", next.map(JSONValue.string) ?? .null)]),
            headers: headers
        )
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.requirePrincipal())
        var query = try DeliveryQuery(request)
        query.hookID = hook.id
        return page(try await store.deliveries(query), query: query, request: request)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.requirePrincipal())
        guard let id = context.parameters.get("delivery"), let (delivery, attempts) = try await store.deliveryWithAttempts(id: id), delivery.hookID == hook.id else {
            throw Problem.notFound("No such delivery.")
        }
        var pairs = Self.summary(delivery)
        pairs.append(("url", .string(attempts.last?.url ?? hook.url)))
        if let last = attempts.last {
            let payload: JSONValue =
                if hook.contentType == .json || !last.requestBody.hasPrefix("payload=") {
                    (try? JSONValue(parsing: last.requestBody)) ?? .string(last.requestBody)
                } else {
                    .string(last.requestBody)
                }
            pairs.append(("request", .object([("headers", Self.headersJSON(last.requestHeaders)), ("payload", payload)])))
            pairs.append((
                "response",
                .object([
                    ("status_code", last.responseStatus.map { .int(Int64($0)) } ?? .null), ("headers", Self.headersJSON(last.responseHeaders)),
                    ("payload", last.responseBody.map(JSONValue.string) ?? .null),
                ])
            ))
        } else {
            pairs.append(("request", .null))
            pairs.append(("response", .null))
        }
        pairs.append(("attempt_log", .array(attempts.map(Self.attemptJSON))))
        return .object(pairs)
    }

    @Sendable func redeliver(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        let delivery = try await services.redeliver(context.parameters.get("delivery"), of: hook)
        return JSONResponse(status: .accepted, body: .object([("id", .string(delivery.id)), ("redelivery", .bool(true))]))
    }

    @Sendable func browse(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin, .provider)
        var query = try DeliveryQuery(request)
        let parameters = request.uri.queryParameters
        if let hook = parameters["hook"] {
            guard let id = Int64(String(hook)) else { throw Problem.badRequest("hook must be a hook id") }
            query.hookID = id
        }
        // An empty text filter is no filter (as a form leaves it).
        if let team = parameters["team"], !team.isEmpty {
            guard let found = try await store.team(slug: String(team)) else { throw Problem.notFound("No team with the slug \(team).") }
            query.teamID = found.id
        }
        return page(try await store.deliveries(query), query: query, request: request)
    }
}
