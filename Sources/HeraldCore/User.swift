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
    /// A disabled user cannot sign in, and their sessions end.
    public var disabled: Bool
    /// Set by an administrator's reset: every page but the account page asks for a new password.
    public var mustChangePassword: Bool
    public var lastSignInAt: Date?

    public init(
        id: Int64, email: String, passwordHash: String, role: Role, teamID: Int64?, createdAt: Date, disabled: Bool = false,
        mustChangePassword: Bool = false, lastSignInAt: Date? = nil
    ) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.role = role
        self.teamID = teamID
        self.createdAt = createdAt
        self.disabled = disabled
        self.mustChangePassword = mustChangePassword
        self.lastSignInAt = lastSignInAt
    }

    public static let minimumPasswordLength = 10

    /// What is wrong with `password` as a new password, or nil when it will do.
    public static func passwordProblem(_ password: String) -> String? {
        if password.count < minimumPasswordLength { return "must have at least \(minimumPasswordLength) characters" }
        if password.utf8.count > 72 { return "must be at most 72 bytes (bcrypt reads no further)" }
        return nil
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
