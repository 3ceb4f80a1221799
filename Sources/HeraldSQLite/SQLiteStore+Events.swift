import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: EventStore {
    public func append(_ events: [NewEvent]) async throws -> [AppendedEvent] {
        try await pool.write { db in
            raise(.events, in: db)
            return try Self.append(events, targetHookID: nil, in: db)
        }
    }

    /// Appends in the caller's transaction, numbering from the `event_seq` counter so `seq` stays
    /// gap-free even when a transaction rolls back.
    static func append(_ events: [NewEvent], targetHookID: Int64?, in db: Database) throws -> [AppendedEvent] {
        var seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'event_seq'")) ?? 0
        var results: [AppendedEvent] = []
        results.reserveCapacity(events.count)
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO events (seq, id, type, data, channels, idempotency_scope, idempotency_key, target_hook_id, created_at, version, trace_context)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        for new in events {
            if let key = new.idempotencyKey, let existing = try event(idempotencyKey: key, scope: new.idempotencyScope, in: db) {
                results.append(AppendedEvent(event: existing, duplicate: true))
                continue
            }
            seq += 1
            try insert.execute(arguments: [
                seq, new.id, new.type, new.data, encodeStringArray(new.channels), new.idempotencyKey.map { _ in new.idempotencyScope },
                new.idempotencyKey, targetHookID, new.timestamp.unixSeconds, new.version, new.traceContext,
            ])
            let event = Event(
                seq: seq, id: new.id, type: new.type, data: new.data, channels: new.channels, idempotencyKey: new.idempotencyKey,
                timestamp: new.timestamp, version: new.version, traceContext: new.traceContext
            )
            results.append(AppendedEvent(event: event, duplicate: false))
        }
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'event_seq'").execute(arguments: [seq])
        return results
    }

    static func event(idempotencyKey key: String, scope: String, in db: Database) throws -> Event? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM events WHERE idempotency_scope = ? AND idempotency_key = ?"), arguments: [scope, key]
        ).map(event)
    }

    public func events(since seq: Int64, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE seq > ? AND target_hook_id IS NULL ORDER BY seq LIMIT ?", arguments: [seq, limit]
            ).map(Self.event)
        }
    }

    public func documentEvents(database: String, id: String, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM events WHERE type = ? AND json_extract(data, '$.id') = ? AND json_extract(data, '$.database') = ? ORDER BY seq DESC LIMIT ?",
                arguments: [DatabaseInfo.changeEventType(database), id, database, limit]
            ).map(Self.event)
        }
    }

    public func events(idempotencyKeys keys: [String], scope: String) async throws -> [String: Event] {
        try await pool.read { db in
            var found: [String: Event] = [:]
            for key in Set(keys) {
                if let event = try Self.event(idempotencyKey: key, scope: scope, in: db) { found[key] = event }
            }
            return found
        }
    }

    public func checkWritable() async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('ready_probe', 0) ON CONFLICT(key) DO UPDATE SET value = value + 1")
        }
    }

    public func lastSeq() async throws -> Int64 {
        // Read after every commit of events (the changes feeds' signal): a cached statement.
        try await pool.read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'event_seq'")) ?? 0 }
    }

    /// The columns ``indexedEvent(_:)`` reads by position (the engine's hot path).
    static let eventColumns = "seq, id, type, data, channels, idempotency_key, created_at, version, trace_context"

    static func indexedEvent(_ row: Row) -> Event {
        Event(
            seq: row[0], id: row[1], type: row[2], data: row[3], channels: decodeStringArray(row[4]), idempotencyKey: row[5],
            timestamp: Date(unixSeconds: row[6]), version: row[7], traceContext: row[8]
        )
    }

    static func event(_ row: Row) -> Event {
        Event(
            seq: row["seq"], id: row["id"], type: row["type"], data: row["data"], channels: row.stringArray("channels"),
            idempotencyKey: row["idempotency_key"], timestamp: row.date("created_at"), version: row["version"], traceContext: row["trace_context"]
        )
    }
}
