import Foundation
import HeraldCore
import Hummingbird

/// Resolves `Authorization: Bearer hrld_…` to a ``Principal``. A request with a token that does
/// not resolve is refused with 401; a request without one proceeds anonymously (routes decide).
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let tokens: TokenCache
    /// Requests per token; nil: unlimited.
    let limiter: RateLimiter?
    /// Requests per team, across its tokens; nil: unlimited.
    var teamLimiter: RateLimiter? = nil
    /// CouchDB's `AuthSession` cookie (``CouchSessionCookie``), taken under `/db/` only; nil: not at all.
    var couchSessions: CouchSessionCookie? = nil
    /// The client's address (behind a trusted proxy, the one it forwards), for the audit log.
    var clientAddress: @Sendable (Request, Context) -> String = { _, context in context.remoteAddress?.ipAddress ?? "unknown" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization] else {
            guard let couchSessions, CouchSessionCookie.applies(to: request.uri.path), let cookie = request.cookies[CouchSessionCookie.name], !cookie.value.isEmpty
            else { return try await next(request, context) }
            // An expired or foreign cookie signs nobody in: the request goes on anonymously, as CouchDB's does.
            guard let session = couchSessions.open(cookie.value, now: Date()) else { return try await next(request, context) }
            // A cookie is sent by browsers on their own. Another site's page can send a POST (a
            // form) but no PUT or DELETE without asking first (CORS), and no JSON: a POST must be
            // JSON (SameSite=Strict keeps the cookie home besides).
            if request.method == .post, request.headers[.contentType]?.lowercased().hasPrefix("application/json") != true {
                throw CouchError(status: .unsupportedMediaType, error: "bad_content_type", reason: "Content-Type must be application/json")
            }
            return try await authenticate(session.token, request, context, next)
        }
        let token: String
        if let bearer = Self.bearerToken(authorization) {
            token = bearer
        } else if let password = Self.basicCredentials(authorization)?.password {
            // CouchDB and Sync Gateway clients put credentials in the URL: the token is the password.
            token = password
        } else {
            throw Problem.unauthorized("The Authorization header must be `Bearer <token>` (or HTTP Basic with the token as the password).")
        }
        return try await authenticate(token, request, context, next)
    }

    /// The token of `Bearer <token>` (the scheme in any case, blanks around the token dropped), read
    /// without lower-casing or bridging the header: every API request makes this.
    static func bearerToken(_ authorization: String) -> String? {
        let scheme = "bearer ".utf8
        guard authorization.utf8.count >= scheme.count,
            zip(authorization.utf8, scheme).allSatisfy({ header, lower in header == lower || (lower != 0x20 && header == lower - 0x20) })
        else { return nil }
        var token = authorization.utf8.dropFirst(scheme.count)
        while let first = token.first, first == 0x20 || first == 0x09 { token = token.dropFirst() }
        while let last = token.last, last == 0x20 || last == 0x09 { token = token.dropLast() }
        return String(Substring(token))
    }

    private func authenticate(_ token: String, _ request: Request, _ context: Context, _ next: (Request, Context) async throws -> Response) async throws -> Response {
        guard token.hasPrefix(APIToken.tokenPrefix), let stored = try await tokens.token(hash: APIToken.hash(token)) else {
            throw Problem.unauthorized("The token is not valid.")
        }
        if let limiter, let wait = limiter.take(stored.id) {
            throw Self.rateLimited("This token may make \(Self.rate(limiter)) requests a second (bursts of \(Int(limiter.burst)))", wait: wait)
        }
        if let team = stored.teamID, let teamLimiter, let wait = teamLimiter.take(team) {
            throw Self.rateLimited("This team's tokens may make \(Self.rate(teamLimiter)) requests a second together (bursts of \(Int(teamLimiter.burst)))", wait: wait)
        }
        var context = context
        context.principal = Principal(tokenID: stored.id, scope: stored.scope, teamID: stored.teamID)
        let actor = AuditActor(name: "token \(stored.id) (\(stored.name))", address: clientAddress(request, context))
        return try await AuditActor.$current.withValue(actor) { try await next(request, context) }
    }

    /// A 429 saying which limit was reached and when to try again.
    static func rateLimited(_ limit: String, wait: Int) -> Problem {
        var problem = Problem(status: .tooManyRequests, type: "/problems/rate-limited", title: "Too many requests", detail: "\(limit): try again in \(wait) s.")
        problem.headers[.retryAfter] = String(wait)
        return problem
    }

    /// A rate as people read it: whole numbers without decimals, slower rates with them.
    static func rate(_ limiter: RateLimiter) -> String { String(format: "%g", limiter.rate) }

    /// The user and password of `Basic base64(user:password)`; nil for another scheme.
    static func basicCredentials(_ authorization: String) -> (user: String, password: String)? {
        guard authorization.lowercased().hasPrefix("basic "), let data = Data(base64Encoded: authorization.dropFirst(6).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

extension TokenAuthMiddleware {
    /// The middleware with the services' tokens, limits, cookie sessions and client addresses.
    init(_ services: HeraldServices) {
        self.init(
            tokens: services.tokens, limiter: services.rateLimiter, teamLimiter: services.teamRateLimiter,
            couchSessions: CouchSessionCookie(secretBox: services.secretBox),
            clientAddress: { [services] in services.clientAddress($0, $1) }
        )
    }
}
