import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A browser-like client for the web UI: keeps cookies, posts forms with the page's CSRF token,
/// does not follow redirects (tests look at them).
final class WebClient: Sendable {
    let baseURL: String
    private let cookies = Mutex<[String: String]>([:])
    /// Sent with every request (a proxy's `X-Forwarded-For`, say).
    let headers: [(String, String)]

    init(baseURL: String, headers: [(String, String)] = []) {
        self.baseURL = baseURL
        self.headers = headers
    }

    /// One client for all tests, for the whole test process: it does not follow redirects.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Page: Sendable {
        var status: Int
        var location: String?
        var html: String
        var headers: [(String, String)] = []

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        /// The first CSRF token on the page.
        var csrf: String? {
            guard let range = html.range(of: #"name="_csrf" value="([^"]+)""#, options: .regularExpression) else { return nil }
            return String(html[range].dropFirst(#"name="_csrf" value=""#.count).dropLast())
        }
    }

    /// The cookies, as a `Cookie` header (for a raw socket that streams).
    var cookieHeader: String { cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") } }

    func get(_ path: String) async throws -> Page {
        try await send(.GET, path, form: nil)
    }

    func post(_ path: String, _ fields: [(String, String)]) async throws -> Page {
        try await send(.POST, path, form: fields)
    }

    /// Loads `page`, then posts `fields` to `path` with the CSRF token the page carried.
    func submit(from page: String, to path: String, _ fields: [(String, String)]) async throws -> Page {
        let csrf = try await get(page).csrf ?? ""
        return try await post(path, [("_csrf", csrf)] + fields)
    }

    /// Follows a Post/Redirect/Get answer: the page its `303` leads to.
    func follow(_ page: Page) async throws -> Page {
        guard page.status == 303, let location = page.location else { return page }
        return try await get(location)
    }

    /// Signs in with the login form.
    func signIn(email: String, password: String) async throws -> Page {
        try await submit(from: "/login", to: "/login", [("email", email), ("password", password)])
    }

    private func send(_ method: HTTPMethod, _ path: String, form: [(String, String)]?) async throws -> Page {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "text/html")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let cookieHeader = cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !cookieHeader.isEmpty { request.headers.add(name: "Cookie", value: cookieHeader) }
        if let form {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let body = form.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
                .joined(separator: "&")
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.http.execute(request, timeout: .seconds(30))
        for value in response.headers["Set-Cookie"] {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            let name = String(pair[0]), content = pair.count > 1 ? String(pair[1]) : ""
            cookies.withLock { if content.isEmpty { $0[name] = nil } else { $0[name] = content } }
        }
        let html = String(buffer: try await response.body.collect(upTo: 8 << 20))
        return Page(
            status: Int(response.status.code), location: response.headers.first(name: "Location"), html: html,
            headers: response.headers.map { ($0.name, $0.value) }
        )
    }
}
