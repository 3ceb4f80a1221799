import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: UserStore {
    public func createUser(email: String, passwordHash: String, role: User.Role, teamID: Int64?, now: Date) async throws -> User {
        do {
            return try await write { db in
                let id = try await db.value(
                    """
                    INSERT INTO users (email, password_hash, role, team_id, created_at)
                    VALUES (\(email), \(passwordHash), \(role.rawValue), \(teamID), \(now.unixSeconds)) RETURNING id
                    """,
                    as: Int64.self
                )!
                return User(id: id, email: email, passwordHash: passwordHash, role: role, teamID: teamID, createdAt: now)
            }
        } catch where error.isUniqueViolation {
            throw StoreError.conflict("a user with email \(email) exists")
        }
    }

    public func user(id: Int64) async throws -> User? {
        try await read { db in try await db.one("SELECT * FROM users WHERE id = \(id)").map(Self.user) }
    }

    public func user(email: String) async throws -> User? {
        try await read { db in try await db.one("SELECT * FROM users WHERE lower(email) = lower(\(email))").map(Self.user) }
    }

    public func users(teamID: Int64?) async throws -> [User] {
        try await read { db in
            if let teamID { return try await db.all("SELECT * FROM users WHERE team_id = \(teamID) ORDER BY email").map(Self.user) }
            return try await db.all("SELECT * FROM users ORDER BY email").map(Self.user)
        }
    }

    public func saveUser(_ user: User) async throws -> User? {
        try await write { db in
            guard
                let row = try await db.one(
                    """
                    UPDATE users SET role = \(user.role.rawValue), team_id = \(user.teamID), password_hash = \(user.passwordHash),
                    disabled = \(user.disabled), must_change_password = \(user.mustChangePassword) WHERE id = \(user.id) RETURNING *
                    """
                )
            else { return nil }
            if user.disabled { try await db.run("DELETE FROM sessions WHERE user_id = \(user.id)") }
            return try Self.user(row)
        }
    }

    public func deleteUser(id: Int64) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM users WHERE id = \(id) RETURNING id") > 0 }
    }

    static func user(_ row: PGRow) throws -> User {
        User(
            id: try row("id"), email: try row("email"), passwordHash: try row("password_hash"), role: User.Role(rawValue: try row("role")) ?? .member,
            teamID: try row("team_id"), createdAt: try row.date("created_at"), disabled: try row("disabled"),
            mustChangePassword: try row("must_change_password"), lastSignInAt: try row.optionalDate("last_sign_in_at")
        )
    }
}

extension PostgresStore: SessionStore {
    public func createSession(_ session: Session, now: Date) async throws {
        try await write { db in
            try await db.run("DELETE FROM sessions WHERE expires_at < \(now.unixSeconds)")
            try await db.run(
                """
                INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
                VALUES (\(session.tokenHash), \(session.userID), \(session.csrfToken), \(now.unixSeconds), \(session.expiresAt.unixSeconds))
                """
            )
            try await db.run("UPDATE users SET last_sign_in_at = \(now.unixSeconds) WHERE id = \(session.userID)")
        }
    }

    public func session(tokenHash: String, now: Date) async throws -> (Session, User)? {
        let found: (Session, User)? = try await read { db in
            guard
                let row = try await db.one(
                    """
                    SELECT s.token_hash, s.csrf_token, s.expires_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id
                    WHERE s.token_hash = \(tokenHash) AND s.expires_at > \(now.unixSeconds) AND NOT u.disabled
                    """
                )
            else { return nil }
            let user = try Self.user(row)
            return (Session(tokenHash: try row("token_hash"), userID: user.id, csrfToken: try row("csrf_token"), expiresAt: try row.date("expires_at")), user)
        }
        return found
    }

    public func deleteSession(tokenHash: String) async throws {
        try await write { db in try await db.run("DELETE FROM sessions WHERE token_hash = \(tokenHash)") }
    }

    public func deleteSessions(userID: Int64, keeping: String?) async throws {
        try await write { db in try await db.run("DELETE FROM sessions WHERE user_id = \(userID) AND token_hash IS DISTINCT FROM \(keeping)") }
    }

    public func setFlash(_ flash: Data, tokenHash: String) async throws {
        try await write { db in
            if PortalLink.isPortalSession(hash: tokenHash) {
                try await db.run("UPDATE portal_links SET flash = \(flash) WHERE session_hash = \(tokenHash)")
            } else {
                try await db.run("UPDATE sessions SET flash = \(flash) WHERE token_hash = \(tokenHash)")
            }
        }
    }

