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
        let token = context.parameters.get("token") ?? ""
        let sessionToken = PortalLink.sessionPrefix + Session.randomToken()
        let address = services.clientAddress(request, context)
        guard token.hasPrefix(PortalLink.tokenPrefix),
            let link = try await store.openPortalLink(
                tokenHash: APIToken.hash(token), sessionHash: PortalLink.sessionHash(of: sessionToken), csrfToken: Session.randomToken(), from: address,
                now: Date()
            )
        else {
            throw Problem(
                status: .gone, type: "/problems/portal-link-spent", title: "This link cannot be opened again",
                detail: "A portal link opens once, and only for a few minutes after it was made: this one was opened already, has expired or was revoked. Go back to the application that sent you here and open it from there again."
            )
        }
        try await AuditActor.$current.withValue(AuditActor(name: link.actor, address: address)) {
            try await store.audit(
                "portal-link.opened", target: "portal link \(link.id)", teamID: link.teamID,
                changes: .object([("read_only", .bool(link.readOnly)), ("session_expires_at", link.sessionExpiresAt?.json ?? .null)])
            )
        }
        var response = Response.redirect(to: "/hooks", type: .normal)
        response.headers[.cacheControl] = "no-store"
        let lifetime = Int(link.sessionLifetime)
        if secureCookies {
            // Framed by the provider's page on another site, the cookie must be a third party's:
            // SameSite=None, kept apart per embedding site (Partitioned, CHIPS).
            let cookie = Cookie(name: WebSessionMiddleware.cookieName, value: sessionToken, maxAge: lifetime, path: "/", secure: true, httpOnly: true, sameSite: .none)
            response.headers.append(HTTPField(name: HTTPField.Name.setCookie, value: cookie.description + "; Partitioned"))
        } else {
            response.setCookie(.herald(WebSessionMiddleware.cookieName, sessionToken, maxAge: lifetime, secure: false))
        }
        return response
    }

    @Sendable func portalEnded(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        renderer.render(
            "error",
            [
                "title": "Session ended", "status": 200,
                "detail": "You have left Herald's webhook pages. To come back, open them again from the application that sent you here.",
            ]
        )
    }

    @Sendable func mintPortalLink(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        let page = "/admin/teams/\(team.slug)"
        guard let minutes = Int(form.trimmed("expires_minutes")), (PortalLink.expiryRange).contains(minutes * 60),
            let hours = Double(form.trimmed("session_hours")), (PortalLink.sessionLifetimeRange).contains(Int(hours * 3600))
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
