import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: UserStore {
    public func createUser(email: String, passwordHash: String, role: User.Role, teamID: Int64?, now: Date) async throws -> User {
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO users (email, password_hash, role, team_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [email, passwordHash, role.rawValue, teamID, now.unixSeconds]
                )
                return User(id: db.lastInsertedRowID, email: email, passwordHash: passwordHash, role: role, teamID: teamID, createdAt: now)
            }
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw StoreError.conflict("a user with email \(email) exists")
        }
    }

    public func user(id: Int64) async throws -> User? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(Self.user) }
    }

    public func user(email: String) async throws -> User? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM users WHERE email = ?", arguments: [email]).map(Self.user) }
    }

    public func users(teamID: Int64?) async throws -> [User] {
        try await pool.read { db in
            if let teamID {
                return try Row.fetchAll(db, sql: "SELECT * FROM users WHERE team_id = ? ORDER BY email", arguments: [teamID]).map(Self.user)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY email").map(Self.user)
        }
    }

    public func saveUser(_ user: User) async throws -> User? {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE users SET role = ?, team_id = ?, password_hash = ?, disabled = ?, must_change_password = ? WHERE id = ?",
                arguments: [user.role.rawValue, user.teamID, user.passwordHash, user.disabled, user.mustChangePassword, user.id]
            )
            guard db.changesCount > 0 else { return nil }
            if user.disabled { try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [user.id]) }
            return try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [user.id]).map(Self.user)
        }
    }

    public func deleteUser(id: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE user_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    static func user(_ row: Row) -> User {
        User(
            id: row["id"], email: row["email"], passwordHash: row["password_hash"], role: User.Role(rawValue: row["role"]) ?? .member,
            teamID: row["team_id"], createdAt: row.date("created_at"), disabled: row["disabled"], mustChangePassword: row["must_change_password"],
            lastSignInAt: row.optionalDate("last_sign_in_at")
        )
    }
}

