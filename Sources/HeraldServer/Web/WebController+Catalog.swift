import Foundation
import HeraldCore
import Hummingbird

extension WebController {
    // MARK: the event-type catalog (admin)

    @Sendable func eventTypesPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        return try await eventTypesView(signIn, notice: try await takeFlash(signIn, for: "/admin/event-types")["notice"], errors: [], values: [:], status: .ok)
    }

    func eventTypesView(
        _ signIn: WebSignIn, notice: String?, errors: [Problem.FieldError], values: [String: String], status: HTTPResponse.Status
    ) async throws -> HTML {
        let types = try await store.eventTypes()
        var context: [String: Any] = [
            "types": types.map { type in
                [
                    "name": type.name, "description": type.description, "schema": type.schema?.prettyString ?? "",
                    "hasSchema": type.schema != nil, "example": type.example?.prettyString ?? "", "hasExample": type.example != nil,
                    "builtIn": type.name == PingPayload.eventType, "deprecated": type.deprecated, "archived": type.archived,
                    "versions": type.versions.reversed().map { version in
                        [
                            "number": version.number, "current": version.number == type.currentVersion?.number, "deprecated": version.deprecated,
                            "archived": version.archived, "schema": version.schema?.prettyString ?? "", "hasSchema": version.schema != nil,
                            "example": version.example?.prettyString ?? "", "hasExample": version.example != nil,
                        ] as [String: Any]
                    },
                ] as [String: Any]
            },
            "notice": notice ?? "", "hasNotice": notice != nil, "hasErrors": !errors.isEmpty,
            "errors": errors.map { ["field": $0.field.isEmpty ? "form" : String($0.field.dropFirst()), "message": $0.message] },
        ]
        for (key, value) in values { context["value_\(key)"] = value }
        return renderer.render("admin-event-types", page(signIn, title: "Event types", context), status: status)
    }

    @Sendable func saveEventType(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let values = [
            "name": form.trimmed("name"), "description": form.trimmed("description"), "schema": form.trimmed("schema"), "example": form.trimmed("example"),
            "versions": form.trimmed("versions"), "deprecated": form["deprecated"] == "on" ? "checked" : "", "archived": form["archived"] == "on" ? "checked" : "",
        ]
        var errors: [Problem.FieldError] = []
        var body: [(key: String, value: JSONValue)] = [
            ("name", .string(values["name"]!)), ("description", .string(values["description"]!)),
            ("deprecated", .bool(form["deprecated"] == "on")), ("archived", .bool(form["archived"] == "on")),
        ]
        for field in ["schema", "example", "versions"] where !values[field]!.isEmpty {
            do {
                body.append((field, try JSONValue(parsing: values[field]!)))
            } catch {
                errors.append(.init(field: "/\(field)", message: "is not valid JSON: \(error)"))
            }
        }
        if errors.isEmpty {
            do {
                let type = try EventTypeCatalog.parse(.object(body), name: nil)
                let created = try await services.saveEventType(type)
                try await setFlash(["notice": "\(type.name) \(created ? "added" : "updated")."], signIn, for: "/admin/event-types")
                return Response.redirect(to: "/admin/event-types")
            } catch let problem as Problem {
                errors = problem.errors
            }
        }
        return try await eventTypesView(signIn, notice: nil, errors: errors, values: values, status: .unprocessableContent)
            .response(from: request, context: context)
    }

    @Sendable func deleteEventType(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        _ = try await checkedForm(request, signIn)
        guard let name = context.parameters.get("name"), name != PingPayload.eventType, try await services.deleteEventType(name: name) else {
            throw Problem.notFound("There is no such event type, or it cannot be removed.")
        }
        return Response.redirect(to: "/admin/event-types")
    }

    // MARK: every delivery (admin)

    @Sendable func deliveriesBrowser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let parameters = request.uri.queryParameters
        if let id = parameters["id"].map(String.init)?.trimmingCharacters(in: .whitespaces), !id.isEmpty {
            guard let delivery = try await store.delivery(id: id.lowercased()) else {
                throw Problem.notFound("No delivery has the id \(id).")
            }
            return Response(status: .seeOther, headers: [.location: "/hooks/\(delivery.hookID)/deliveries/\(delivery.id)"])
        }
        var query = try DeliveryQuery(request, blankIsAbsent: true)
        query.limit = 50
        if let hook = parameters["hook"], !hook.isEmpty {
            guard let id = Int64(String(hook)) else { throw Problem.badRequest("The hook filter must be a hook id.") }
            query.hookID = id
        }
        if let slug = parameters["team"], !slug.isEmpty {
            guard let team = try await store.team(slug: String(slug)) else { throw Problem.badRequest("No team has the slug \(slug).") }
            query.teamID = team.id
        }
        let deliveries = try await store.deliveries(query)
        let teams = try await store.teams()
        let hooks = Dictionary(uniqueKeysWithValues: try await store.hooks(teamID: nil).map { ($0.id, $0) })
        let teamNames = Dictionary(uniqueKeysWithValues: teams.map { ($0.id, $0.name) })
        let current = { (name: String) in parameters[name[...]].map(String.init) ?? "" }
        var next = ""
        if deliveries.count == query.limit, let cursor = deliveries.last?.cursor.encoded {
            var components = URLComponents()
            components.queryItems = ["status", "event", "team", "hook", "since", "until"].compactMap { name in
                current(name).isEmpty ? nil : URLQueryItem(name: name, value: current(name))
            } + [URLQueryItem(name: "cursor", value: cursor)]
            next = "/admin/deliveries?" + (components.percentEncodedQuery ?? "")
        }
        return try renderer.render(
            "admin-deliveries",
            page(signIn, title: "All deliveries", [
                "deliveries": deliveries.map { delivery in
                    var row = deliveryRow(delivery)
                    row["url"] = hooks[delivery.hookID]?.url ?? ""
                    row["team"] = teamNames[delivery.teamID] ?? ""
                    return row
                },
                "empty": deliveries.isEmpty, "next": next, "hasNext": !next.isEmpty,
                "statuses": ["", "success", "failure", "pending"].map { ["value": $0, "label": $0.isEmpty ? "Any status" : $0, "selected": $0 == current("status")] },
                "teams": teams.map { ["slug": $0.slug, "name": $0.name, "selected": $0.slug == current("team")] },
                "event": current("event"), "hook": current("hook"), "since": current("since"), "until": current("until"),
            ])
        ).response(from: request, context: context)
    }
}
