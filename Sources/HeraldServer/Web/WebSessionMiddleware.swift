import Foundation
import HeraldCore
import Hummingbird

/// Resolves the `herald_session` cookie to the signed-in user, for the web pages.
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let store: any HeraldStore
    /// The client's address (behind a trusted proxy, the one it forwards), for the audit log.
    var clientAddress: @Sendable (Request, Context) -> String = { _, context in context.remoteAddress?.ipAddress ?? "unknown" }
    static let cookieName = "herald_session"
    static let csrfCookieName = "herald_csrf"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let token = request.cookies[Self.cookieName]?.value, token.hasPrefix(PortalLink.sessionPrefix) {
            return try await portal(token, request, context: context, next: next)
        }
        guard let token = request.cookies[Self.cookieName]?.value, !token.isEmpty,
            let (session, user) = try await store.session(tokenHash: APIToken.hash(token), now: Date())
        else { return try await next(request, context) }
        var context = context
        context.webSession = WebSignIn(user: user, session: session)
        // After an administrator's reset, the one-time password opens only the account page.
        if user.mustChangePassword, !["/account", "/account/password", "/logout"].contains(request.uri.path) {
            return Response(status: .seeOther, headers: [.location: "/account"])
        }
        return try await AuditActor.$current.withValue(AuditActor(name: user.email, address: clientAddress(request, context))) {
            try await next(request, context)
        }
    }
}

extension WebSessionMiddleware {
    /// A portal session (``PortalLink``): the link's team's hook pages as one of its members, and
    /// nothing else; a read-only link's session reads them only. Its actions are the link's in the
    /// audit log.
    func portal(_ token: String, _ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let link = try await store.portalSession(sessionHash: PortalLink.sessionHash(of: token), now: Date())
        // An ended session's browser may still sign in as a person: that page is nobody's portal.
        if link == nil, request.uri.path == "/login" { return try await next(request, context) }
        do {
            var response = try await portalPage(link, token, request, context: context, next: next)
            response.headers[PortalFramingMiddleware<Context>.marker] = "1"
            return response
        } catch var problem as Problem {
            // Its refusals show in the provider's frame too, to say what happened.
            problem.headers[PortalFramingMiddleware<Context>.marker] = "1"
            throw problem
        }
    }

    private func portalPage(
        _ link: PortalLink?, _ token: String, _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard let link else {
            // An ended session is not a person's: there is no sign-in page to send it to.
            if path.hasPrefix("/portal/") { return try await next(request, context) }
            throw Problem(
                status: .unauthorized, type: "/problems/portal-session-ended", title: "This session has ended",
                detail: "Portal sessions last a limited time, and end when you leave them. Open a new link from the application that sent you here."
            )
        }
        guard PortalLink.allows(path: path) else {
            throw Problem.forbidden("This session shows the team's webhook pages only.")
        }
        let readOnlyRefusal = "This link is read-only: it shows the team's webhooks and deliveries, but changes nothing."
        if link.readOnly, request.method != .get, request.method != .head, path != "/logout" { throw Problem.forbidden(readOnlyRefusal) }
        // Nor does it open the forms whose saving it would refuse.
        if link.readOnly, path == "/hooks/new" || path.hasSuffix("/edit") { throw Problem.forbidden(readOnlyRefusal) }
        let member = link.member(at: Date())
        let session = Session(
            tokenHash: PortalLink.sessionHash(of: token), userID: member.id, csrfToken: link.csrfToken ?? "", expiresAt: link.sessionExpiresAt ?? Date()
        )
        var context = context
        context.webSession = WebSignIn(user: member, session: session, portal: link, portalTeam: try await store.team(id: link.teamID)?.name ?? "")
        return try await AuditActor.$current.withValue(AuditActor(name: link.actor, address: clientAddress(request, context))) {
            try await next(request, context)
        }
    }
}

/// A signed-in user and their session, as the web pages see them.
public struct WebSignIn: Sendable {
    public var user: User
    public var session: Session
    /// Set when the session is a portal link's: `user` is then a stand-in member of its team.
    public var portal: PortalLink?
    /// The portal's team's name, for its pages' header.
    public var portalTeam: String = ""
}

extension Cookie {
    /// A cookie as Herald sets every cookie: whole site, HttpOnly, SameSite=Lax, Secure behind HTTPS.
    static func herald(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}
