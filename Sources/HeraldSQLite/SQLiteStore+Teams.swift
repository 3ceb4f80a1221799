import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: TeamStore {
    public func createTeam(name: String, slug: String, now: Date) async throws -> Team {
        do {
            return try await pool.write { db in
                try db.execute(sql: "INSERT INTO teams (name, slug, created_at) VALUES (?, ?, ?)", arguments: [name, slug, now.unixSeconds])
                return Team(id: db.lastInsertedRowID, name: name, slug: slug, createdAt: now)
            }
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw StoreError.conflict("a team with slug \(slug) exists")
        }
    }

    public func teams() async throws -> [Team] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM teams ORDER BY id").map(Self.team) }
    }

    public func team(id: Int64) async throws -> Team? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM teams WHERE id = ?", arguments: [id]).map(Self.team) }
    }

    public func team(slug: String) async throws -> Team? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM teams WHERE slug = ?", arguments: [slug]).map(Self.team) }
    }

    public func setExtraChannels(_ channels: [String], teamID: Int64) async throws -> Team? {
        try await pool.write { db in
            try db.execute(sql: "UPDATE teams SET extra_channels = ? WHERE id = ?", arguments: [encodeStringArray(channels), teamID])
            try Self.hooksChanged(db)
            return try Row.fetchOne(db, sql: "SELECT * FROM teams WHERE id = ?", arguments: [teamID]).map(Self.team)
        }
    }

    public func renameTeam(id: Int64, name: String) async throws -> Team? {
        try await pool.write { db in
            try db.execute(sql: "UPDATE teams SET name = ? WHERE id = ?", arguments: [name, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM teams WHERE id = ?", arguments: [id]).map(Self.team)
        }
    }

    public func deleteTeam(id: Int64) async throws -> TeamDeletion {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM teams WHERE id = ?", arguments: [id]) != nil else { return .notFound }
            let hooks = try Int.fetchOne(db, sql: "SELECT count(*) FROM hooks WHERE team_id = ?", arguments: [id]) ?? 0
            let members = try Int.fetchOne(db, sql: "SELECT count(*) FROM users WHERE team_id = ?", arguments: [id]) ?? 0
            let tokens = try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE team_id = ?", arguments: [id]) ?? 0
            guard hooks + members + tokens == 0 else { return .inUse(hooks: hooks, members: members, tokens: tokens) }
            try db.execute(sql: "DELETE FROM teams WHERE id = ?", arguments: [id])
            return .deleted
        }
    }

    static func team(_ row: Row) -> Team {
        Team(id: row["id"], name: row["name"], slug: row["slug"], createdAt: row.date("created_at"), extraChannels: row.stringArray("extra_channels"))
    }
}

extension SQLiteStore: TokenStore {
    public func createToken(
        name: String, scope: TokenScope, teamID: Int64?, hash: String, prefix: String, createdBy: String?, createdByUserID: Int64?, now: Date
    ) async throws -> APIToken {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO tokens (name, scope, team_id, hash, prefix, created_at, created_by, created_by_user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [name, scope.rawValue, teamID, hash, prefix, now.unixSeconds, createdBy, createdByUserID]
            )
            return APIToken(
                id: db.lastInsertedRowID, name: name, scope: scope, teamID: teamID, prefix: prefix, createdAt: now, createdBy: createdBy,
                createdByUserID: createdByUserID
            )
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE hash = ?", arguments: [hash]).map(Self.token) }
    }

    public func tokens(teamID: Int64?) async throws -> [APIToken] {
        try await pool.read { db in
            if let teamID {
                return try Row.fetchAll(db, sql: "SELECT * FROM tokens WHERE team_id = ? ORDER BY id", arguments: [teamID]).map(Self.token)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY id").map(Self.token)
        }
    }

    public func deleteToken(id: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM tokens WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func markTokenUsed(id: Int64, at date: Date) async throws {
        try await pool.write { db in try db.execute(sql: "UPDATE tokens SET last_used_at = ? WHERE id = ?", arguments: [date.unixSeconds, id]) }
    }

    static func token(_ row: Row) -> APIToken {
        APIToken(
            id: row["id"], name: row["name"], scope: TokenScope(rawValue: row["scope"]) ?? .team, teamID: row["team_id"], prefix: row["prefix"],
            createdAt: row.date("created_at"), lastUsedAt: row.optionalDate("last_used_at"), createdBy: row["created_by"],
            createdByUserID: row["created_by_user_id"]
        )
    }
}

extension SQLiteStore: EventTypeStore {
    public func eventTypes() async throws -> [EventType] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM event_types ORDER BY name").map(Self.eventType) }
    }

    public func eventType(name: String) async throws -> EventType? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM event_types WHERE name = ?", arguments: [name]).map(Self.eventType)
        }
    }

    @discardableResult
    public func saveEventType(_ type: EventType) async throws -> Bool {
        try await pool.write { db in
            let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM event_types WHERE name = ?", arguments: [type.name]) ?? false
            try db.execute(
                sql: "INSERT OR REPLACE INTO event_types (name, description, schema, example, lifecycle) VALUES (?, ?, ?, ?, ?)",
                arguments: [type.name, type.description, type.schema?.jsonString, type.example?.jsonString, type.lifecycleJSON]
            )
            return !exists
        }
    }

    public func deleteEventType(name: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM event_types WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func seedEventTypes(_ types: [EventType]) async throws {
        try await pool.write { db in
            for type in types {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO event_types (name, description, schema, example, lifecycle) VALUES (?, ?, ?, ?, ?)",
                    arguments: [type.name, type.description, type.schema?.jsonString, type.example?.jsonString, type.lifecycleJSON]
                )
            }
        }
    }

    static func eventType(_ row: Row) -> EventType {
        var type = EventType(
            name: row["name"], description: row["description"],
            schema: (row["schema"] as String?).flatMap { try? JSONValue(parsing: $0) },
            example: (row["example"] as String?).flatMap { try? JSONValue(parsing: $0) }
        )
        type.readLifecycle(row["lifecycle"])
        return type
    }
}
