import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: DeliveryStore {
    public func fanOutBatch(limit: Int) async throws -> FanOutBatch {
        try await read { db in
            let cursor = try await db.value("SELECT value FROM meta WHERE key = 'fanout_seq'", as: Int64.self) ?? 0
            let events = try await db.all(
                "SELECT * FROM events WHERE seq > \(cursor) AND target_hook_id IS NULL ORDER BY seq LIMIT \(limit)"
            ).map(Self.event)
            return events.isEmpty ? .empty(after: cursor) : FanOutBatch(after: cursor, events: events, hooks: try await activeHooks(db))
        }
    }

    public func activeHooks() async throws -> ActiveHooks {
        try await read { db in try await activeHooks(db) }
    }

    /// One node's plan wins: the cursor moves by compare-and-set, and a node whose batch another
    /// node committed first gets nil and reads the next batch.
    public func commitFanOut(_ plan: FanOutPlan, now: Date) async throws -> Int? {
        try await write { db in
            guard try await db.run("UPDATE meta SET value = \(plan.through) WHERE key = 'fanout_seq' AND value = \(plan.after) RETURNING value") == 1
            else { return nil }
            let rows = plan.newDeliveries(routedBy: try await activeHooks(db), now: now)
            try await Self.insert(rows, now: now, in: db)
            if !rows.isEmpty { try await db.notify(.deliveries) }
            return rows.count
        }
    }

    public func ping(hookID: Int64, now: Date) async throws -> String {
        try await write { db in
            guard let teamID = try await db.value("SELECT team_id FROM hooks WHERE id = \(hookID)", as: Int64.self) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            try await Self.halfOpenBreaker(hookID: hookID, now: now, in: db)
            return try await Self.queuePing(hookID: hookID, teamID: teamID, now: now, in: db)
        }
    }

    public func deliver(eventSeq: Int64, toHook hookID: Int64, now: Date) async throws -> String {
        try await write { db in
            guard let teamID = try await db.value("SELECT team_id FROM hooks WHERE id = \(hookID)", as: Int64.self) else {
                throw StoreError.notFound("hook \(hookID)")
            }
            guard try await db.value("SELECT seq FROM events WHERE seq = \(eventSeq)", as: Int64.self) != nil else {
                throw StoreError.notFound("event \(eventSeq)")
            }
            let id = try await Self.insert(.event(hookID: hookID, teamID: teamID, eventSeq: eventSeq, now: now), now: now, in: db)
            try await db.notify(.deliveries)
            return id
        }
    }

    /// Appends a `ping` event addressed to one hook and its delivery (one attempt, no retries).
    static func queuePing(hookID: Int64, teamID: Int64, now: Date, in db: SQL) async throws -> String {
        let hook = try hook(try await db.one("SELECT * FROM hooks WHERE id = \(hookID)")!)
        let appended = try await append([PingPayload.event(for: hook, now: now)], targetHookID: hookID, in: db)
        let id = try await insert(.ping(hookID: hookID, teamID: teamID, eventSeq: appended[0].event.seq, now: now), now: now, in: db)
        try await db.notify(.deliveries)
        return id
    }

    @discardableResult
    static func insert(_ delivery: NewDelivery, now: Date, in db: SQL) async throws -> String {
        try await insert([delivery], now: now, in: db)
        return delivery.id
    }

    /// Inserts deliveries in one statement, one array per column in the binary protocol: a fan-out
    /// batch costs a round trip, not one per delivery (an absent time is NaN, an absent note or
    /// sync `seq` a flag beside it).
    static func insert(_ deliveries: [NewDelivery], now: Date, in db: SQL) async throws {
        guard !deliveries.isEmpty else { return }
        try await db.run(
            """
            INSERT INTO deliveries (id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at,
                total_attempts, created_at, note, sync_through)
            SELECT id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, NULLIF(next_attempt_at, 'NaN'), 0,
                \(now.unixSeconds), CASE WHEN noted THEN note END, CASE WHEN syncing THEN sync_through END
            FROM unnest(\(deliveries.map(\.id))::text[], \(deliveries.map(\.hookID))::bigint[], \(deliveries.map(\.teamID))::bigint[],
                \(deliveries.map(\.eventSeq))::bigint[], \(deliveries.map(\.stored.status.rawValue))::text[],
                \(deliveries.map { Int32(clamping: $0.stored.attemptsInRun) })::integer[], \(deliveries.map(\.stored.redelivery))::boolean[],
                \(deliveries.map(\.stored.retries))::boolean[], \(deliveries.map { $0.stored.nextAttemptAt?.unixSeconds ?? .nan })::double precision[],
                \(deliveries.map { $0.note != nil })::boolean[], \(deliveries.map { $0.note ?? "" })::text[],
                \(deliveries.map { $0.syncThrough != nil })::boolean[], \(deliveries.map { $0.syncThrough ?? 0 })::bigint[])
                AS t(id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at, noted, note, syncing, sync_through)
            """
        )
    }

    public func claim(_ turn: ClaimTurn) async throws -> [ClaimedDelivery] {
        try await write { db in try await self.claim(turn, in: db) }
    }

    /// A claim takes its own connection from the pool, so the engine's claims run beside its records.
    public var claimsBesideRecords: Bool { true }

    public func record(_ turn: RecordTurn, attempts: Bool, thenClaim claim: ClaimTurn?) async throws -> RecordedTurn {
        let recorded: Set<String>
        do {
            recorded = try await write { db in try await Self.record(turn, attempts: attempts, in: db) }
        } catch where error.isPermanent {
            throw StoreError.refused(String(reflecting: error))
        }
        // Recorded and committed first: claims lock teams, and a record should never wait on them.
        guard let claim else { return RecordedTurn(recorded: recorded, claimed: []) }
        return RecordedTurn(recorded: recorded, claimed: try await self.claim(claim))
    }

    static func dueDelivery(_ row: PGRow) throws -> DueDelivery {
        DueDelivery(
            key: try row("pk"), deliveryID: try row("id"), hookID: try row("hook_id"), eventSeq: try row("event_seq"), stored: try stored(row),
            totalAttempts: try row("total_attempts"), syncThrough: try row("sync_through", as: Int64?.self)
        )
    }

    /// Claims across nodes. Deliveries in flight past their lease (their node died) are made due
    /// again first. Then each team with due work is claimed for by one node at a time (a lock per
    /// team, held to the end of the transaction), so in-flight counts per hook and team, read from
    /// the table, hold across nodes, and an ordered hook's head is taken once; due rows are read
    /// `FOR UPDATE SKIP LOCKED`, passing over any another transaction is changing.
    func claim(_ turn: ClaimTurn, in db: SQL) async throws -> [ClaimedDelivery] {
        var turn = turn
        let now = turn.now
        let expired = try await db.all(
            "SELECT * FROM deliveries WHERE status = 'in_flight' AND lease_until < \(now.unixSeconds) FOR UPDATE SKIP LOCKED LIMIT 100"
        )
        if try await requeue(expired, now: now, in: db) > 0 {
            logger.warning("deliveries whose node stopped answering are due again", metadata: ["count": "\(expired.count)"])
        }
        // The hooks with pending deliveries, one index seek each (a loose scan of deliveries_pending),
        // and the hooks' version in the same round trip.
        guard
            let found = try await db.one(
                """
                WITH RECURSIVE h AS (
                    (SELECT hook_id FROM deliveries WHERE status = 'pending' ORDER BY hook_id LIMIT 1)
                    UNION ALL
                    SELECT (SELECT d.hook_id FROM deliveries d WHERE d.status = 'pending' AND d.hook_id > h.hook_id ORDER BY d.hook_id LIMIT 1)
                    FROM h WHERE h.hook_id IS NOT NULL
                )
                SELECT ARRAY(SELECT hook_id FROM h WHERE hook_id IS NOT NULL) AS hook_ids,
                    (SELECT value FROM meta WHERE key = 'hooks_version') AS hooks_version
                """
            )
        else { return [] }
        let hookIDs = try found("hook_ids", as: [Int64].self)
        guard !hookIDs.isEmpty else { return [] }
        let hooks = try await activeHooks(db, version: try found("hooks_version", as: Int64?.self) ?? 0).byID
        // One claimer per team at a time, on every node, and what is in flight on every node for the caps.
        let teams = turn.teams(of: hookIDs, hooks: hooks)
        guard !teams.isEmpty else { return [] }
        try await db.lock(teams.map { "claim-team:\($0)" })
        // In the same statement, under the locks, the open circuit breakers: a probe that failed
        // on another node a moment ago is seen, so no second probe goes out beside it.
        var inFlight: [(hookID: Int64, teamID: Int64, count: Int)] = []
        var openUntil: [Int64: Date] = [:]
        for row in try await db.all(
            """
            SELECT hook_id, team_id, COUNT(*) AS n, NULL::double precision AS open_until FROM deliveries
            WHERE status = 'in_flight' AND team_id = ANY(\(teams)) GROUP BY hook_id, team_id
            UNION ALL
            SELECT id, team_id, 0, breaker_open_until FROM hooks WHERE id = ANY(\(hookIDs)) AND breaker_open_until IS NOT NULL
            """
        ) {
            let hookID = try row("hook_id", as: Int64.self)
            if let until = try row("open_until", as: Double?.self) {
                openUntil[hookID] = Date(timeIntervalSince1970: until)
            } else {
                inFlight.append((hookID, try row("team_id", as: Int64.self), try row("n", as: Int.self)))
            }
        }
        turn.countInFlight(inFlight)
        turn.setCircuits(openUntil, among: hookIDs)
        // Rate-limited hooks' next slots, read under their teams' locks: one node takes each slot.
        let limited = turn.rateLimited(hookIDs, hooks: hooks)
        if !limited.isEmpty {
            var stored: [Int64: Date] = [:]
            for row in try await db.all("SELECT hook_id, next_at FROM hook_rates WHERE hook_id = ANY(\(limited))") {
                stored[try row("hook_id", as: Int64.self)] = Date(timeIntervalSince1970: try row("next_at", as: Double.self))
            }
            turn.setRates(stored, of: limited, hooks: hooks)
        }
        // The due rows of every hook in one statement (each hook's own index range, its own limit);
        // an ordered hook's head on its own.
        var due: [(hookID: Int64, limit: Int)] = []
        var byHook: [Int64: [DueDelivery]] = [:]
        for hookID in hookIDs {
            switch turn.read(for: hooks[hookID]) {
            case .due(let limit)?: due.append((hookID, limit))
            case .oldestUnfinished?:
                byHook[hookID] = try await db.all(
                    "SELECT * FROM deliveries WHERE hook_id = \(hookID) AND status IN ('pending', 'in_flight') ORDER BY event_seq LIMIT 1 FOR UPDATE"
                ).map(Self.dueDelivery)
            case nil: continue
            }
        }
        if !due.isEmpty {
            let read = try await db.all(
                """
                SELECT d.* FROM unnest(\(due.map(\.hookID))::bigint[], \(due.map { Int64($0.limit) })::bigint[]) WITH ORDINALITY AS h(id, n, i)
                CROSS JOIN LATERAL (
                    SELECT * FROM deliveries WHERE status = 'pending' AND hook_id = h.id AND next_attempt_at <= \(now.unixSeconds)
                    ORDER BY next_attempt_at, event_seq LIMIT h.n FOR UPDATE SKIP LOCKED
                ) d
                ORDER BY h.i, d.next_attempt_at, d.event_seq
                """
            ).map(Self.dueDelivery)
            for row in read { byHook[row.hookID, default: []].append(row) }
        }
        // In the order of the hooks, each hook's rows in its own order, as one read per hook gave them.
        let rows = hookIDs.flatMap { byHook[$0] ?? [] }
        let chosen = turn.choose(rows, hooks: hooks)
        guard !chosen.isEmpty else { return [] }
        var events: [Int64: Event] = [:]
        for row in try await db.all("SELECT * FROM events WHERE seq = ANY(\(chosen.map(\.eventSeq)))") {
            let event = try Self.event(row)
            events[event.seq] = event
        }
        let claims = turn.claim(chosen, hooks: hooks, events: events)
        // One array per column (binary; an absent time is NaN).
        let marks = claims.map(\.mark)
        try await db.run(
            """
            UPDATE deliveries d SET status = t.status, next_attempt_at = NULLIF(t.next_attempt_at, 'NaN'), lease_until = t.lease_until
            FROM unnest(\(marks.map(\.key))::bigint[], \(marks.map(\.status.rawValue))::text[],
                \(marks.map { $0.nextAttemptAt?.unixSeconds ?? .nan })::double precision[],
                \(marks.map { $0.attemptEndsBy.unixSeconds + leaseMargin })::double precision[]) AS t(pk, status, next_attempt_at, lease_until)
            WHERE d.pk = t.pk
            """
        )
        let rates = turn.rateMarks(claims)
        if !rates.isEmpty {
            try await db.run(
                """
                INSERT INTO hook_rates (hook_id, next_at)
                SELECT * FROM unnest(\(rates.map(\.hookID))::bigint[], \(rates.map(\.nextAt.unixSeconds))::double precision[])
                ON CONFLICT (hook_id) DO UPDATE SET next_at = excluded.next_at
                """
            )
        }
        return claims.map(\.delivery)
    }

    /// Writes the turn's results: the deliveries' new states and, with `attempts`, their attempts,
    /// in three statements whatever their number; then each hook's change. Returns the deliveries
    /// recorded (one deleted with its hook while in flight is gone).
    ///
    /// A record locks hooks' rows before deliveries' rows, as a hook's deletion (its row, then its
    /// deliveries) and a replay do, and hooks in ascending order, so no two wait on each other in a
    /// cycle. It locks only the hooks whose row it changes, foreseen from their health read without
    /// a lock: a healthy hook's successes, turn after turn, change nothing in its row, so records on
    /// several nodes do not queue on a busy hook. A turn that moves an HTTP Sync cursor locks all its
    /// hooks. A change not foreseen (a result not recorded after all) is locked last.
    static func record(_ turn: RecordTurn, attempts: Bool, in db: SQL) async throws -> Set<String> {
        let movesCursors = turn.results.contains { $0.syncThrough != nil }
        var stored = try await health(of: turn.hookIDs, locking: movesCursors, in: db)
        var locked = movesCursors ? Set(turn.hookIDs) : []
        if !movesCursors {
            let foreseen = Self.changes(turn, recorded: Set(turn.results.map(\.attempt.deliveryID)), of: turn.hookIDs, stored: stored).map(\.hookID)
            if !foreseen.isEmpty {
                // Locked, and read again under the lock.
                stored.merge(try await health(of: foreseen, locking: true, in: db)) { $1 }
                locked = Set(foreseen)
            }
        }
        // One array per column (binary; an absent time is NaN, an absent status code -1).
        let results = turn.results
        let recorded = Set(
            try await db.all(
                """
                UPDATE deliveries d SET status = t.status, attempts_in_run = t.attempts_in_run, redelivery = t.redelivery,
                    next_attempt_at = NULLIF(t.next_attempt_at, 'NaN'), total_attempts = t.number, last_status_code = NULLIF(t.code, -1),
                    last_duration_ms = t.duration, delivered_at = t.finished, lease_until = NULL
                FROM unnest(\(results.map(\.attempt.deliveryID))::text[], \(results.map(\.lifecycle.status.rawValue))::text[],
                    \(results.map { Int32(clamping: $0.lifecycle.attemptsInRun) })::integer[], \(results.map(\.lifecycle.redelivery))::boolean[],
                    \(results.map { $0.lifecycle.nextAttemptAt?.unixSeconds ?? .nan })::double precision[],
                    \(results.map { Int32(clamping: $0.attempt.number) })::integer[],
                    \(results.map { $0.attempt.responseStatus.map { Int32(clamping: $0) } ?? -1 })::integer[],
                    \(results.map { Int32(clamping: $0.attempt.durationMs) })::integer[], \(results.map(\.attempt.finishedAt.unixSeconds))::double precision[])
                    AS t(id, status, attempts_in_run, redelivery, next_attempt_at, number, code, duration, finished)
                WHERE d.id = t.id AND d.status = 'in_flight' RETURNING d.id
                """
            ).map { try $0("id", as: String.self) }
        )
        var rows = AttemptColumns()
        for result in turn.results where recorded.contains(result.attempt.deliveryID) {
            if let move = turn.syncCursorMove(for: result) {
                try await db.run(
                    "UPDATE hooks SET sync_cursor = GREATEST(sync_cursor, \(move.through)), last_synced_at = \(move.at.unixSeconds) WHERE id = \(result.hookID)"
                )
            }
            if attempts { rows.append(result.attempt) }
        }
        if !rows.deliveryID.isEmpty {
            // One array per column, sent in PostgreSQL's binary form: a body or a header travels as
            // its own bytes, neither escaped into JSON by this node nor parsed back by the server.
            try await db.run(
                """
                INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, url, request_headers, request_body,
                    response_status, response_headers, response_body, error_class, error_message)
                SELECT delivery_id, number, trigger, started_at, duration_ms, url, request_headers, request_body,
                    NULLIF(response_status, -1), response_headers, CASE WHEN has_response_body THEN response_body END,
                    NULLIF(error_class, ''), CASE WHEN has_error_message THEN error_message END
                FROM unnest(\(rows.deliveryID)::text[], \(rows.number)::integer[], \(rows.trigger)::text[], \(rows.startedAt)::double precision[],
                    \(rows.durationMs)::integer[], \(rows.url)::text[], \(rows.requestHeaders)::text[], \(rows.requestBody)::text[],
                    \(rows.responseStatus)::integer[], \(rows.responseHeaders)::text[], \(rows.responseBody)::text[], \(rows.hasResponseBody)::boolean[],
                    \(rows.errorClass)::text[], \(rows.errorMessage)::text[], \(rows.hasErrorMessage)::boolean[])
                    AS t(delivery_id, number, trigger, started_at, duration_ms, url, request_headers, request_body, response_status,
                        response_headers, response_body, has_response_body, error_class, error_message, has_error_message)
                """
            )
        }
        var changes = Self.changes(turn, recorded: recorded, of: turn.hookIDs, stored: stored)
        let unforeseen = changes.map(\.hookID).filter { !locked.contains($0) }
        if !unforeseen.isEmpty {
            stored.merge(try await health(of: unforeseen, locking: true, in: db)) { $1 }
            changes = Self.changes(turn, recorded: recorded, of: turn.hookIDs, stored: stored)
        }
        if changes.contains(where: { $0.update.disableReason != nil }) { try await hooksChanged(db) }
        if !changes.isEmpty {
            // Each hook's change, all in one statement.
            let json = JSONValue.array(
                changes.map { hookID, change in
                    .object([
                        ("id", .int(hookID)), ("code", change.lastResponse.code.map { .int(Int64($0)) } ?? .null),
                        ("status", .string(change.lastResponse.status)), ("message", change.lastResponse.message.map(JSONValue.string) ?? .null),
                        ("failing_since", change.failingSince.map { .double($0.unixSeconds) } ?? .null),
                        ("disable_reason", change.disableReason.map(JSONValue.string) ?? .null),
                        ("breaker_failures", .int(Int64(change.circuit.failures))),
                        ("breaker_open_until", change.circuit.openUntil.map { .double($0.unixSeconds) } ?? .null),
                        ("breaker_cooldown", .double(change.circuit.cooldownSeconds)),
                    ])
                }
            )
            try await db.run(
                """
                UPDATE hooks h SET last_response_code = t.code, last_response_status = t.status, last_response_message = t.message,
                    failing_since = t.failing_since, active = CASE WHEN t.disable_reason IS NULL THEN h.active ELSE false END,
                    disabled_reason = COALESCE(t.disable_reason, h.disabled_reason), breaker_failures = t.breaker_failures,
                    breaker_open_until = t.breaker_open_until, breaker_cooldown = t.breaker_cooldown
                FROM jsonb_to_recordset(\(json.jsonString)::jsonb) AS t(id bigint, code integer, status text, message text,
                    failing_since double precision, disable_reason text, breaker_failures integer, breaker_open_until double precision,
                    breaker_cooldown double precision)
                WHERE h.id = t.id
                """
            )
        }
        // An ordered hook's next delivery, or a retry, may be due for another node.
        if turn.freesWork && !recorded.isEmpty { try await db.notify(.deliveries) }
        return recorded
    }

    /// The hooks' health as stored; with `locking`, their rows locked in ascending order (for an
    /// update that leaves their keys alone, so a delivery inserted for one meanwhile is not held up).
    static func health(of hookIDs: [Int64], locking: Bool, in db: SQL) async throws -> [Int64: HookHealth.Stored] {
        var stored: [Int64: HookHealth.Stored] = [:]
        for row in try await db.all(
            """
            SELECT id, failing_since, breaker_failures, breaker_open_until, breaker_cooldown, last_response_code, last_response_status,
                last_response_message FROM hooks WHERE id = ANY(\(hookIDs)) ORDER BY id \(unescaped: locking ? "FOR NO KEY UPDATE" : "")
            """
        ) {
            stored[try row("id", as: Int64.self)] = HookHealth.Stored(
                lastResponse: LastResponse(code: try row("last_response_code"), status: try row("last_response_status"), message: try row("last_response_message")),
                failingSince: try row.optionalDate("failing_since"),
                circuit: CircuitState(
                    failures: try row("breaker_failures"), openUntil: try row.optionalDate("breaker_open_until"), cooldownSeconds: try row("breaker_cooldown")
                )
            )
        }
        return stored
    }

    /// What the turn's recorded results change in each of the hooks' rows, leaving out the hooks
    /// whose row they leave as it is.
    static func changes(_ turn: RecordTurn, recorded: Set<String>, of hookIDs: [Int64], stored: [Int64: HookHealth.Stored]) -> [(hookID: Int64, update: HookHealth.Update)] {
        hookIDs.compactMap { hookID in
            guard let health = stored[hookID], let change = turn.change(forHook: hookID, recorded: recorded, stored: health) else { return nil }
            return (hookID, change)
        }
    }

    /// Deliveries in flight whose lease has run out (their node stopped before recording them) are
    /// made due again. Deliveries another live node is sending are left alone, so a node starting
    /// beside others does not send them twice; after a single node's own restart its deliveries
    /// are sent again once their lease (the hook's timeout plus the margin) has passed.
    public func recoverInFlight(now: Date) async throws -> Int {
        try await write { db in
            let rows = try await db.all(
                "SELECT * FROM deliveries WHERE status = 'in_flight' AND (lease_until IS NULL OR lease_until < \(now.unixSeconds)) FOR UPDATE SKIP LOCKED"
            )
            _ = try await requeue(rows, now: now, in: db)
            if !rows.isEmpty { try await db.notify(.deliveries) }
            return rows.count
        }
    }

    /// Puts in-flight rows back in the queue (``Requeue/recover``); returns how many.
    func requeue(_ rows: [PGRow], now: Date, in db: SQL) async throws -> Int {
        var requeued = 0
        for row in rows {
            guard let next = Requeue.recover.apply(to: try Self.stored(row), now: now) else { continue }
            try await db.run(
                "UPDATE deliveries SET status = \(next.status.rawValue), next_attempt_at = \(next.nextAttemptAt?.unixSeconds), lease_until = NULL WHERE pk = \(try row("pk", as: Int64.self))"
            )
            requeued += 1
        }
        return requeued
    }

    public func redeliver(deliveryID: String, now: Date) async throws -> Bool {
        try await write { db in
            guard let row = try await db.one("SELECT * FROM deliveries WHERE id = \(deliveryID) FOR UPDATE") else { return false }
            guard let next = Requeue.redeliver.apply(to: try Self.stored(row), now: now) else { return false }
            try await db.run(
                """
                UPDATE deliveries SET status = \(next.status.rawValue), attempts_in_run = \(next.attemptsInRun),
                    redelivery = \(next.redelivery), next_attempt_at = \(next.nextAttemptAt?.unixSeconds) WHERE id = \(deliveryID)
                """
            )
            try await Self.halfOpenBreaker(hookID: try row("hook_id", as: Int64.self), now: now, in: db)
            try await db.notify(.deliveries)
            return true
        }
    }

    /// A person's ping or redelivery is the probe an open circuit breaker waits for: it half-opens now.
    static func halfOpenBreaker(hookID: Int64, now: Date, in db: SQL) async throws {
        try await db.run(
            "UPDATE hooks SET breaker_open_until = \(now.unixSeconds) WHERE id = \(hookID) AND breaker_open_until > \(now.unixSeconds)"
        )
    }

    public func nextDueDate(after date: Date) async throws -> Date? {
        try await read { db in
            // A lease running out is also a moment something becomes due.
            try await db.value(
                """
                SELECT LEAST(
                    (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at > \(date.unixSeconds)),
                    (SELECT MIN(lease_until) FROM deliveries WHERE status = 'in_flight' AND lease_until > \(date.unixSeconds)))
                """,
                as: Double.self
            ).map(Date.init(timeIntervalSince1970:))
        }
    }

    public func unfinishedDeliveryCount(hookID: Int64, limit: Int) async throws -> Int {
        try await read { db in
            try await db.value(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE hook_id = \(hookID) AND status IN ('pending', 'in_flight') LIMIT \(limit)) AS held",
                as: Int.self
            ) ?? 0
        }
    }

    static func stored(_ row: PGRow) throws -> StoredLifecycle {
        StoredLifecycle(
            status: DeliveryStatus(rawValue: try row("status")) ?? .pending, attemptsInRun: try row("attempts_in_run"),
            redelivery: try row("redelivery"), retries: try row("retries"), nextAttemptAt: try row.optionalDate("next_attempt_at")
        )
    }
}

