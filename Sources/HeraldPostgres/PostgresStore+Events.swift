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
        var rows = EventColumns()
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
            rows.append(event, scope: new.idempotencyScope)
            results.append(AppendedEvent(event: event, duplicate: false))
        }
        // One array per column in PostgreSQL's binary form: a batch is one statement, and an
        // event's data travels as its own bytes, neither escaped into JSON nor parsed back.
        if !rows.seq.isEmpty {
            try await db.run(
                """
                INSERT INTO events (seq, id, type, data, channels, idempotency_scope, idempotency_key, target_hook_id, created_at, version, trace_context)
                SELECT seq, id, type, data, channels, CASE WHEN keyed THEN idempotency_scope END, CASE WHEN keyed THEN idempotency_key END,
                    \(targetHookID), created_at, NULLIF(version, -1), CASE WHEN traced THEN trace_context END
                FROM unnest(\(rows.seq)::bigint[], \(rows.id)::text[], \(rows.type)::text[], \(rows.data)::text[], \(rows.channels)::text[],
                    \(rows.keyed)::boolean[], \(rows.idempotencyScope)::text[], \(rows.idempotencyKey)::text[], \(rows.createdAt)::double precision[],
                    \(rows.version)::integer[], \(rows.traced)::boolean[], \(rows.traceContext)::text[])
                    AS t(seq, id, type, data, channels, keyed, idempotency_scope, idempotency_key, created_at, version, traced, trace_context)
                """
            )
        }
        try await db.run("UPDATE meta SET value = \(seq) WHERE key = 'event_seq'")
        if targetHookID == nil, !rows.seq.isEmpty { try await db.notify(.events) }
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

/// Event rows as one array per column, for an `INSERT … SELECT … FROM unnest(…)`: arrays hold no
/// NULL here, so an absent value is a flag or a marker beside it.
struct EventColumns {
    var seq: [Int64] = [], id: [String] = [], type: [String] = [], data: [String] = [], channels: [String] = []
    var keyed: [Bool] = [], idempotencyScope: [String] = [], idempotencyKey: [String] = [], createdAt: [Double] = []
    var version: [Int32] = [], traced: [Bool] = [], traceContext: [String] = []

    mutating func append(_ event: Event, scope: String) {
        seq.append(event.seq)
        id.append(event.id)
        type.append(event.type)
        data.append(event.data)
        channels.append(encodeStringArray(event.channels))
        keyed.append(event.idempotencyKey != nil)
        idempotencyScope.append(event.idempotencyKey == nil ? "" : scope)
        idempotencyKey.append(event.idempotencyKey ?? "")
        createdAt.append(event.timestamp.unixSeconds)
        version.append(event.version.map { Int32(clamping: $0) } ?? -1)
        traced.append(event.traceContext != nil)
        traceContext.append(event.traceContext ?? "")
    }
}
