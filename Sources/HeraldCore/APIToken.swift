import Crypto
import Foundation
import HeraldVerify

/// What a token may do.
public enum TokenScope: String, Sendable, Codable, CaseIterable {
    /// Everything.
    case admin
    /// Emit events, write documents, read every delivery log.
    case provider
    /// Its own team's hooks, deliveries and feed.
    case team
}

/// An API token's stored form. The token itself is shown once and only its SHA-256 is kept.
public struct APIToken: Sendable, Hashable, Codable {
    /// The longest name a token may have, from the API and the pages alike.
    public static let maxNameLength = 200
    /// A token's name as given, trimmed; a blank one is "token".
    public static func name(_ given: String?) -> String {
        let trimmed = given?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return trimmed.isEmpty ? "token" : trimmed
    }

    public var id: Int64
    public var name: String
    public var scope: TokenScope
    public var teamID: Int64?
    /// The first characters of the token, to recognise it in lists.
    public var prefix: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    /// Who made it: an email, `token N` or `command line`; nil for tokens older than the field.
    public var createdBy: String?
    public var createdByUserID: Int64?

    public init(
        id: Int64, name: String, scope: TokenScope, teamID: Int64?, prefix: String, createdAt: Date, lastUsedAt: Date? = nil, createdBy: String? = nil,
        createdByUserID: Int64? = nil
    ) {
        self.id = id
        self.name = name
        self.scope = scope
        self.teamID = teamID
        self.prefix = prefix
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.createdBy = createdBy
        self.createdByUserID = createdByUserID
    }

    public static let tokenPrefix = "hrld_"

    /// A new random token (`hrld_` + 32 random bytes, base64url).
    public static func generateSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        let text = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return tokenPrefix + text
    }

    /// The stored hash of a token. Tokens carry 256 random bits, so a fast hash is enough.
    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).hexString
    }
}

/// Who is calling, once a token has been checked.
public struct Principal: Sendable, Hashable {
    public var tokenID: Int64
    public var scope: TokenScope
    public var teamID: Int64?

    public init(tokenID: Int64, scope: TokenScope, teamID: Int64?) {
        self.tokenID = tokenID
        self.scope = scope
        self.teamID = teamID
    }

    /// Whether this principal may see and change resources of `team`.
    public func canAccess(team: Int64) -> Bool {
        switch scope {
        case .admin: true
        case .provider: false
        case .team: teamID == team
        }
    }
}

extension TokenStore {
    /// Creates a token and returns it with its secret, which is shown once and never stored (only
    /// its hash and a recognisable prefix are). Every way of issuing a token goes through here.
    public func issueToken(
        name: String, scope: TokenScope, teamID: Int64?, createdBy: String? = nil, createdByUserID: Int64? = nil, now: Date = Date()
    ) async throws -> (token: APIToken, secret: String) {
        let secret = APIToken.generateSecret()
        let token = try await createToken(
            name: name, scope: scope, teamID: teamID, hash: APIToken.hash(secret), prefix: String(secret.prefix(12)), createdBy: createdBy,
            createdByUserID: createdByUserID, now: now
        )
        return (token, secret)
    }
}
