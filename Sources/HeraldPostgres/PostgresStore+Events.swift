import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: EventStore {
    public func append(_ events: [NewEvent]) async throws -> [AppendedEvent] {
        try await write { db in try await Self.append(events, targetHookID: nil, in: db) }
    }

    /// Appends in the caller's transaction. The `event_seq` counter row is locked first and stays
    /// locked until the transaction ends, so appenders on every node take turns and `seq` order is
    /// commit order: a reader never sees seq N before every lower seq has committed. Idempotency
    /// keys are checked under that lock, so two nodes given the same key store one event.
    static func append(_ events: [NewEvent], targetHookID: Int64?, in db: SQL) async throws -> [AppendedEvent] {
        var seq = try await db.value("SELECT value FROM meta WHERE key = 'event_seq' FOR UPDATE", as: Int64.self) ?? 0
        var results: [AppendedEvent] = []
        results.reserveCapacity(events.count)
        var rows: [JSONValue] = []
        var keysInBatch: [String: Event] = [:]
        for new in events {
            if let key = new.idempotencyKey {
                let scoped = new.idempotencyScope + "\u{1}" + key
                if let earlier = keysInBatch[scoped] {
                    results.append(AppendedEvent(event: earlier, duplicate: true))
                    continue
                }
                if let existing = try await event(idempotencyKey: key, scope: new.idempotencyScope, in: db) {
                    results.append(AppendedEvent(event: existing, duplicate: true))
                    continue
                }
            }
            seq += 1
            let event = Event(
                seq: seq, id: new.id, type: new.type, data: new.data, channels: new.channels, idempotencyKey: new.idempotencyKey,
                timestamp: new.timestamp, version: new.version, traceContext: new.traceContext
            )
            if let key = new.idempotencyKey { keysInBatch[new.idempotencyScope + "\u{1}" + key] = event }
            rows.append(
                .object([
                    ("seq", .int(seq)), ("id", .string(new.id)), ("type", .string(new.type)), ("data", .string(new.data)),
                    ("channels", .string(encodeStringArray(new.channels))),
                    ("idempotency_scope", new.idempotencyKey.map { _ in .string(new.idempotencyScope) } ?? .null),
                    ("idempotency_key", new.idempotencyKey.map(JSONValue.string) ?? .null), ("target_hook_id", targetHookID.map(JSONValue.int) ?? .null),
                    ("created_at", .double(new.timestamp.unixSeconds)), ("version", new.version.map { .int(Int64($0)) } ?? .null),
                    ("trace_context", new.traceContext.map(JSONValue.string) ?? .null),
                ])
            )
            results.append(AppendedEvent(event: event, duplicate: false))
        }
        // A thousand rows a statement, as one JSON parameter: a batch costs a round trip, not one per event.
        for start in stride(from: 0, to: rows.count, by: 1000) {
            let chunk = JSONValue.array(Array(rows[start..<min(rows.count, start + 1000)])).jsonString
            try await db.run(
                """
                INSERT INTO events (seq, id, type, data, channels, idempotency_scope, idempotency_key, target_hook_id, created_at, version, trace_context)
                SELECT seq, id, type, data, channels, idempotency_scope, idempotency_key, target_hook_id, created_at, version, trace_context
                FROM jsonb_to_recordset(\(chunk)::jsonb) AS t(seq bigint, id text, type text, data text, channels text, idempotency_scope text,
                    idempotency_key text, target_hook_id bigint, created_at double precision, version integer, trace_context text)
                """
            )
        }
        try await db.run("UPDATE meta SET value = \(seq) WHERE key = 'event_seq'")
        if targetHookID == nil, !rows.isEmpty { try await db.notify(.events) }
        return results
    }

    static func event(idempotencyKey key: String, scope: String, in db: SQL) async throws -> Event? {
        try await db.one("SELECT * FROM events WHERE idempotency_scope = \(scope) AND idempotency_key = \(key)").map(event)
    }

    public func events(since seq: Int64, limit: Int) async throws -> [Event] {
        try await read { db in
            try await db.all("SELECT * FROM events WHERE seq > \(seq) AND target_hook_id IS NULL ORDER BY seq LIMIT \(limit)").map(Self.event)
        }
    }

    public func documentEvents(database: String, id: String, limit: Int) async throws -> [Event] {
        try await read { db in
            try await db.all(
                """
                SELECT * FROM events WHERE type = \(DatabaseInfo.changeEventType(database))
                    AND data::jsonb ->> 'id' = \(id) AND data::jsonb ->> 'database' = \(database) ORDER BY seq DESC LIMIT \(limit)
                """
            ).map(Self.event)
        }
    }

    public func events(idempotencyKeys keys: [String], scope: String) async throws -> [String: Event] {
        try await read { db in
            var found: [String: Event] = [:]
            for key in Set(keys) {
                if let event = try await Self.event(idempotencyKey: key, scope: scope, in: db) { found[key] = event }
            }
            return found
        }
    }

    public func checkWritable() async throws {
        try await write { db in
            try await db.run(
                "INSERT INTO settings (key, value) VALUES ('ready_probe', '\\x00'::bytea) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
        }
    }

    public func lastSeq() async throws -> Int64 {
        try await read { db in try await db.value("SELECT value FROM meta WHERE key = 'event_seq'", as: Int64.self) ?? 0 }
    }

    static func event(_ row: PGRow) throws -> Event {
        Event(
            seq: try row("seq"), id: try row("id"), type: try row("type"), data: try row("data"), channels: try row.stringArray("channels"),
            idempotencyKey: try row("idempotency_key"), timestamp: try row.date("created_at"), version: (try row("version", as: Int32?.self)).map(Int.init),
            traceContext: try row("trace_context")
        )
    }
}

extension PostgresStore {
    /// The active hooks as of this statement (``HookIndexCache``).
    func activeHooks(_ db: SQL) async throws -> ActiveHooks {
        try await activeHooks(db, version: try await db.value("SELECT value FROM meta WHERE key = 'hooks_version'", as: Int64.self) ?? 0)
    }

    /// The active hooks at `version` (read in this transaction), from the cache when it has them.
    func activeHooks(_ db: SQL, version: Int64) async throws -> ActiveHooks {
        try await hookIndex.activeHooks(at: version) {
            (
                hooks: try await db.all("SELECT * FROM hooks WHERE active").map(Self.hook),
                teams: try await db.all("SELECT * FROM teams WHERE id IN (SELECT DISTINCT team_id FROM hooks WHERE active)").map(Self.team)
            )
        }
    }

    /// Call in every transaction that changes what fan-out or claims read of hooks (settings, keys,
    /// `active`) or a team's channels.
    static func hooksChanged(_ db: SQL) async throws {
        try await db.run("UPDATE meta SET value = (random() * 9e18)::bigint WHERE key = 'hooks_version'")
    }
}
