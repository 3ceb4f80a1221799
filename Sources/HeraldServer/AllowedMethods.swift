import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Which methods each route answers, so that a request with another method gets `405` with an
/// `Allow` header (RFC 9110) instead of a `404`, and `OPTIONS` gets the list.
///
/// Built from the router's own route table once every route is added: a second router holds one
/// route per path, answering with that path's methods, so a path resolves exactly as the real
/// router resolves it (parameters and wildcards included).
final class AllowedMethods: Sendable {
    private let probe = Mutex<RouterResponder<HeraldRequestContext>?>(nil)

    /// Takes the route table of `router`, with every route added.
    func learn(from router: Router<HeraldRequestContext>) {
        let probeRouter = Router(context: HeraldRequestContext.self)
        let byPath = Dictionary(grouping: router.routes, by: { $0.path.description })
        for routes in byPath.values {
            var methods = Set(routes.map(\.method))
            if methods.contains(.get) { methods.insert(.head) }
            methods.insert(.options)
            let allow = methods.map(\.rawValue).sorted().joined(separator: ", ")
            probeRouter.get(routes[0].path) { _, _ in Response(status: .ok, headers: [.allow: allow]) }
        }
        let responder = probeRouter.buildResponder()
        probe.withLock { $0 = responder }
    }

    /// The `Allow` value for `path`; nil when no route has that path.
    func allow(path: String, context: HeraldRequestContext) async -> String? {
        guard let responder = probe.withLock({ $0 }) else { return nil }
        let request = Request(head: HTTPRequest(method: .get, scheme: nil, authority: nil, path: path), body: .init(buffer: ByteBuffer()))
        guard let response = try? await responder.respond(to: request, context: context), response.status == .ok else { return nil }
        return response.headers[.allow]
    }

    /// The answer to a method no route of `path` has: `405` with `Allow`.
    static func notAllowed(_ method: HTTPRequest.Method, allow: String) -> Problem {
        var problem = Problem(
            status: .methodNotAllowed, type: "/problems/method-not-allowed", title: "Method not allowed",
            detail: "\(method) is not a method this resource answers; it answers \(allow)."
        )
        problem.headers[.allow] = allow
        return problem
    }
}

/// Answers a method a route's path does not have (GET's siblings, TRACE, CONNECT or a made-up
/// one) with `405` and `Allow`, and `OPTIONS` with `204` and `Allow`, where the router alone
/// would answer `404`.
struct AllowedMethodsMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // The router found no route for this method; does the path have others?
            guard let allow = await allowed.allow(path: request.uri.path, context: context) else { throw error }
            if request.method == .options {
                var headers = HTTPFields()
                headers[.allow] = allow
                return Response(status: .noContent, headers: headers)
            }
            if request.uri.path == "/db" || request.uri.path.hasPrefix("/db/") {
                // CouchDB's shape under /db/, as its clients expect.
                var couch = CouchError(status: .methodNotAllowed, error: "method_not_allowed", reason: "Only \(allow) allowed")
                couch.headers[.allow] = allow
                throw couch
            }
            throw AllowedMethods.notAllowed(request.method, allow: allow)
        }
    }
}
