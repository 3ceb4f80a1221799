import Foundation
import HeraldCore
import HTTPTypes
import Hummingbird

/// Portal links in the pages: opening one (it starts the portal session), leaving a session, and
/// an administrator minting and revoking links on a team's page.
extension WebController {
    func addPortalRoutes(to web: RouterGroup<HeraldRequestContext>) {
        web.get("/portal/ended", use: portalEnded)
        web.get("/portal/{token}", use: openPortal)
        web.post("/admin/teams/{slug}/portal-links", use: mintPortalLink)
        web.post("/admin/teams/{slug}/portal-links/{id}/revoke", use: revokePortalLink)
    }

    /// Opens a link once: its session starts (a cookie) and the team's webhooks show. A link used
    /// before, expired or revoked is a 410 page that says what to do.
    @Sendable func openPortal(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        // A HEAD (a link checker, a preview) does not spend the link.
        if request.method == .head { return Response(status: .ok, headers: [.cacheControl: "no-store", Self.portalPage: "1"]) }
        let token = context.parameters.get("token") ?? ""
        let sessionToken = PortalLink.sessionPrefix + Session.randomToken()
        let address = services.clientAddress(request, context)
        guard token.hasPrefix(PortalLink.tokenPrefix),
            let link = try await store.openPortalLink(
                tokenHash: APIToken.hash(token), sessionHash: PortalLink.sessionHash(of: sessionToken), csrfToken: Session.randomToken(), from: address,
                now: Date()
            )
        else {
            var problem = Problem(
                status: .gone, type: "/problems/portal-link-spent", title: "This link cannot be opened again",
                detail: "A portal link opens once, and only for a few minutes after it was made: this one was opened already, has expired or was revoked. Go back to the application that sent you here and open it from there again."
            )
            problem.headers[Self.portalPage] = "1"
            throw problem
        }
        try await AuditActor.$current.withValue(AuditActor(name: link.actor, address: address)) {
            try await store.audit(
                "portal-link.opened", target: "portal link \(link.id)", teamID: link.teamID,
                changes: .object([("read_only", .bool(link.readOnly)), ("session_expires_at", link.sessionExpiresAt?.json ?? .null)])
            )
        }
        var response = Response.redirect(to: "/hooks", type: .normal)
        response.headers[.cacheControl] = "no-store"
        response.headers[Self.portalPage] = "1"
        setPortalCookie(&response, sessionToken, maxAge: Int(link.sessionLifetime))
        return response
    }

    /// Sets (or, with an empty value, clears) a portal session's cookie. Framed by the provider's
    /// page on another site, it must be a third party's: behind HTTPS it is SameSite=None and kept
    /// apart per embedding site (Partitioned, CHIPS) — and cleared with the same attributes, or the
    /// browser keeps it.
    func setPortalCookie(_ response: inout Response, _ value: String, maxAge: Int) {
        if secureCookies {
            let cookie = Cookie(name: WebSessionMiddleware.cookieName, value: value, maxAge: maxAge, path: "/", secure: true, httpOnly: true, sameSite: .none)
            response.headers.append(HTTPField(name: HTTPField.Name.setCookie, value: cookie.description + "; Partitioned"))
        } else {
            response.setCookie(.herald(WebSessionMiddleware.cookieName, value, maxAge: maxAge, secure: false))
        }
    }

    @Sendable func portalEnded(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        var page = renderer.render(
            "error",
            [
                "title": "Session ended", "status": 200,
                "detail": "You have left Herald's webhook pages. To come back, open them again from the application that sent you here.",
            ]
        )
        page.headers[Self.portalPage] = "1"
        return page
    }

    /// Marks a response as a portal's page, which the origins named for it may frame.
    static var portalPage: HTTPField.Name { PortalFramingMiddleware<HeraldRequestContext>.marker }

    @Sendable func mintPortalLink(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        let page = "/admin/teams/\(team.slug)"
        // Ranges checked before any arithmetic: a huge or non-finite number is refused, never trapped on.
        guard let minutes = Int(form.trimmed("expires_minutes")), (1...1440).contains(minutes),
            let hours = Double(form.trimmed("session_hours")), hours.isFinite, (0.1...24).contains(hours),
            PortalLink.expiryRange.contains(minutes * 60), PortalLink.sessionLifetimeRange.contains(Int(hours * 3600))
        else {
            try await setFlash(["error": "A link may wait 1 to 1440 minutes to be opened, and its session last 0.1 to 24 hours."], signIn, for: page)
            return Response.redirect(to: page)
        }
        let readOnly = form["read_only"] == "on"
        let (_, url) = try await services.mintPortalLink(
            team: team, readOnly: readOnly, expiresIn: minutes * 60, sessionLifetime: Int(hours * 3600), base: services.publicBase(for: request)
        )
        try await setFlash(
            ["notice": "Portal link made\(readOnly ? " (read-only)" : ""). It opens once, within \(minutes) minute(s).", "portal": url], signIn, for: page
        )
        return Response.redirect(to: page)
    }

    @Sendable func revokePortalLink(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        _ = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        guard let id = context.parameters.get("id", as: Int64.self), try await services.revokePortalLink(id: id, of: team) else {
            throw Problem.notFound("No such portal link for this team.")
        }
        try await setFlash(["notice": "Portal link \(id) revoked: it cannot be opened, and its session has ended."], signIn, for: "/admin/teams/\(team.slug)")
        return Response.redirect(to: "/admin/teams/\(team.slug)")
    }

    /// The team page's list of recent links.
    func portalLinkRows(team: Team) async throws -> [[String: Any]] {
        let now = Date()
        return try await store.portalLinks(teamID: team.id, now: now).map { link in
            let state = link.state(at: now)
            return [
                "id": link.id, "state": state, "live": state == "open" || state == "unopened", "readOnly": link.readOnly, "createdBy": link.createdBy,
                "createdAt": Self.readableTime(link.createdAt), "openedFrom": link.openedFrom ?? "",
            ]
        }
    }
}
