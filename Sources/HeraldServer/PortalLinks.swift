import Foundation
import HeraldCore
import HTTPTypes
import Hummingbird

/// `POST /api/teams/{slug}/portal-links` and friends: a provider application (or an administrator)
/// mints a short-lived link that opens one team's hook pages, to embed in its own pages.
struct PortalLinksController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/teams/{slug}/portal-links", use: create)
        router.get("/api/teams/{slug}/portal-links", use: list)
        router.delete("/api/teams/{slug}/portal-links/{id}", use: revoke)
    }

    func namedTeam(_ context: HeraldRequestContext) async throws -> Team { try await AdminController(services: services).namedTeam(context) }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin, .provider)
        let team = try await namedTeam(context)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024, ifEmpty: .object([])))
        reader.rejectUnknown(["read_only", "expires_in", "session_lifetime"])
        let readOnly = reader.bool("read_only") ?? false
        let expiresIn = reader.int("expires_in", in: PortalLink.expiryRange) ?? PortalLink.defaultExpiry
        let lifetime = reader.int("session_lifetime", in: PortalLink.sessionLifetimeRange) ?? PortalLink.defaultSessionLifetime
        try reader.check()
        let (link, url) = try await services.mintPortalLink(
            team: team, readOnly: readOnly, expiresIn: expiresIn, sessionLifetime: lifetime, base: services.publicBase(for: request)
        )
        guard case .object(var pairs) = Self.json(link, team: team) else { fatalError("a portal link's view is an object") }
        pairs.insert(("url", .string(url)), at: 1)
        return JSONResponse(status: .created, body: .object(pairs))
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin, .provider)
        let team = try await namedTeam(context)
        return .object([("portal_links", .array(try await store.portalLinks(teamID: team.id, now: Date()).map { Self.json($0, team: team) }))])
    }

    @Sendable func revoke(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try context.require(.admin, .provider)
        let team = try await namedTeam(context)
        guard let id = context.parameters.get("id", as: Int64.self), try await services.revokePortalLink(id: id, of: team) else {
            throw Problem.notFound("No such portal link for this team.")
        }
        return Response(status: .noContent)
    }

    static func json(_ link: PortalLink, team: Team, now: Date = Date()) -> JSONValue {
        .object([
            ("id", .int(link.id)), ("team", .string(team.slug)), ("read_only", .bool(link.readOnly)), ("state", .string(link.state(at: now))),
            ("expires_at", link.expiresAt.json), ("session_lifetime", .int(Int64(link.sessionLifetime))), ("created_by", .string(link.createdBy)),
            ("created_at", link.createdAt.json), ("opened_at", link.openedAt?.json ?? .null), ("opened_from", link.openedFrom.map(JSONValue.string) ?? .null),
            ("session_expires_at", link.sessionExpiresAt?.json ?? .null),
        ])
    }
}

extension HeraldServices {
    /// Mints a link to `team`'s hook pages; answers it with the URL to hand out (shown once: only
    /// its hash is kept). Audited as `portal-link.created`.
    func mintPortalLink(team: Team, readOnly: Bool, expiresIn: Int, sessionLifetime: Int, base: String) async throws -> (PortalLink, String) {
        let token = PortalLink.generateToken()
        let now = Date()
        let link = try await store.createPortalLink(
            teamID: team.id, tokenHash: APIToken.hash(token), readOnly: readOnly, expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)),
            sessionLifetime: TimeInterval(sessionLifetime), createdBy: AuditActor.current?.name ?? AuditActor.herald.name, now: now
        )
        try await store.audit(
            "portal-link.created", target: "portal link \(link.id)", teamID: team.id,
            changes: .object([
                ("read_only", .bool(readOnly)), ("expires_at", link.expiresAt.json), ("session_lifetime", .int(Int64(sessionLifetime))),
            ])
        )
        return (link, "\(base)/portal/\(token)")
    }

    /// Where clients reach this server: `--public-url`, else the host the request was sent to.
    func publicBase(for request: Request) -> String {
        if let base = configuration.publicBaseURL { return base }
        guard let host = request.head.authority, !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) }) else {
            return configuration.baseURL
        }
        return "http://\(host)"
    }

    /// Ends `team`'s link `id` and the session it opened. False: no such link for that team.
    func revokePortalLink(id: Int64, of team: Team) async throws -> Bool {
        guard try await store.portalLinks(teamID: team.id, now: Date()).contains(where: { $0.id == id }), try await store.revokePortalLink(id: id) else {
            return false
        }
        try await store.audit("portal-link.revoked", target: "portal link \(id)", teamID: team.id)
        return true
    }
}

/// Set on a response (or a problem) that belongs to a portal; never sent.
enum PortalPage {
    static let marker = HTTPField.Name("X-Herald-Portal-Page")!
}

/// Lets the origins an operator names (``HeraldConfiguration/portalFrameAncestors``) frame the
/// pages a portal link opens — the link itself and a live portal session's pages, error pages
/// included, each marked so by the handler that served it (``marker``, removed here). Every other
/// page keeps `frame-ancestors 'none'`.
struct PortalFramingMiddleware<Context: RequestContext>: RouterMiddleware {
    let ancestors: [String]
    static var marker: HTTPField.Name { PortalPage.marker }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard response.headers[Self.marker] != nil else { return response }
        response.headers[Self.marker] = nil
        guard !ancestors.isEmpty, let policy = response.headers[.contentSecurityPolicy] else { return response }
        response.headers[.contentSecurityPolicy] = policy.replacingOccurrences(
            of: "frame-ancestors 'none'", with: "frame-ancestors " + ancestors.joined(separator: " ")
        )
        return response
    }
}

/// A span per request (Hummingbird's ``TracingMiddleware``), but none for opening a portal link:
/// the span's path would carry the link's token to the collector.
struct RequestTracing<Context: RequestContext>: RouterMiddleware {
    let tracing = TracingMiddleware<Context>()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix("/portal/") { return try await next(request, context) }
        return try await tracing.handle(request, context: context, next: next)
    }
}
