import Foundation
import HeraldCore
import Hummingbird

/// Resolves the `herald_session` cookie to the signed-in user, for the web pages.
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let store: any SessionStore
    /// The client's address (behind a trusted proxy, the one it forwards), for the audit log.
    var clientAddress: @Sendable (Request, Context) -> String = { _, context in context.remoteAddress?.ipAddress ?? "unknown" }
    static let cookieName = "herald_session"
    static let csrfCookieName = "herald_csrf"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
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

/// A signed-in user and their session, as the web pages see them.
public struct WebSignIn: Sendable {
    public var user: User
    public var session: Session
}

extension Cookie {
    /// A cookie as Herald sets every cookie: whole site, HttpOnly, SameSite=Lax, Secure behind HTTPS.
    static func herald(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}