    public func takeFlash(tokenHash: String) async throws -> Data? {
        try await write { db in
            // The value before this statement's update: taken once, whichever node asks.
            if PortalLink.isPortalSession(hash: tokenHash) {
                return try await db.value(
                    """
                    UPDATE portal_links p SET flash = NULL FROM (SELECT id, flash FROM portal_links WHERE session_hash = \(tokenHash) FOR UPDATE) old
                    WHERE p.id = old.id AND old.flash IS NOT NULL RETURNING old.flash
                    """,
                    as: Data.self
                )
            }
            return try await db.value(
                """
                UPDATE sessions s SET flash = NULL FROM (SELECT token_hash, flash FROM sessions WHERE token_hash = \(tokenHash) FOR UPDATE) old
                WHERE s.token_hash = old.token_hash AND old.flash IS NOT NULL RETURNING old.flash
                """,
                as: Data.self
            )
        }
    }
}

extension PostgresStore: PortalLinkStore {
    public func createPortalLink(
        teamID: Int64, tokenHash: String, readOnly: Bool, expiresAt: Date, sessionLifetime: TimeInterval, createdBy: String, now: Date
    ) async throws -> PortalLink {
        try await write { db in
            // Links a day past their use are forgotten as new ones are made.
            try await db.run("DELETE FROM portal_links WHERE GREATEST(expires_at, COALESCE(session_expires_at, 0)) < \(now.unixSeconds - 86_400)")
            let id = try await db.value(
                """
                INSERT INTO portal_links (team_id, token_hash, read_only, expires_at, session_lifetime, created_by, created_at)
                VALUES (\(teamID), \(tokenHash), \(readOnly), \(expiresAt.unixSeconds), \(sessionLifetime), \(createdBy), \(now.unixSeconds))
                RETURNING id
                """,
                as: Int64.self
            )
            return PortalLink(
                id: id ?? 0, teamID: teamID, readOnly: readOnly, expiresAt: expiresAt, sessionLifetime: sessionLifetime, createdBy: createdBy, createdAt: now
            )
        }
    }

    public func openPortalLink(tokenHash: String, sessionHash: String, csrfToken: String, from address: String?, now: Date) async throws -> PortalLink? {
        try await write { db in
            try await db.one(
                """
                UPDATE portal_links SET opened_at = \(now.unixSeconds), opened_from = \(address), session_hash = \(sessionHash),
                    csrf_token = \(csrfToken), session_expires_at = \(now.unixSeconds) + session_lifetime
                WHERE token_hash = \(tokenHash) AND opened_at IS NULL AND expires_at > \(now.unixSeconds)
                RETURNING *
                """
            ).map(Self.portalLink)
        }
    }

    public func portalSession(sessionHash: String, now: Date) async throws -> PortalLink? {
        try await read { db in
            try await db.one("SELECT * FROM portal_links WHERE session_hash = \(sessionHash) AND session_expires_at > \(now.unixSeconds)").map(Self.portalLink)
        }
    }

    public func portalLinks(teamID: Int64?, now: Date) async throws -> [PortalLink] {
        try await read { db in
            try await db.all(
                """
                SELECT * FROM portal_links
                WHERE (\(teamID)::bigint IS NULL OR team_id = \(teamID)) AND GREATEST(expires_at, COALESCE(session_expires_at, 0)) >= \(now.unixSeconds - 86_400)
                ORDER BY id DESC
                """
            ).map(Self.portalLink)
        }
    }

    public func revokePortalLink(id: Int64) async throws -> Bool {
        try await write { db in
            // Spent and ended: it cannot be opened, and its session is over.
            try await db.value(
                """
                UPDATE portal_links SET expires_at = LEAST(expires_at, created_at), session_hash = NULL,
                    session_expires_at = CASE WHEN session_expires_at IS NULL THEN NULL ELSE created_at END
                WHERE id = \(id) RETURNING id
                """,
                as: Int64.self
            ) != nil
        }
    }

    public func endPortalSession(sessionHash: String) async throws {
        try await write { db in
            try await db.run("UPDATE portal_links SET session_hash = NULL, session_expires_at = opened_at WHERE session_hash = \(sessionHash)")
        }
    }

    static func portalLink(_ row: PGRow) throws -> PortalLink {
        PortalLink(
            id: try row("id"), teamID: try row("team_id"), readOnly: try row("read_only"), expiresAt: try row.date("expires_at"),
            sessionLifetime: try row("session_lifetime"), createdBy: try row("created_by"), createdAt: try row.date("created_at"),
            openedAt: try row.optionalDate("opened_at"), openedFrom: try row("opened_from"), sessionExpiresAt: try row.optionalDate("session_expires_at"),
            csrfToken: try row("csrf_token")
        )
    }
}
