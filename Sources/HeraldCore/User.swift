import Crypto
import Foundation

/// A person who signs in to the web UI.
public struct User: Sendable, Hashable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Sees and manages everything.
        case admin
        /// Sees and manages their team's hooks, deliveries and tokens.
        case member
    }

    public var id: Int64
    public var email: String
    /// A bcrypt hash.
    public var passwordHash: String
    public var role: Role
    public var teamID: Int64?
    public var createdAt: Date

    public init(id: Int64, email: String, passwordHash: String, role: Role, teamID: Int64?, createdAt: Date) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.role = role
        self.teamID = teamID
        self.createdAt = createdAt
    }

    /// A loose but useful check: one @, a dot in the domain, no spaces.
    public static func isValidEmail(_ email: String) -> Bool { JSONSchema.looksLikeEmail(email) && email.count <= 254 }

    /// Whether this user may see and change resources of `team`.
    public func canAccess(team: Int64) -> Bool { role == .admin || teamID == team }
}

/// A signed-in browser session. The cookie holds a random token; the store keeps its SHA-256.
public struct Session: Sendable, Hashable {
    public var tokenHash: String
    public var userID: Int64
    /// The token every form of this session must carry.
    public var csrfToken: String
    public var expiresAt: Date

    public init(tokenHash: String, userID: Int64, csrfToken: String, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.csrfToken = csrfToken
        self.expiresAt = expiresAt
    }

    /// A random URL-safe token of 256 bits.
    public static func randomToken() -> String {
        let key = SymmetricKey(size: .bits256)
        return key.withUnsafeBytes { Data($0) }.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
