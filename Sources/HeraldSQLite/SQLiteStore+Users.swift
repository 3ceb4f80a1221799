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
        try await pool.write { db in try db.execute(sql: "UPDATE sessions SET flash = ? WHERE token_hash = ?", arguments: [flash, tokenHash]) }
    }

    public func takeFlash(tokenHash: String) async throws -> Data? {
        try await pool.write { db in
            let flash = try Data.fetchOne(db, sql: "SELECT flash FROM sessions WHERE token_hash = ? AND flash IS NOT NULL", arguments: [tokenHash])
            if flash != nil { try db.execute(sql: "UPDATE sessions SET flash = NULL WHERE token_hash = ?", arguments: [tokenHash]) }
            return flash
        }
    }
}
