import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: DeliveryStore {
    public func fanOutBatch(limit: Int) async throws -> FanOutBatch {
        try await pool.read { db in
            let cursor = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'fanout_seq'")) ?? 0
            let events = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Self.eventColumns) FROM events WHERE seq > ? AND target_hook_id IS NULL ORDER BY seq LIMIT ?"),
                arguments: [cursor, limit]
            ).map(Self.indexedEvent)
            return events.isEmpty ? .empty(after: cursor) : FanOutBatch(after: cursor, events: events, hooks: try self.activeHooks(db))
        }
    }

    public func activeHooks() async throws -> ActiveHooks {
        try await pool.read { db in try self.activeHooks(db) }
    }

    public func commitFanOut(_ plan: FanOutPlan, now: Date) async throws -> Int? {
        try await pool.write { db in
            try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'fanout_seq' AND value = ?").execute(arguments: [plan.through, plan.after])
            guard db.changesCount == 1 else { return nil }
            let rows = plan.newDeliveries(routedBy: try self.activeHooks(db), now: now)
            for row in rows { try Self.insert(row, now: now, in: db) }
            if !rows.isEmpty { raise(.deliveries, in: db) }
            return rows.count
        }
    }

    public func ping(hookID: Int64, now: Date) async throws -> String {
        try await pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT team_id FROM hooks WHERE id = ?", arguments: [hookID]) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            raise(.deliveries, in: db)
            try Self.halfOpenBreaker(hookID: hookID, now: now, in: db)
            return try Self.queuePing(hookID: hookID, teamID: teamID, now: now, in: db)
        }
    }

    public func deliver(eventSeq: Int64, toHook hookID: Int64, now: Date) async throws -> String {
        try await pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT team_id FROM hooks WHERE id = ?", arguments: [hookID]) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            guard try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE seq = ?", arguments: [eventSeq]) != nil else {
                throw StoreError.notFound("event \(eventSeq)")
            }
            raise(.deliveries, in: db)
            return try Self.insert(.event(hookID: hookID, teamID: teamID, eventSeq: eventSeq, now: now), now: now, in: db)
        }
    }

    /// Appends a `ping` event addressed to one hook and its delivery (one attempt, no retries).
    static func queuePing(hookID: Int64, teamID: Int64, now: Date, in db: Database) throws -> String {
        let hook = try Row.fetchOne(db, sql: "SELECT * FROM hooks WHERE id = ?", arguments: [hookID]).map(Self.hook)!
        let appended = try append([PingPayload.event(for: hook, now: now)], targetHookID: hookID, in: db)
        return try insert(.ping(hookID: hookID, teamID: teamID, eventSeq: appended[0].event.seq, now: now), now: now, in: db)
    }

    @discardableResult
    static func insert(_ delivery: NewDelivery, now: Date, in db: Database) throws -> String {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at,
                    total_attempts, created_at, note, sync_through)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
                """
        )
        try statement.execute(arguments: [
            delivery.id, delivery.hookID, delivery.teamID, delivery.eventSeq, delivery.stored.status.rawValue, delivery.stored.attemptsInRun,
            delivery.stored.redelivery, delivery.stored.retries, delivery.stored.nextAttemptAt?.unixSeconds, now.unixSeconds, delivery.note, delivery.syncThrough,
        ])
        return delivery.id
    }

    public func claim(_ turn: ClaimTurn) async throws -> [ClaimedDelivery] {
        try await pool.write { db in try Self.claim(turn, hooks: try self.activeHooks(db).byID, in: db) }
    }

    /// One process works from SQLite, and it claims right after it records (in this transaction,
    /// or in the next when the record is refused): what the record frees needs no signal.
    public func record(_ turn: RecordTurn, attempts: Bool, thenClaim claim: ClaimTurn?) async throws -> RecordedTurn {
        try await pool.write { db in
            let recorded: Set<String>
            do {
                recorded = try Self.record(turn, attempts: attempts, in: db)
            } catch let error as DatabaseError where error.isPermanent {
                // Thrown out of the transaction, which rolls back whole.
                throw StoreError.refused(error.description)
            }
            return RecordedTurn(recorded: recorded, claimed: try claim.map { try Self.claim($0, hooks: try self.activeHooks(db).byID, in: db) } ?? [])
        }
    }

    static let dueColumns = "pk, id, hook_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at, total_attempts, sync_through"

    static func dueDelivery(_ row: Row) -> DueDelivery {
        DueDelivery(
            key: row[0], deliveryID: row[1], hookID: row[2], eventSeq: row[3],
            stored: StoredLifecycle(
                status: DeliveryStatus(rawValue: row[4]) ?? .pending, attemptsInRun: row[5], redelivery: (row[6] as Int64) != 0,
                retries: (row[7] as Int64) != 0, nextAttemptAt: (row[8] as Double?).map(Date.init(unixSeconds:))
            ),
            totalAttempts: row[9], syncThrough: row[10]
        )
    }

    /// One process claims from SQLite: its single writer is all the locking a claim needs.
    static func claim(_ turn: ClaimTurn, hooks: [Int64: Hook], in db: Database) throws -> [ClaimedDelivery] {
        // The hooks with pending deliveries, one index seek each (a loose scan of deliveries_pending),
        // however long any one hook's backlog is.
        let nextHook = try db.cachedStatement(sql: "SELECT hook_id FROM deliveries WHERE status = 'pending' AND hook_id > ? ORDER BY hook_id LIMIT 1")
        var hookIDs: [Int64] = []
        var after: Int64 = .min
        while let id = try Int64.fetchOne(nextHook, arguments: [after]) {
            hookIDs.append(id)
            after = id
        }
        guard !hookIDs.isEmpty else { return [] }
        var turn = turn
        // Open circuit breakers (an index of the few open ones).
        var open: [Int64: Date] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, breaker_open_until FROM hooks WHERE breaker_open_until IS NOT NULL")) {
            open[row[0]] = Date(unixSeconds: row[1])
        }
        turn.setCircuits(open, among: hookIDs)
        let limited = turn.rateLimited(hookIDs, hooks: hooks)
        if !limited.isEmpty {
            let rates = try db.cachedStatement(sql: "SELECT next_at FROM hook_rates WHERE hook_id = ?")
            var stored: [Int64: Date] = [:]
            for hookID in limited { stored[hookID] = try Double.fetchOne(rates, arguments: [hookID]).map(Date.init(unixSeconds:)) }
            turn.setRates(stored, of: limited, hooks: hooks)
        }
        let due = try db.cachedStatement(
            sql: "SELECT \(dueColumns) FROM deliveries WHERE status = 'pending' AND hook_id = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, event_seq LIMIT ?"
        )
        let head = try db.cachedStatement(
            sql: "SELECT \(dueColumns) FROM deliveries WHERE hook_id = ? AND status IN ('pending', 'in_flight') ORDER BY event_seq LIMIT 1"
        )
        var rows: [DueDelivery] = []
        for hookID in hookIDs {
            switch turn.read(for: hooks[hookID]) {
            case .due(let limit)?: rows += try Row.fetchAll(due, arguments: [hookID, turn.now.unixSeconds, limit]).map(dueDelivery)
            case .oldestUnfinished?: rows += try Row.fetchAll(head, arguments: [hookID]).map(dueDelivery)
            case nil: continue
            }
        }
        let chosen = turn.choose(rows, hooks: hooks)
        let event = try db.cachedStatement(sql: "SELECT \(eventColumns) FROM events WHERE seq = ?")
        var events: [Int64: Event] = [:]
        for seq in Set(chosen.map(\.eventSeq)) {
            if let row = try Row.fetchOne(event, arguments: [seq]) { events[seq] = Self.indexedEvent(row) }
        }
        let update = try db.cachedStatement(sql: "UPDATE deliveries SET status = ?, next_attempt_at = ? WHERE pk = ?")
        let claimed = turn.claim(chosen, hooks: hooks, events: events)
        for (mark, _) in claimed { try update.execute(arguments: [mark.status.rawValue, mark.nextAttemptAt?.unixSeconds, mark.key]) }
        for (hookID, nextAt) in turn.rateMarks(claimed) {
            try db.execute(
                sql: "INSERT INTO hook_rates (hook_id, next_at) VALUES (?, ?) ON CONFLICT (hook_id) DO UPDATE SET next_at = excluded.next_at",
                arguments: [hookID, nextAt.unixSeconds]
            )
        }
        return claimed.map(\.delivery)
    }

    /// Writes the turn's results; returns the deliveries recorded.
    static func record(_ turn: RecordTurn, attempts: Bool, in db: Database) throws -> Set<String> {
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
                WHERE id = ? AND status = 'in_flight'
                """
        )
        let moveSyncCursor = try db.cachedStatement(sql: "UPDATE hooks SET sync_cursor = MAX(sync_cursor, ?), last_synced_at = ? WHERE id = ?")
        var recorded: Set<String> = []
        for result in turn.results {
            let (attempt, lifecycle) = (result.attempt, result.lifecycle)
            try updateDelivery.execute(arguments: [
                lifecycle.status.rawValue, lifecycle.attemptsInRun, lifecycle.redelivery, lifecycle.nextAttemptAt?.unixSeconds,
                attempt.number, attempt.responseStatus, attempt.durationMs, attempt.finishedAt.unixSeconds, attempt.deliveryID,
            ])
            // Gone (deleted with its hook while in flight), or recorded already by an earlier try.
            guard db.changesCount > 0 else { continue }
            recorded.insert(attempt.deliveryID)
            if let move = turn.syncCursorMove(for: result) {
                try moveSyncCursor.execute(arguments: [move.through, move.at.unixSeconds, result.hookID])
            }
            guard attempts else { continue }
            try insertAttempt.execute(arguments: [
                attempt.deliveryID, attempt.number, attempt.trigger.rawValue, attempt.startedAt.unixSeconds, attempt.durationMs, attempt.url,
                encodeHeaders(attempt.requestHeaders), attempt.requestBody, attempt.responseStatus, encodeHeaders(attempt.responseHeaders),
                attempt.responseBody, attempt.errorClass?.rawValue, attempt.errorMessage,
            ])
        }
        let select = try db.cachedStatement(
            sql: """
                SELECT failing_since, breaker_failures, breaker_open_until, breaker_cooldown, last_response_code, last_response_status,
                    last_response_message FROM hooks WHERE id = ?
                """
        )
        let update = try db.cachedStatement(
            sql: """
                UPDATE hooks SET last_response_code = ?, last_response_status = ?, last_response_message = ?, failing_since = ?,
                    active = CASE WHEN ? IS NULL THEN active ELSE 0 END,
                    disabled_reason = COALESCE(?, disabled_reason),
                    breaker_failures = ?, breaker_open_until = ?, breaker_cooldown = ?
                WHERE id = ?
                """
        )
        for hookID in turn.hookIDs {
            guard let row = try Row.fetchOne(select, arguments: [hookID]) else { continue }
            let stored = HookHealth.Stored(
                lastResponse: LastResponse(code: row[4], status: row[5], message: row[6]), failingSince: (row[0] as Double?).map(Date.init(unixSeconds:)),
                circuit: CircuitState(failures: row[1], openUntil: (row[2] as Double?).map(Date.init(unixSeconds:)), cooldownSeconds: row[3])
            )
            // A hook whose row the results leave as it is (a healthy hook's successes) is not written.
            guard let change = turn.change(forHook: hookID, recorded: recorded, stored: stored) else { continue }
            if change.disableReason != nil { try hooksChanged(db) }
            try update.execute(arguments: [
                change.lastResponse.code, change.lastResponse.status, change.lastResponse.message, change.failingSince?.unixSeconds,
                change.disableReason, change.disableReason, change.circuit.failures, change.circuit.openUntil?.unixSeconds, change.circuit.cooldownSeconds,
                hookID,
            ])
        }
        return recorded
    }

    public func recoverInFlight(now: Date) async throws -> Int {
        try await pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM deliveries WHERE status = 'in_flight'")
            let update = try db.cachedStatement(sql: "UPDATE deliveries SET status = ?, next_attempt_at = ? WHERE pk = ?")
            for row in rows {
                guard let next = Requeue.recover.apply(to: Self.stored(row), now: now) else { continue }
                try update.execute(arguments: [next.status.rawValue, next.nextAttemptAt?.unixSeconds, row["pk"] as Int64])
            }
            if !rows.isEmpty { raise(.deliveries, in: db) }
            return rows.count
        }
    }

    public func redeliver(deliveryID: String, now: Date) async throws -> Bool {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [deliveryID]) else { return false }
            guard let next = Requeue.redeliver.apply(to: Self.stored(row), now: now) else { return false }
            try db.execute(
                sql: "UPDATE deliveries SET status = ?, attempts_in_run = ?, redelivery = ?, next_attempt_at = ? WHERE id = ?",
                arguments: [next.status.rawValue, next.attemptsInRun, next.redelivery, next.nextAttemptAt?.unixSeconds, deliveryID]
            )
            try Self.halfOpenBreaker(hookID: row["hook_id"], now: now, in: db)
            raise(.deliveries, in: db)
            return true
        }
    }

    /// A person's ping or redelivery is the probe an open circuit breaker waits for: it half-opens now.
    static func halfOpenBreaker(hookID: Int64, now: Date, in db: Database) throws {
        try db.execute(
            sql: "UPDATE hooks SET breaker_open_until = ? WHERE id = ? AND breaker_open_until > ?", arguments: [now.unixSeconds, hookID, now.unixSeconds]
        )
    }

    public func nextDueDate(after date: Date) async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(
                db, sql: "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at > ?", arguments: [date.unixSeconds]
            ).map(Date.init(unixSeconds:))
        }
    }

    public func unfinishedDeliveryCount(hookID: Int64, limit: Int) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE hook_id = ? AND status IN ('pending', 'in_flight') LIMIT ?)",
                arguments: [hookID, limit]
            ) ?? 0
        }
    }

    static func stored(_ row: Row) -> StoredLifecycle {
        StoredLifecycle(
            status: DeliveryStatus(rawValue: row["status"]) ?? .pending, attemptsInRun: row["attempts_in_run"], redelivery: row.bool("redelivery"),
            retries: row.bool("retries"), nextAttemptAt: row.optionalDate("next_attempt_at")
        )
    }
}
