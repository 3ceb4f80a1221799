import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: TeamStore {
    public func createTeam(name: String, slug: String, now: Date) async throws -> Team {
        do {
            return try await write { db in
                let id = try await db.value(
                    "INSERT INTO teams (name, slug, created_at) VALUES (\(name), \(slug), \(now.unixSeconds)) RETURNING id", as: Int64.self
                )!
                return Team(id: id, name: name, slug: slug, createdAt: now)
            }
        } catch where error.isUniqueViolation {
            throw StoreError.conflict("a team with slug \(slug) exists")
        }
    }

    public func teams() async throws -> [Team] {
        try await read { db in try await db.all("SELECT * FROM teams ORDER BY id").map(Self.team) }
    }

    public func team(id: Int64) async throws -> Team? {
        try await read { db in try await db.one("SELECT * FROM teams WHERE id = \(id)").map(Self.team) }
    }

    public func team(slug: String) async throws -> Team? {
        try await read { db in try await db.one("SELECT * FROM teams WHERE slug = \(slug)").map(Self.team) }
    }

    public func setExtraChannels(_ channels: [String], teamID: Int64) async throws -> Team? {
        try await write { db in
            guard let row = try await db.one("UPDATE teams SET extra_channels = \(encodeStringArray(channels)) WHERE id = \(teamID) RETURNING *")
            else { return nil }
            try await Self.hooksChanged(db)
            return try Self.team(row)
        }
    }

    public func renameTeam(id: Int64, name: String) async throws -> Team? {
        try await write { db in try await db.one("UPDATE teams SET name = \(name) WHERE id = \(id) RETURNING *").map(Self.team) }
    }

    public func deleteTeam(id: Int64) async throws -> TeamDeletion {
        try await write { db in
            // The team's row locked first: a hook, member or token made for it meanwhile waits (their
            // foreign key takes a share lock on it) and then fails, rather than being deleted with it.
            guard try await db.one("SELECT id FROM teams WHERE id = \(id) FOR UPDATE") != nil else { return .notFound }
            let hooks = try await db.value("SELECT count(*) FROM hooks WHERE team_id = \(id)", as: Int64.self) ?? 0
            let members = try await db.value("SELECT count(*) FROM users WHERE team_id = \(id)", as: Int64.self) ?? 0
            let tokens = try await db.value("SELECT count(*) FROM tokens WHERE team_id = \(id)", as: Int64.self) ?? 0
            guard hooks + members + tokens == 0 else { return .inUse(hooks: Int(hooks), members: Int(members), tokens: Int(tokens)) }
            try await db.run("DELETE FROM teams WHERE id = \(id)")
            return .deleted
        }
    }

    static func team(_ row: PGRow) throws -> Team {
        Team(id: try row("id"), name: try row("name"), slug: try row("slug"), createdAt: try row.date("created_at"), extraChannels: try row.stringArray("extra_channels"))
    }
}

extension PostgresStore: TokenStore {
    public func createToken(
        name: String, scope: TokenScope, teamID: Int64?, hash: String, prefix: String, createdBy: String?, createdByUserID: Int64?, now: Date
    ) async throws -> APIToken {
        try await write { db in
            let id = try await db.value(
                """
                INSERT INTO tokens (name, scope, team_id, hash, prefix, created_at, created_by, created_by_user_id)
                VALUES (\(name), \(scope.rawValue), \(teamID), \(hash), \(prefix), \(now.unixSeconds), \(createdBy), \(createdByUserID)) RETURNING id
                """,
                as: Int64.self
            )!
            return APIToken(
                id: id, name: name, scope: scope, teamID: teamID, prefix: prefix, createdAt: now, createdBy: createdBy, createdByUserID: createdByUserID
            )
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await read { db in try await db.one("SELECT * FROM tokens WHERE hash = \(hash)").map(Self.token) }
    }

    public func tokens(teamID: Int64?) async throws -> [APIToken] {
        try await read { db in
            if let teamID { return try await db.all("SELECT * FROM tokens WHERE team_id = \(teamID) ORDER BY id").map(Self.token) }
            return try await db.all("SELECT * FROM tokens ORDER BY id").map(Self.token)
        }
    }

    public func deleteToken(id: Int64) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM tokens WHERE id = \(id) RETURNING id") > 0 }
    }

    public func markTokenUsed(id: Int64, at date: Date) async throws {
        try await write { db in try await db.run("UPDATE tokens SET last_used_at = \(date.unixSeconds) WHERE id = \(id)") }
    }

    static func token(_ row: PGRow) throws -> APIToken {
        APIToken(
            id: try row("id"), name: try row("name"), scope: TokenScope(rawValue: try row("scope")) ?? .team, teamID: try row("team_id"),
            prefix: try row("prefix"), createdAt: try row.date("created_at"), lastUsedAt: try row.optionalDate("last_used_at"),
            createdBy: try row("created_by"), createdByUserID: try row("created_by_user_id")
        )
    }
}

extension PostgresStore: EventTypeStore {
    public func eventTypes() async throws -> [EventType] {
        try await read { db in try await db.all("SELECT * FROM event_types ORDER BY name").map(Self.eventType) }
    }

    public func eventType(name: String) async throws -> EventType? {
        try await read { db in try await db.one("SELECT * FROM event_types WHERE name = \(name)").map(Self.eventType) }
    }

    @discardableResult
    public func saveEventType(_ type: EventType) async throws -> Bool {
        try await write { db in
            // xmax = 0 only on a row this statement inserted.
            try await db.value(
                """
                INSERT INTO event_types (name, description, schema, example, lifecycle)
                VALUES (\(type.name), \(type.description), \(type.schema?.jsonString), \(type.example?.jsonString), \(type.lifecycleJSON))
                ON CONFLICT (name) DO UPDATE SET description = excluded.description, schema = excluded.schema, example = excluded.example,
                    lifecycle = excluded.lifecycle
                RETURNING (xmax = 0)
                """,
                as: Bool.self
            ) ?? false
        }
    }

    public func deleteEventType(name: String) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM event_types WHERE name = \(name) RETURNING name") > 0 }
    }

    public func seedEventTypes(_ types: [EventType]) async throws {
        try await write { db in
            for type in types {
                try await db.run(
                    """
                    INSERT INTO event_types (name, description, schema, example, lifecycle)
                    VALUES (\(type.name), \(type.description), \(type.schema?.jsonString), \(type.example?.jsonString), \(type.lifecycleJSON))
                    ON CONFLICT (name) DO NOTHING
                    """
                )
            }
        }
    }

    static func eventType(_ row: PGRow) throws -> EventType {
        var type = EventType(
            name: try row("name"), description: try row("description"),
            schema: try row("schema", as: String?.self).flatMap { try? JSONValue(parsing: $0) },
            example: try row("example", as: String?.self).flatMap { try? JSONValue(parsing: $0) }
        )
        type.readLifecycle(try row("lifecycle", as: String?.self))
        return type
    }
}

