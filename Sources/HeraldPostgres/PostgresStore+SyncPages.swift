import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: SyncPageStore {
    /// Queues one HTTP Sync page, unless another node has just queued one for the hook (the hook's
    /// row is locked while this is decided): then that page's delivery is returned.
    public func queueSyncPage(hookID: Int64, body: String, through: Int64, note: String, now: Date) async throws -> String {
        try await write { db in
            guard let teamID = try await db.value("SELECT team_id FROM hooks WHERE id = \(hookID) FOR UPDATE", as: Int64.self) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            if let last = try await db.one(
                "SELECT id, status FROM deliveries WHERE hook_id = \(hookID) AND sync_through IS NOT NULL ORDER BY pk DESC LIMIT 1"
            ), ["pending", "in_flight"].contains(try last("status", as: String.self)) {
                return try last("id", as: String.self)
            }
            let appended = try await Self.append([NewEvent(type: SyncPage.eventType, data: body, timestamp: now)], targetHookID: hookID, in: db)
            let id = try await Self.insert(
                .syncPage(hookID: hookID, teamID: teamID, eventSeq: appended[0].event.seq, through: through, note: note, now: now), now: now, in: db
            )
            try await db.run("UPDATE hooks SET sync_requested_at = NULL WHERE id = \(hookID)")
            try await db.notify(.deliveries)
            return id
        }
    }

    public func hasUnfinishedSyncPage(hookID: Int64) async throws -> Bool {
        try await read { db in
            let last = try await db.value(
                "SELECT status FROM deliveries WHERE hook_id = \(hookID) AND sync_through IS NOT NULL ORDER BY pk DESC LIMIT 1", as: String.self
            )
            return last == "pending" || last == "in_flight"
        }
    }

    public func skipSyncCursor(hookID: Int64, from: Int64, to: Int64) async throws {
        _ = try await write { db in try await db.run("UPDATE hooks SET sync_cursor = \(to) WHERE id = \(hookID) AND sync_cursor = \(from)") }
    }

    public func requestSync(hookID: Int64, at: Date?) async throws {
        try await write { db in
            try await db.run("UPDATE hooks SET sync_requested_at = \(at?.unixSeconds) WHERE id = \(hookID)")
            if at != nil { try await db.notify(.sync) }
        }
    }
}
