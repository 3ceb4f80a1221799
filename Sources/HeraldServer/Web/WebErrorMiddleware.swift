import Foundation
import Hummingbird

/// Renders errors as readable HTML pages for browsers (anything outside `/api`, `/healthz`,
/// `/readyz`, `/metrics` that accepts HTML); API clients keep `application/problem+json`.
struct WebErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let renderer: PageRenderer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            let path = request.uri.path
            guard !path.hasPrefix("/api/"), path != "/metrics", path != "/healthz", path != "/readyz",
                request.headers[.accept]?.contains("text/html") == true || request.method == .post
            else { throw problem }
            let title: String =
                switch problem.status {
                case .notFound: "Page not found"
                case .forbidden: "Not allowed"
                case .internalServerError: "Something went wrong"
                default: problem.title
                }
            var response = try renderer.render(
                "error", ["title": title, "status": problem.status.code, "detail": problem.detail], status: problem.status
            ).response(from: request, context: context)
            // What the problem says in headers (Allow, Retry-After) holds for the page too.
            for field in problem.headers where field.name != .contentType { response.headers[field.name] = field.value }
            return response
        }
    }
}
