import Foundation
import HeraldCore
import Hummingbird

/// Resolves `Authorization: Bearer hrld_…` to a ``Principal``. A request with a token that does
/// not resolve is refused with 401; a request without one proceeds anonymously (routes decide).
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let tokens: TokenCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization] else { return try await next(request, context) }
        guard authorization.lowercased().hasPrefix("bearer ") else {
            throw Problem.unauthorized("The Authorization header must be `Bearer <token>`.")
        }
        let token = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard token.hasPrefix(APIToken.tokenPrefix), let stored = try await tokens.token(hash: APIToken.hash(token)) else {
            throw Problem.unauthorized("The token is not valid.")
        }
        var context = context
        context.principal = Principal(tokenID: stored.id, scope: stored.scope, teamID: stored.teamID)
        return try await next(request, context)
    }
}
