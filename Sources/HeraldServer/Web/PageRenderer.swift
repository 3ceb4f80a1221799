import Foundation
import Hummingbird
import Mustache

/// Renders the Mustache pages in `Templates/`, loaded once at start (a missing page fails fast).
public struct PageRenderer: Sendable {
    let library: MustacheLibrary
    static let pages = [
        "login", "hooks", "hook-form", "hook", "delivery", "tokens", "admin", "admin-event-types", "admin-deliveries", "error", "users", "user", "team", "account",
        "member-form", "flash", "overview", "overview-body", "audit-log", "delivery-row",
    ]

    public init(directory: URL) async throws {
        library = try await MustacheLibrary(directory: directory.path)
        for page in Self.pages where library.getTemplate(named: page) == nil {
            throw PageRendererError(description: "template \(page).mustache is missing from \(directory.path)")
        }
    }

    func render(_ page: String, _ context: [String: Any], status: HTTPResponse.Status = .ok) -> HTML {
        HTML(status: status, body: library.render(context, withTemplate: page) ?? "")
    }
}

struct PageRendererError: Error, CustomStringConvertible {
    let description: String
}

/// An HTML page response.
struct HTML: ResponseGenerator {
    var status: HTTPResponse.Status = .ok
    var body: String
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'"
        fields[.xContentTypeOptions] = "nosniff"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