extension SQL {
    /// Runs `body` in a savepoint: kept when it returns, undone (and the transaction usable again)
    /// when it throws.
    func savepoint(_ body: () async throws -> Void) async throws {
        try await run("SAVEPOINT herald_step")
        do {
            try await body()
            try await run("RELEASE SAVEPOINT herald_step")
        } catch {
            try await run("ROLLBACK TO SAVEPOINT herald_step")
            throw error
        }
    }
}

extension Error {
    /// Whether trying the same statement again cannot succeed: a broken constraint or a value
    /// PostgreSQL refuses (classes 22 and 23), as opposed to a lost connection or a deadlock.
    var isPermanent: Bool {
        guard let state = sqlState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }
}

/// Attempt rows as one array per column, for an `INSERT … SELECT … FROM unnest(…)`: arrays hold no
/// NULL here, so an absent value is a marker beside it (-1 for a status, '' for an error class, a
/// flag for a text).
struct AttemptColumns {
    var deliveryID: [String] = [], number: [Int32] = [], trigger: [String] = [], startedAt: [Double] = [], durationMs: [Int32] = []
    var url: [String] = [], requestHeaders: [String] = [], requestBody: [String] = [], responseStatus: [Int32] = []
    var responseHeaders: [String] = [], responseBody: [String] = [], hasResponseBody: [Bool] = []
    var errorClass: [String] = [], errorMessage: [String] = [], hasErrorMessage: [Bool] = []

    mutating func append(_ attempt: Attempt) {
        deliveryID.append(attempt.deliveryID)
        number.append(Int32(clamping: attempt.number))
        trigger.append(attempt.trigger.rawValue)
        startedAt.append(attempt.startedAt.unixSeconds)
        durationMs.append(Int32(clamping: attempt.durationMs))
        url.append(attempt.url)
        requestHeaders.append(encodeHeaders(attempt.requestHeaders))
        requestBody.append(attempt.requestBody)
        responseStatus.append(attempt.responseStatus.map { Int32(clamping: $0) } ?? -1)
        responseHeaders.append(encodeHeaders(attempt.responseHeaders))
        responseBody.append(attempt.responseBody ?? "")
        hasResponseBody.append(attempt.responseBody != nil)
        errorClass.append(attempt.errorClass?.rawValue ?? "")
        errorMessage.append(attempt.errorMessage ?? "")
        hasErrorMessage.append(attempt.errorMessage != nil)
    }
}
