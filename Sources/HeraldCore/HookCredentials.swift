import Foundation

/// What a receiver demands beyond a signature: HTTP Basic credentials (given in the hook's URL as
/// `https://user:pass@host/`) and custom headers (an API key). Stored sealed with the hook's
/// ``SecretBox``; shown masked; recorded masked in the delivery log.
public struct HookCredentials: Sendable, Hashable, Codable {
    public var basicUser: String?
    public var basicPassword: String?
    /// Custom headers, in the order given.
    public var headers: [HTTPHeaderField]
    /// OAuth2 client credentials: each delivery carries a bearer token fetched from the token URL.
    public var oauth2: OAuth2ClientCredentials?
    /// A client certificate (PEM, leaf first) and its private key (PEM) for receivers that demand
    /// mutual TLS.
    public var clientCertificate: String?
    public var clientKey: String?

    public init(basicUser: String? = nil, basicPassword: String? = nil, headers: [HTTPHeaderField] = [], oauth2: OAuth2ClientCredentials? = nil) {
        self.basicUser = basicUser
        self.basicPassword = basicPassword
        self.headers = headers
        self.oauth2 = oauth2
    }

    public var isEmpty: Bool { basicUser == nil && headers.isEmpty && oauth2 == nil && clientCertificate == nil }

    /// What shows in place of a secret value.
    public static let mask = "********"

    /// The headers each request carries: `Authorization` first (Basic, or the OAuth2 bearer
    /// token given), then the custom ones.
    public func requestHeaders(bearerToken: String? = nil) -> [HTTPHeaderField] {
        var fields: [HTTPHeaderField] = []
        if let bearerToken {
            fields.append(HTTPHeaderField("Authorization", "Bearer " + bearerToken))
        } else if let basicUser {
            let pair = Data("\(basicUser):\(basicPassword ?? "")".utf8).base64EncodedString()
            fields.append(HTTPHeaderField("Authorization", "Basic " + pair))
        }
        return fields + headers
    }

    /// The same headers with their values masked, as the delivery log records them.
    public func maskedHeaders(bearerToken: String? = nil) -> [HTTPHeaderField] {
        requestHeaders(bearerToken: bearerToken).map { field in
            guard field.name == "Authorization", let scheme = field.value.split(separator: " ").first else { return HTTPHeaderField(field.name, Self.mask) }
            return HTTPHeaderField(field.name, "\(scheme) " + Self.mask)
        }
    }

    /// A URL's credentials taken out of it: the URL without its userinfo, and the user and password
    /// (percent-decoded). Nil when the URL has none.
    public static func splitURL(_ url: String) -> (url: String, user: String, password: String?)? {
        guard var components = URLComponents(string: url), let user = components.user, !user.isEmpty || components.password != nil else { return nil }
        let password = components.password
        components.user = nil
        components.password = nil
        guard let stripped = components.string else { return nil }
        return (stripped, user, password)
    }

    /// Headers a hook may not set: Herald writes them for every delivery.
    public static func isReservedHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return [
            "content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection", "authorization",
            // Hop-by-hop and framing fields: they change how the request is carried, not what it says.
            "expect", "te", "upgrade", "trailer", "content-encoding", "proxy-authorization", "proxy-connection", "keep-alive",
        ].contains(lower)
            || lower.hasPrefix("x-herald-") || lower.hasPrefix("x-hub-signature") || lower.hasPrefix("webhook-")
    }

    /// An RFC 9110 field name: a token.
    public static func isValidHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A field value without control characters (no CR or LF to split a request with).
    public static func isValidHeaderValue(_ value: String) -> Bool {
        value.utf8.count <= 4096 && value.unicodeScalars.allSatisfy { $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7f) }
    }
}

/// RFC 6749 §4.4: a client authenticates to the token URL (HTTP Basic, `client_secret_basic`) and
/// gets an access token it sends as `Authorization: Bearer`.
public struct OAuth2ClientCredentials: Sendable, Hashable, Codable {
    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String
    public var scope: String?

    public init(tokenURL: String, clientID: String, clientSecret: String, scope: String?) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scope = scope
    }

    /// The token request's form body.
    public var requestBody: String {
        var body = "grant_type=client_credentials"
        if let scope { body += "&scope=" + (scope.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? scope) }
        return body
    }

    /// `Authorization: Basic` with the client id and secret, form-encoded as RFC 6749 §2.3.1 asks.
    public var clientAuthorization: String {
        func encode(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
        }
        return "Basic " + Data("\(encode(clientID)):\(encode(clientSecret))".utf8).base64EncodedString()
    }

    /// The access token and its lifetime from a token response, or why there is none.
    public static func parseTokenResponse(_ body: String) -> Result<(token: String, expiresIn: Double), OAuth2TokenError> {
        guard let json = try? JSONValue(parsing: body), let token = json["access_token"]?.stringValue, !token.isEmpty else {
            return .failure(OAuth2TokenError(message: "the token response has no access_token"))
        }
        let expiresIn = json["expires_in"]?.intValue.map(Double.init) ?? 3600
        return .success((token, expiresIn))
    }
}

extension HookCredentials {
    /// Sealed for storage (nil when there is nothing to keep).
    public func sealed(with box: SecretBox) throws -> Data? {
        guard !isEmpty else { return nil }
        return try box.seal(String(decoding: try JSONEncoder().encode(self), as: UTF8.self))
    }

    public static func open(_ sealed: Data, with box: SecretBox) throws -> HookCredentials {
        try JSONDecoder().decode(HookCredentials.self, from: Data(try box.open(sealed).utf8))
    }
}
