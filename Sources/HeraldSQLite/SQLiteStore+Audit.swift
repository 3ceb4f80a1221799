import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: AuditStore {
    public func recordAudit(_ entry: AuditEntry) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO audit_log (at, actor, address, action, target, team_id, changes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [entry.at.unixSeconds, entry.actor, entry.address, entry.action, entry.target, entry.teamID, entry.changes.jsonString]
            )
        }
    }

    public func auditLog(_ query: AuditQuery) async throws -> [AuditEntry] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let action = query.action {
                conditions.append("(action = ? OR substr(action, 1, length(?) + 1) = ? || '.')")
                arguments += [action, action, action]
            }
            if let actor = query.actor {
                conditions.append("actor = ?")
                arguments += [actor]
            }
            if let teamID = query.teamID {
                conditions.append("team_id = ?")
                arguments += [teamID]
            }
            if let since = query.since {
                conditions.append("at >= ?")
                arguments += [since.unixSeconds]
            }
            if let until = query.until {
                conditions.append("at < ?")
                arguments += [until.unixSeconds]
            }
            if let beforeID = query.beforeID {
                conditions.append("id < ?")
                arguments += [beforeID]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [query.limit]
            return try Row.fetchAll(db, sql: "SELECT * FROM audit_log \(filter) ORDER BY id DESC LIMIT ?", arguments: arguments).map { row in
                AuditEntry(
                    id: row["id"], at: row.date("at"), actor: row["actor"], address: row["address"], action: row["action"], target: row["target"],
                    teamID: row["team_id"], changes: (try? JSONValue(parsing: row["changes"] as String)) ?? .object([])
                )
            }
        }
    }

    public func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int {
        try await pool.write { db in
            try db.execute(
                sql: "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT ?)", arguments: [cutoff.unixSeconds, limit]
            )
            return db.changesCount
        }
    }
}
