import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: AuditStore {
    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO audit_log (at, actor, address, action, target, team_id, changes)
                VALUES (\(entry.at.unixSeconds), \(entry.actor), \(entry.address), \(entry.action), \(entry.target), \(entry.teamID), \(entry.changes.jsonString))
                """
            )
        }
    }

    public func auditLog(_ query: AuditQuery) async throws -> [AuditEntry] {
        // Absent filters are NULL and match every row: one statement, prepared once.
        let since = query.since?.unixSeconds
        let until = query.until?.unixSeconds
        return try await read { db in
            try await db.all(
                """
                SELECT * FROM audit_log
                WHERE (\(query.action)::text IS NULL OR action = \(query.action) OR left(action, length(\(query.action)) + 1) = \(query.action) || '.')
                AND (\(query.actor)::text IS NULL OR actor = \(query.actor))
                AND (\(query.teamID)::bigint IS NULL OR team_id = \(query.teamID))
                AND (\(since)::double precision IS NULL OR at >= \(since))
                AND (\(until)::double precision IS NULL OR at < \(until))
                AND (\(query.beforeID)::bigint IS NULL OR id < \(query.beforeID))
                ORDER BY id DESC LIMIT \(query.limit)
                """
            ).map { row in
                AuditEntry(
                    id: try row("id"), at: try row.date("at"), actor: try row("actor"), address: try row("address"), action: try row("action"),
                    target: try row("target"), teamID: try row("team_id"),
                    changes: (try? JSONValue(parsing: try row("changes", as: String.self))) ?? .object([])
                )
            }
        }
    }

    public func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int {
        try await write { db in
            try await db.run(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < \(cutoff.unixSeconds) ORDER BY at LIMIT \(limit)) RETURNING id"
            )
        }
    }
}
