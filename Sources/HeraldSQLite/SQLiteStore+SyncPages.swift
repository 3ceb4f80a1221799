import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: SyncPageStore {
    public func queueSyncPage(hookID: Int64, body: String, through: Int64, note: String, now: Date) async throws -> String {
        try await pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT team_id FROM hooks WHERE id = ?", arguments: [hookID]) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            let appended = try Self.append([NewEvent(type: SyncPage.eventType, data: body, timestamp: now)], targetHookID: hookID, in: db)
            let id = try Self.insert(
                .syncPage(hookID: hookID, teamID: teamID, eventSeq: appended[0].event.seq, through: through, note: note, now: now), now: now, in: db
            )
            try db.execute(sql: "UPDATE hooks SET sync_requested_at = NULL WHERE id = ?", arguments: [hookID])
            raise(.deliveries, in: db)
            return id
        }
    }

    public func hasUnfinishedSyncPage(hookID: Int64) async throws -> Bool {
        try await pool.read { db in
            let last = try String.fetchOne(
                db, sql: "SELECT status FROM deliveries WHERE hook_id = ? AND sync_through IS NOT NULL ORDER BY pk DESC LIMIT 1", arguments: [hookID]
            )
            return last == "pending" || last == "in_flight"
        }
    }

    public func skipSyncCursor(hookID: Int64, from: Int64, to: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE hooks SET sync_cursor = ? WHERE id = ? AND sync_cursor = ?", arguments: [to, hookID, from])
        }
    }

    public func requestSync(hookID: Int64, at: Date?) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE hooks SET sync_requested_at = ? WHERE id = ?", arguments: [at?.unixSeconds, hookID])
            if at != nil { raise(.sync, in: db) }
        }
    }
}
