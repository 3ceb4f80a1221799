import Foundation

/// What a receiver demands beyond a signature: HTTP Basic credentials (given in the hook's URL as
/// `https://user:pass@host/`) and custom headers (an API key). Stored sealed with the hook's
/// ``SecretBox``; shown masked; recorded masked in the delivery log.
public struct HookCredentials: Sendable, Hashable, Codable {
    public var basicUser: String?
    public var basicPassword: String?
    /// Custom headers, in the order given.
    public var headers: [HTTPHeaderField]

    public init(basicUser: String? = nil, basicPassword: String? = nil, headers: [HTTPHeaderField] = []) {
        self.basicUser = basicUser
        self.basicPassword = basicPassword
        self.headers = headers
    }

    public var isEmpty: Bool { basicUser == nil && headers.isEmpty }

    /// What shows in place of a secret value.
    public static let mask = "********"

    /// The headers each request carries: `Authorization: Basic …` first, then the custom ones.
    public var requestHeaders: [HTTPHeaderField] {
        var fields: [HTTPHeaderField] = []
        if let basicUser {
            let pair = Data("\(basicUser):\(basicPassword ?? "")".utf8).base64EncodedString()
            fields.append(HTTPHeaderField("Authorization", "Basic " + pair))
        }
        return fields + headers
    }

    /// The same headers with their values masked, as the delivery log records them.
    public var maskedHeaders: [HTTPHeaderField] {
        requestHeaders.map { HTTPHeaderField($0.name, $0.name == "Authorization" && basicUser != nil ? "Basic " + Self.mask : Self.mask) }
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
        return ["content-type", "content-length", "host", "user-agent", "transfer-encoding", "connection", "authorization"].contains(lower)
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
