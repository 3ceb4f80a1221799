import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: DeliveryStore {
    public func fanOut(limit: Int, now: Date) async throws -> FanOutResult {
        try await pool.write { db in
            let cursor = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'fanout_seq'") ?? 0
            let events = try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE seq > ? AND target_hook_id IS NULL ORDER BY seq LIMIT ?", arguments: [cursor, limit]
            ).map(Self.event)
            guard let last = events.last else { return FanOutResult(events: 0, deliveries: 0) }
            let hooks = try Row.fetchAll(db, sql: "SELECT * FROM hooks WHERE active = 1").map(Self.hook)
            var created = 0
            for event in events {
                for hook in hooks
                where event.seq > hook.createdAfterSeq
                    && EventMatcher.matches(patterns: hook.events, hookChannels: hook.channels, eventType: event.type, eventChannels: event.channels)
                {
                    try Self.insertDelivery(hookID: hook.id, teamID: hook.teamID, eventSeq: event.seq, lifecycle: .new(now: now), now: now, in: db)
                    created += 1
                }
            }
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'fanout_seq'", arguments: [last.seq])
            return FanOutResult(events: events.count, deliveries: created)
        }
    }

    public func ping(hookID: Int64, now: Date) async throws -> String {
        try await pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT team_id FROM hooks WHERE id = ?", arguments: [hookID]) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            return try Self.queuePing(hookID: hookID, teamID: teamID, now: now, in: db)
        }
    }

    /// Appends a `ping` event addressed to one hook and its delivery (one attempt, no retries).
    static func queuePing(hookID: Int64, teamID: Int64, now: Date, in db: Database) throws -> String {
        let hook = try Row.fetchOne(db, sql: "SELECT * FROM hooks WHERE id = ?", arguments: [hookID]).map(Self.hook)!
        let event = NewEvent(type: "ping", data: PingPayload.data(hook: hook), timestamp: now)
        let appended = try append([event], targetHookID: hookID, in: db)
        return try insertDelivery(hookID: hookID, teamID: teamID, eventSeq: appended[0].event.seq, lifecycle: .new(now: now, retries: false), now: now, in: db)
    }

    @discardableResult
    static func insertDelivery(hookID: Int64, teamID: Int64, eventSeq: Int64, lifecycle: DeliveryLifecycle, now: Date, in db: Database) throws -> String {
        let id = Identifier.deliveryID()
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at,
                    total_attempts, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
                """
        )
        try statement.execute(arguments: [
            id, hookID, teamID, eventSeq, lifecycle.status.rawValue, lifecycle.attemptsInRun, lifecycle.redelivery, lifecycle.retries,
            lifecycle.nextAttemptAt?.unixSeconds, now.unixSeconds,
        ])
        return id
    }

    public func claimDue(now: Date, limit: Int, perHookLimit: Int, inFlight: [Int64: Int]) async throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        return try await pool.write { db in try Self.claimDue(now: now, limit: limit, perHookLimit: perHookLimit, inFlight: inFlight, in: db) }
    }

    public func recordAndClaim(
        _ results: [AttemptResult], health: HookHealth, now: Date, limit: Int, perHookLimit: Int, inFlight: [Int64: Int]
    ) async throws -> [ClaimedDelivery] {
        guard !results.isEmpty || limit > 0 else { return [] }
        return try await pool.write { db in
            try Self.record(results, health: health, in: db)
            guard limit > 0 else { return [] }
            return try Self.claimDue(now: now, limit: limit, perHookLimit: perHookLimit, inFlight: inFlight, in: db)
        }
    }

    static func claimDue(now: Date, limit: Int, perHookLimit: Int, inFlight: [Int64: Int], in db: Database) throws -> [ClaimedDelivery] {
        // Due deliveries of active hooks with their events, oldest due first. An ordered hook
        // offers only its oldest unfinished delivery, and only while none is in flight.
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT d.pk, d.id AS delivery_id, d.status, d.attempts_in_run, d.redelivery, d.retries, d.next_attempt_at,
                        d.total_attempts, d.hook_id, e.seq, e.id, e.type, e.data, e.channels, e.idempotency_key, e.created_at
                    FROM deliveries d
                    JOIN hooks h ON h.id = d.hook_id
                    JOIN events e ON e.seq = d.event_seq
                    WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND h.active = 1
                      AND (h.ordering = 'none' OR (
                        d.event_seq = (SELECT MIN(u.event_seq) FROM deliveries u WHERE u.hook_id = d.hook_id AND u.status IN ('pending', 'in_flight'))
                        AND NOT EXISTS (SELECT 1 FROM deliveries f WHERE f.hook_id = d.hook_id AND f.status = 'in_flight')))
                    ORDER BY d.next_attempt_at, d.event_seq
                    LIMIT ?
                    """
            ),
            arguments: [now.unixSeconds, limit * 4]
        )
        var counts = inFlight
        var chosen: [Row] = []
        for row in rows where chosen.count < limit {
            let hookID: Int64 = row["hook_id"]
            guard counts[hookID, default: 0] < perHookLimit else { continue }
            counts[hookID, default: 0] += 1
            chosen.append(row)
        }
        guard !chosen.isEmpty else { return [] }

        let hookIDs = Set(chosen.map { $0["hook_id"] as Int64 })
        var hooks: [Int64: Hook] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM hooks WHERE id IN (\(hookIDs.map(String.init).joined(separator: ",")))") {
            let hook = Self.hook(row)
            hooks[hook.id] = hook
        }
        let update = try db.cachedStatement(sql: "UPDATE deliveries SET status = 'in_flight', next_attempt_at = NULL WHERE pk = ?")
        var claimed: [ClaimedDelivery] = []
        claimed.reserveCapacity(chosen.count)
        for row in chosen {
            guard let hook = hooks[row["hook_id"]] else { continue }
            var lifecycle = Self.lifecycle(row)
            let trigger = try lifecycle.claim(now: now)
            try update.execute(arguments: [row["pk"] as Int64])
            claimed.append(
                ClaimedDelivery(
                    deliveryID: row["delivery_id"], hook: hook, event: Self.event(row), lifecycle: lifecycle, trigger: trigger,
                    previousAttempts: row["total_attempts"]
                )
            )
        }
        return claimed
    }

    public func record(_ results: [AttemptResult], health: HookHealth) async throws {
        guard !results.isEmpty else { return }
        try await pool.write { db in try Self.record(results, health: health, in: db) }
    }

    static func record(_ results: [AttemptResult], health: HookHealth, in db: Database) throws {
        guard !results.isEmpty else { return }
        let insertAttempt = try db.cachedStatement(
            sql: """
                INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, url, request_headers, request_body,
                    response_status, response_headers, response_body, error_class, error_message)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        let updateDelivery = try db.cachedStatement(
            sql: """
                UPDATE deliveries SET status = ?, attempts_in_run = ?, redelivery = ?, next_attempt_at = ?, total_attempts = ?,
                    last_status_code = ?, last_duration_ms = ?, delivered_at = ?
                WHERE id = ?
                """
        )
        var outcomes: [Int64: [(result: AttemptResult, finishedAt: Date)]] = [:]
        for result in results {
            let attempt = result.attempt
            let finishedAt = attempt.startedAt.addingTimeInterval(Double(attempt.durationMs) / 1000)
            try insertAttempt.execute(arguments: [
                attempt.deliveryID, attempt.number, attempt.trigger.rawValue, attempt.startedAt.unixSeconds, attempt.durationMs, attempt.url,
                encodeHeaders(attempt.requestHeaders), attempt.requestBody, attempt.responseStatus, encodeHeaders(attempt.responseHeaders),
                attempt.responseBody, attempt.errorClass?.rawValue, attempt.errorMessage,
            ])
            let lifecycle = result.lifecycle
            try updateDelivery.execute(arguments: [
                lifecycle.status.rawValue, lifecycle.attemptsInRun, lifecycle.redelivery, lifecycle.nextAttemptAt?.unixSeconds,
                attempt.number, attempt.responseStatus, attempt.durationMs, finishedAt.unixSeconds, attempt.deliveryID,
            ])
            outcomes[result.hookID, default: []].append((result, finishedAt))
        }
        try applyToHooks(outcomes, health: health, in: db)
    }

    /// Folds a batch's outcomes into each hook once: health (failure run, auto-disable), 410
    /// disabling, and `last_response` from its latest attempt.
    private static func applyToHooks(_ outcomes: [Int64: [(result: AttemptResult, finishedAt: Date)]], health: HookHealth, in db: Database) throws {
        let select = try db.cachedStatement(sql: "SELECT failing_since FROM hooks WHERE id = ?")
        let update = try db.cachedStatement(
            sql: """
                UPDATE hooks SET last_response_code = ?, last_response_status = ?, last_response_message = ?, failing_since = ?,
                    active = CASE WHEN ? IS NULL THEN active ELSE 0 END,
                    disabled_reason = COALESCE(?, disabled_reason)
                WHERE id = ?
                """
        )
        for (hookID, results) in outcomes {
            guard let row = try Row.fetchOne(select, arguments: [hookID]) else { continue }
            var failingSince = row.optionalDate("failing_since")
            var disableReason: String?
            for (result, finishedAt) in results {
                let next = health.afterAttempt(succeeded: result.succeeded, failingSince: failingSince, now: finishedAt)
                failingSince = next.failingSince
                disableReason = result.decision.disableHookReason ?? next.disableReason ?? disableReason
            }
            let last = results[results.count - 1]
            let attempt = last.result.attempt
            let message: String =
                if let status = attempt.responseStatus { last.result.succeeded ? "OK" : "HTTP \(status)" } else { attempt.errorMessage ?? "error" }
            try update.execute(arguments: [
                attempt.responseStatus, last.result.succeeded ? "active" : "failed", message, failingSince?.unixSeconds, disableReason, disableReason,
                hookID,
            ])
        }
    }

    public func recoverInFlight(now: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE deliveries SET status = 'pending', next_attempt_at = ? WHERE status = 'in_flight'", arguments: [now.unixSeconds])
            return db.changesCount
        }
    }

    public func redeliver(deliveryID: String, now: Date) async throws -> Bool {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [deliveryID]) else { return false }
            var lifecycle = Self.lifecycle(row)
            do { try lifecycle.redeliver(now: now) } catch { return false }
            try db.execute(
                sql: "UPDATE deliveries SET status = ?, attempts_in_run = ?, redelivery = ?, next_attempt_at = ? WHERE id = ?",
                arguments: [lifecycle.status.rawValue, lifecycle.attemptsInRun, lifecycle.redelivery, lifecycle.nextAttemptAt?.unixSeconds, deliveryID]
            )
            return true
        }
    }

    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let hookID = query.hookID { clauses.append("d.hook_id = ?"); arguments += [hookID] }
        if let teamID = query.teamID { clauses.append("d.team_id = ?"); arguments += [teamID] }
        switch query.status {
        case "success": clauses.append("d.status = 'succeeded'")
        case "failure": clauses.append("d.status = 'failed'")
        case "pending": clauses.append("d.status IN ('pending', 'in_flight')")
        default: break
        }
        if let type = query.eventType { clauses.append("e.type = ?"); arguments += [type] }
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

    public func nextDueDate() async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(
                db,
                sql: """
                    SELECT MIN(d.next_attempt_at) FROM deliveries d JOIN hooks h ON h.id = d.hook_id
                    WHERE d.status = 'pending' AND h.active = 1
                    """
            ).map(Date.init(unixSeconds:))
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

    static func lifecycle(_ row: Row) -> DeliveryLifecycle {
        DeliveryLifecycle(
            status: DeliveryStatus(rawValue: row["status"]) ?? .pending, attemptsInRun: row["attempts_in_run"], redelivery: row.bool("redelivery"),
            retries: row.bool("retries"), nextAttemptAt: row.optionalDate("next_attempt_at")
        )
    }

    static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: row["id"], hookID: row["hook_id"], teamID: row["team_id"], eventSeq: row["event_seq"], eventID: row["event_id"],
            eventType: row["event_type"], lifecycle: lifecycle(row), totalAttempts: row["total_attempts"], lastStatusCode: row["last_status_code"],
            lastDurationMs: row["last_duration_ms"], deliveredAt: row.optionalDate("delivered_at"), createdAt: row.date("created_at"),
            cursor: DeliveryCursor(rowID: row["pk"])
        )
    }
}
