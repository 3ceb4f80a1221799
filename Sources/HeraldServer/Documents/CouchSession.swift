import Foundation
import HeraldCore
import Hummingbird

/// CouchDB's cookie login at `/db/_session`, the default of several CouchDB clients: the client
/// posts a name (any label) and, as the password, an API token; the `AuthSession` cookie it gets
/// back seals that token, the name and an expiry under the master key. It is exactly as strong as
/// the token and ends with it: the token is looked up on every request, so revoking it ends the
/// cookie's sessions too.
struct CouchSessionCookie: Sendable {
    static let name = "AuthSession"
    /// CouchDB's default session timeout.
    static let lifetime: TimeInterval = 600

    let secretBox: SecretBox

    /// The cookie's value for `token`, sealed and URL-safe.
    func make(token: String, name: String, now: Date) throws -> String {
        let payload = JSONValue.object([
            ("token", .string(token)), ("name", .string(name)), ("expires", .double(now.addingTimeInterval(Self.lifetime).timeIntervalSince1970)),
        ])
        return try secretBox.seal(payload.jsonString).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The token and name a cookie carries, if it was made here and has not expired.
    func open(_ value: String, now: Date) -> (token: String, name: String)? {
        var base64 = value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let sealed = Data(base64Encoded: base64), let text = try? secretBox.open(sealed),
            let payload = try? JSONValue(parsing: Data(text.utf8)), let token = payload["token"]?.stringValue, let name = payload["name"]?.stringValue,
            let expires = payload["expires"]?.numberValue, expires > now.timeIntervalSince1970
        else { return nil }
        return (token, name)
    }

    /// The paths where the cookie signs a request in: the document API and the login itself.
    static func applies(to path: String) -> Bool { path.hasPrefix("/db/") || path == "/_session" }

    /// The `Set-Cookie` value: kept from scripts and from other sites' requests. Its path is the
    /// root, as CouchDB's, since clients may log in at `/_session`; it signs requests in only
    /// where ``applies(to:)``.
    func header(_ value: String, secure: Bool, maxAge: Int = Int(Self.lifetime)) -> String {
        "\(Self.name)=\(value); Version=1; Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}

extension DocumentsController {
    /// `POST /db/_session` (JSON or a form: `name`, `password`): a token as the password signs in
    /// and sets the `AuthSession` cookie. 401 with CouchDB's body when it is not a valid token.
    @Sendable func createSession(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 * 1024)
        let text = String(buffer: buffer)
        var fields: [String: String] = [:]
        if request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            let form = FormData(text)
            for name in ["name", "password"] { fields[name] = form[name] }
        } else if let body = try? JSONValue(parsing: Data(text.utf8)), case .object(let members) = body {
            for (key, value) in members { if let string = value.stringValue { fields[key] = string } }
        } else {
            throw CouchError.badRequest("The body must be JSON {\"name\", \"password\"} or a form")
        }
        let name = fields["name"] ?? ""
        guard let token = fields["password"], token.hasPrefix(APIToken.tokenPrefix), let stored = try await services.tokens.token(hash: APIToken.hash(token)) else {
            throw CouchError.unauthorized("Name or password is incorrect.")
        }
        let cookies = CouchSessionCookie(secretBox: services.secretBox)
        let value = try cookies.make(token: token, name: name, now: Date())
        let body = JSONValue.object([("ok", .bool(true)), ("name", .string(name)), ("roles", .array(Self.roles(stored.scope).map(JSONValue.string)))])
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .setCookie: cookies.header(value, secure: services.configuration.baseURL.hasPrefix("https://"))],
            body: .init(byteBuffer: ByteBuffer(string: body.jsonString))
        )
    }

    /// `GET /db/_session`: who the request is, as CouchDB says it (`userCtx`), and how it signed in.
    @Sendable func session(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let cookie = request.cookies[CouchSessionCookie.name].flatMap { CouchSessionCookie(secretBox: services.secretBox).open($0.value, now: Date()) }
        var name: JSONValue = .null
        var method: JSONValue = .null
        if let principal = context.principal {
            if let cookie, request.headers[.authorization] == nil {
                (name, method) = (.string(cookie.name), .string("cookie"))
            } else {
                let user = request.headers[.authorization].flatMap(TokenAuthMiddleware.basicCredentials)?.user ?? "token \(principal.tokenID)"
                (name, method) = (.string(user), .string("default"))
            }
        }
        let roles = context.principal.map { Self.roles($0.scope) } ?? []
        return JSONResponse(status: .ok, body: .object([
            ("ok", .bool(true)), ("userCtx", .object([("name", name), ("roles", .array(roles.map(JSONValue.string)))])),
            ("info", .object([("authentication_handlers", .array([.string("cookie"), .string("default")])), ("authenticated", method)])),
        ]))
    }

    /// `DELETE /db/_session`: the cookie is cleared.
    @Sendable func deleteSession(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let cookies = CouchSessionCookie(secretBox: services.secretBox)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .setCookie: cookies.header("", secure: services.configuration.baseURL.hasPrefix("https://"), maxAge: 0)],
            body: .init(byteBuffer: ByteBuffer(string: #"{"ok":true}"#))
        )
    }

    /// CouchDB's roles for a token's scope: an admin token is `_admin`.
    static func roles(_ scope: TokenScope) -> [String] {
        scope == .admin ? ["_admin", "admin"] : [scope.rawValue]
    }
}