extension SQLiteStore: SessionStore {
    public func createSession(_ session: Session, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ?", arguments: [now.unixSeconds])
            try db.execute(
                sql: "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [session.tokenHash, session.userID, session.csrfToken, now.unixSeconds, session.expiresAt.unixSeconds]
            )
            try db.execute(sql: "UPDATE users SET last_sign_in_at = ? WHERE id = ?", arguments: [now.unixSeconds, session.userID])
        }
    }

    public func session(tokenHash: String, now: Date) async throws -> (Session, User)? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT s.token_hash, s.csrf_token, s.expires_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id
                        WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0
                        """,
                    arguments: [tokenHash, now.unixSeconds]
                )
            else { return nil }
            let user = Self.user(row)
            return (Session(tokenHash: row["token_hash"], userID: user.id, csrfToken: row["csrf_token"], expiresAt: row.date("expires_at")), user)
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM sessions WHERE token_hash = ?", arguments: [tokenHash]) }
    }

    public func deleteSessions(userID: Int64, keeping: String?) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE user_id = ? AND token_hash IS NOT ?", arguments: [userID, keeping])
        }
    }

    public func setFlash(_ flash: Data, tokenHash: String) async throws {
        let (table, column) = Self.flashHolder(tokenHash)
        try await pool.write { db in try db.execute(sql: "UPDATE \(table) SET flash = ? WHERE \(column) = ?", arguments: [flash, tokenHash]) }
    }

    public func takeFlash(tokenHash: String) async throws -> Data? {
        let (table, column) = Self.flashHolder(tokenHash)
        return try await pool.write { db in
            let flash = try Data.fetchOne(db, sql: "SELECT flash FROM \(table) WHERE \(column) = ? AND flash IS NOT NULL", arguments: [tokenHash])
            if flash != nil { try db.execute(sql: "UPDATE \(table) SET flash = NULL WHERE \(column) = ?", arguments: [tokenHash]) }
            return flash
        }
    }

    /// Where a session's one-time message lives: a person's session row, or a portal link's.
    static func flashHolder(_ tokenHash: String) -> (table: String, column: String) {
        PortalLink.isPortalSession(hash: tokenHash) ? ("portal_links", "session_hash") : ("sessions", "token_hash")
    }
}

extension SQLiteStore: PortalLinkStore {
    public func createPortalLink(
        teamID: Int64, tokenHash: String, readOnly: Bool, expiresAt: Date, sessionLifetime: TimeInterval, createdBy: String, now: Date
    ) async throws -> PortalLink {
        try await pool.write { db in
            // Links a day past their use are forgotten as new ones are made.
            try db.execute(
                sql: "DELETE FROM portal_links WHERE MAX(expires_at, COALESCE(session_expires_at, 0)) < ?", arguments: [now.unixSeconds - 86_400]
            )
            try db.execute(
                sql: """
                    INSERT INTO portal_links (team_id, token_hash, read_only, expires_at, session_lifetime, created_by, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [teamID, tokenHash, readOnly, expiresAt.unixSeconds, sessionLifetime, createdBy, now.unixSeconds]
            )
            return PortalLink(
                id: db.lastInsertedRowID, teamID: teamID, readOnly: readOnly, expiresAt: expiresAt, sessionLifetime: sessionLifetime, createdBy: createdBy,
                createdAt: now
            )
        }
    }

    public func openPortalLink(tokenHash: String, sessionHash: String, csrfToken: String, from address: String?, now: Date) async throws -> PortalLink? {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE portal_links SET opened_at = ?, opened_from = ?, session_hash = ?, csrf_token = ?, session_expires_at = ? + session_lifetime
                    WHERE token_hash = ? AND opened_at IS NULL AND expires_at > ?
                    """,
                arguments: [now.unixSeconds, address, sessionHash, csrfToken, now.unixSeconds, tokenHash, now.unixSeconds]
            )
            guard db.changesCount > 0 else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM portal_links WHERE token_hash = ?", arguments: [tokenHash]).map(Self.portalLink)
        }
    }

    public func portalSession(sessionHash: String, now: Date) async throws -> PortalLink? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM portal_links WHERE session_hash = ? AND session_expires_at > ?", arguments: [sessionHash, now.unixSeconds]
            ).map(Self.portalLink)
        }
    }

    public func portalLinks(teamID: Int64?, now: Date) async throws -> [PortalLink] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM portal_links WHERE (? IS NULL OR team_id = ?) AND MAX(expires_at, COALESCE(session_expires_at, 0)) >= ?
                    ORDER BY id DESC
                    """,
                arguments: [teamID, teamID, now.unixSeconds - 86_400]
            ).map(Self.portalLink)
        }
    }

    public func revokePortalLink(id: Int64) async throws -> Bool {
        try await pool.write { db in
            // Spent and ended: it cannot be opened, and its session is over.
            try db.execute(
                sql: """
                    UPDATE portal_links SET expires_at = MIN(expires_at, created_at), session_hash = NULL,
                        session_expires_at = CASE WHEN session_expires_at IS NULL THEN NULL ELSE created_at END
                    WHERE id = ?
                    """,
                arguments: [id]
            )
            return db.changesCount > 0
        }
    }

    public func endPortalSession(sessionHash: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE portal_links SET session_hash = NULL, session_expires_at = opened_at WHERE session_hash = ?", arguments: [sessionHash])
        }
    }

    static func portalLink(_ row: Row) -> PortalLink {
        PortalLink(
            id: row["id"], teamID: row["team_id"], readOnly: row["read_only"], expiresAt: row.date("expires_at"), sessionLifetime: row["session_lifetime"],
            createdBy: row["created_by"], createdAt: row.date("created_at"), openedAt: row.optionalDate("opened_at"), openedFrom: row["opened_from"],
            sessionExpiresAt: row.optionalDate("session_expires_at"), csrfToken: row["csrf_token"]
        )
    }
}
