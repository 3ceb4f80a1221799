import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: DeliveryLogStore {
    public func backlog(now: Date, perTeam: Int) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COALESCE((
                        SELECT SUM(MIN(waiting, ?)) FROM (
                            SELECT COUNT(*) AS waiting FROM deliveries
                            WHERE (status = 'in_flight' OR (status = 'pending' AND next_attempt_at <= ?))
                                AND hook_id IN (SELECT id FROM hooks WHERE active = 1)
                            GROUP BY team_id
                        )
                    ), 0)
                    + (SELECT COUNT(*) FROM events WHERE seq > (SELECT value FROM meta WHERE key = 'fanout_seq') AND target_hook_id IS NULL)
                    """,
                arguments: [perTeam, now.unixSeconds]
            ) ?? 0
        }
    }

    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let hookID = query.hookID { clauses.append("d.hook_id = ?"); arguments += [hookID] }
        if let teamID = query.teamID { clauses.append("d.team_id = ?"); arguments += [teamID] }
        if let statuses = query.statuses {
            clauses.append("d.status IN (\(statuses.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(statuses.map(\.rawValue))
        }
        if let type = query.eventType { clauses.append("e.type = ?"); arguments += [type] }
        if let eventID = query.eventID { clauses.append("e.id = ?"); arguments += [eventID] }
        if let seqs = query.eventSeqs {
            clauses.append("d.event_seq IN (\(seqs.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(seqs)
        }
        if let since = query.since { clauses.append("d.created_at >= ?"); arguments += [since.unixSeconds] }
        if let until = query.until { clauses.append("d.created_at < ?"); arguments += [until.unixSeconds] }
        if let cursor = query.cursor { clauses.append("d.pk < ?"); arguments += [cursor.rowID] }
        arguments += [query.limit]
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql = """
            SELECT d.*, e.id AS event_id, e.type AS event_type FROM deliveries d JOIN events e ON e.seq = d.event_seq
            \(whereClause) ORDER BY d.pk DESC LIMIT ?
            """
        let finalArguments = arguments
        return try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(Self.delivery) }
    }

    public func delivery(id: String) async throws -> Delivery? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT d.*, e.id AS event_id, e.type AS event_type FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = ?",
                arguments: [id]
            ).map(Self.delivery)
        }
    }

    public func attempts(deliveryID: String) async throws -> [Attempt] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number", arguments: [deliveryID]).map { row in
                Attempt(
                    deliveryID: row["delivery_id"], number: row["number"], trigger: AttemptTrigger(rawValue: row["trigger"]) ?? .first,
                    startedAt: row.date("started_at"), durationMs: row["duration_ms"], url: row["url"],
                    requestHeaders: decodeHeaders(row["request_headers"]), requestBody: row["request_body"], responseStatus: row["response_status"],
                    responseHeaders: decodeHeaders(row["response_headers"]), responseBody: row["response_body"],
                    errorClass: (row["error_class"] as String?).flatMap(ErrorClass.init(rawValue:)), errorMessage: row["error_message"]
                )
            }
        }
    }

    public func deliveryCounts() async throws -> [DeliveryStatus: Int] {
        try await pool.read { db in
            var counts: [DeliveryStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status") {
                if let status = DeliveryStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    public func unfinishedByHook() async throws -> [Int64: Int] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT hook_id, COUNT(*) AS n FROM deliveries INDEXED BY deliveries_unfinished WHERE status IN ('pending', 'in_flight') GROUP BY hook_id"
            )
            return Dictionary(uniqueKeysWithValues: rows.map { (row: Row) -> (Int64, Int) in (row["hook_id"], row["n"]) })
        }
    }

    public func oldestPendingDate() async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'").map(Date.init(unixSeconds:))
        }
    }

    static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: row["id"], hookID: row["hook_id"], teamID: row["team_id"], eventSeq: row["event_seq"], eventID: row["event_id"],
            eventType: row["event_type"], lifecycle: stored(row).lifecycle, totalAttempts: row["total_attempts"], lastStatusCode: row["last_status_code"],
            lastDurationMs: row["last_duration_ms"], deliveredAt: row.optionalDate("delivered_at"), createdAt: row.date("created_at"),
            cursor: DeliveryCursor(rowID: row["pk"]), note: row["note"]
        )
    }
}
