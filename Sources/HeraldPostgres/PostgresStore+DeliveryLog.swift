import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: DeliveryLogStore {
    public func backlog(now: Date, perTeam: Int) async throws -> Int {
        try await read { db in
            try await db.value(
                """
                SELECT COALESCE((
                    SELECT SUM(LEAST(waiting, \(perTeam))) FROM (
                        SELECT COUNT(*) AS waiting FROM deliveries
                        WHERE (status = 'in_flight' OR (status = 'pending' AND next_attempt_at <= \(now.unixSeconds)))
                            AND hook_id IN (SELECT id FROM hooks WHERE active)
                        GROUP BY team_id
                    ) AS teams
                ), 0)::bigint
                    + (SELECT COUNT(*) FROM events WHERE seq > (SELECT value FROM meta WHERE key = 'fanout_seq') AND target_hook_id IS NULL)
                """,
                as: Int.self
            ) ?? 0
        }
    }

    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        var sql = "SELECT d.*, e.id AS event_id, e.type AS event_type FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE true"
        var binds = PostgresBindings()
        func clause<T: PostgresEncodable & PostgresArrayEncodable>(_ text: String, _ value: T) throws {
            try binds.append(value)
            sql += " AND " + text.replacingOccurrences(of: "?", with: "$\(binds.count)")
        }
        func clause<T: PostgresEncodable & PostgresArrayEncodable>(_ text: String, array: [T]) throws {
            try binds.append(array)
            sql += " AND " + text.replacingOccurrences(of: "?", with: "$\(binds.count)")
        }
        if let hookID = query.hookID { try clause("d.hook_id = ?", hookID) }
        if let teamID = query.teamID { try clause("d.team_id = ?", teamID) }
        if let statuses = query.statuses { try clause("d.status = ANY(?)", array: statuses.map(\.rawValue)) }
        if let type = query.eventType { try clause("e.type = ?", type) }
        if let eventID = query.eventID { try clause("e.id = ?", eventID) }
        if let seqs = query.eventSeqs { try clause("d.event_seq = ANY(?)", array: seqs) }
        if let since = query.since { try clause("d.created_at >= ?", since.unixSeconds) }
        if let until = query.until { try clause("d.created_at < ?", until.unixSeconds) }
        if let cursor = query.cursor { try clause("d.pk < ?", cursor.rowID) }
        binds.append(query.limit)
        sql += " ORDER BY d.pk DESC LIMIT $\(binds.count)"
        let statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        return try await read { db in try await db.all(statement).map(Self.delivery) }
    }

    public func delivery(id: String) async throws -> Delivery? {
        try await read { db in
            try await db.one(
                "SELECT d.*, e.id AS event_id, e.type AS event_type FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = \(id)"
            ).map(Self.delivery)
        }
    }

    public func attempts(deliveryID: String) async throws -> [Attempt] {
        try await read { db in
            try await db.all("SELECT * FROM attempts WHERE delivery_id = \(deliveryID) ORDER BY number").map { row in
                Attempt(
                    deliveryID: try row("delivery_id"), number: try row("number"), trigger: AttemptTrigger(rawValue: try row("trigger")) ?? .first,
                    startedAt: try row.date("started_at"), durationMs: try row("duration_ms"), url: try row("url"),
                    requestHeaders: decodeHeaders(try row("request_headers")), requestBody: try row("request_body"),
                    responseStatus: try row("response_status"), responseHeaders: decodeHeaders(try row("response_headers")),
                    responseBody: try row("response_body"), errorClass: try row("error_class", as: String?.self).flatMap(ErrorClass.init(rawValue:)),
                    errorMessage: try row("error_message")
                )
            }
        }
    }

    public func deliveryCounts() async throws -> [DeliveryStatus: Int] {
        try await read { db in
            var counts: [DeliveryStatus: Int] = [:]
            for row in try await db.all("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status") {
                if let status = DeliveryStatus(rawValue: try row("status")) { counts[status] = try row("n") }
            }
            return counts
        }
    }

    public func unfinishedByHook() async throws -> [Int64: Int] {
        try await read { db in
            let rows = try await db.all("SELECT hook_id, count(*) AS n FROM deliveries WHERE status IN ('pending', 'in_flight') GROUP BY hook_id")
            return Dictionary(uniqueKeysWithValues: try rows.map { (try $0("hook_id", as: Int64.self), Int(try $0("n", as: Int64.self))) })
        }
    }

    public func oldestPendingDate() async throws -> Date? {
        try await read { db in
            try await db.value("SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'", as: Double.self).map(Date.init(timeIntervalSince1970:))
        }
    }

    static func delivery(_ row: PGRow) throws -> Delivery {
        Delivery(
            id: try row("id"), hookID: try row("hook_id"), teamID: try row("team_id"), eventSeq: try row("event_seq"), eventID: try row("event_id"),
            eventType: try row("event_type"), lifecycle: try stored(row).lifecycle, totalAttempts: try row("total_attempts"),
            lastStatusCode: try row("last_status_code"), lastDurationMs: try row("last_duration_ms"), deliveredAt: try row.optionalDate("delivered_at"),
            createdAt: try row.date("created_at"), cursor: DeliveryCursor(rowID: try row("pk")), note: try row("note")
        )
    }
}
