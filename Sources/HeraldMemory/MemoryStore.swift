import Foundation
import HeraldCore

/// The whole outbox in memory: teams, the event log, hooks, deliveries and their attempts, HTTP Sync
/// pages, replay jobs and the audit log, with the SQLite backend's semantics row for row.
///
/// Fast unit tests of the delivery engine and of ``DeliveryQueue`` run on it (no file, no socket),
/// and it is the model for a new backend: every method is one transaction — an actor method
/// without a suspension point runs whole, and one that can fail checks before it writes — and every
/// decision is HeraldCore's (``ClaimTurn``, ``RecordTurn``, ``Requeue``, ``NewDelivery``), the store
/// only moving rows.
///
/// Rows keep what SQLite's columns keep: dates as seconds since 1970 (compared in that form too),
/// the audit log's changes as their JSON text reads back. Foreign keys hold as SQLite's do (a hook
/// needs its team, a delivery its event) and cascade as they do (a deleted hook takes its deliveries,
/// their attempts and its replay jobs). Keys only grow: the key of a deleted row is never given again.
public actor MemoryStore: OutboxStore {
    /// What committed changes announce (``StoreSignals``).
    let signalHub = SignalHub()

    // MARK: Tables

    private var teamRows: [Int64: Team] = [:]
    /// The event log, ascending by `seq`.
    private var eventRows: [EventRow] = []
    /// The last `seq` given (SQLite's `event_seq` counter): the log stays gap-free whatever retention deletes.
    private var lastEventSeq: Int64 = 0
    private var eventIDs: Set<String> = []
    /// The `seq` of the event stored under each idempotency key, in its scope.
    private var idempotencyKeys: [IdempotencyKey: Int64] = [:]
    /// The last `seq` fanned out; moved only by ``commitFanOut(_:now:)``'s compare-and-set.
    private var fanOutCursor: Int64 = 0
    private var hookRows: [Int64: Hook] = [:]
    /// Each rate-limited hook's next slot (``RateSlots``).
    private var hookRates: [Int64: Date] = [:]
    /// Deliveries, ascending by key.
    private var deliveryRows: [DeliveryRow] = []
    /// Each delivery's key, by delivery id.
    private var deliveryKeys: [String: Int64] = [:]
    /// Each delivery's attempts, in the order recorded.
    private var attemptRows: [String: [AttemptRow]] = [:]
    private var replayJobRows: [Int64: ReplayJob] = [:]
    /// The audit log, ascending by id.
    private var auditRows: [AuditEntry] = []
    /// The last key given in each table.
    private var lastKeys: [Table: Int64] = [:]

    public init() {}

    fileprivate enum Table: Hashable {
        case team, hook, delivery, attempt, replayJob, audit
    }

    /// Who an event's idempotency key belongs to, and the key.
    fileprivate struct IdempotencyKey: Hashable {
        var scope: String
        var key: String
    }

    /// An event as the log keeps it.
    fileprivate struct EventRow {
        var event: Event
        var idempotency: IdempotencyKey?
        /// The hook a ping or an HTTP Sync page is addressed to: such an event stays out of the
        /// feed, of fan-out and of replays.
        var targetHookID: Int64?
    }

    /// A delivery as the `deliveries` table keeps it.
    fileprivate struct DeliveryRow {
        /// SQLite's `pk`: a claim's ``DueDelivery/key`` and the log's ``DeliveryCursor``.
        let key: Int64
        let id: String
        let hookID: Int64
        let teamID: Int64
        let eventSeq: Int64
        var stored: StoredLifecycle
        var totalAttempts = 0
        var lastStatusCode: Int?
        var lastDurationMs: Int?
        var deliveredAt: Date?
        let createdAt: Date
        let note: String?
        let syncThrough: Int64?

        var isUnfinished: Bool { stored.status == .pending || stored.status == .inFlight }

        func isDue(at now: Date) -> Bool {
            stored.status == .pending && stored.nextAttemptAt.map { $0 <= now } == true
        }

        var due: DueDelivery {
            DueDelivery(
                key: key, deliveryID: id, hookID: hookID, eventSeq: eventSeq, stored: stored, totalAttempts: totalAttempts, syncThrough: syncThrough
            )
        }

        func delivery(of event: Event) -> Delivery {
            Delivery(
                id: id, hookID: hookID, teamID: teamID, eventSeq: eventSeq, eventID: event.id, eventType: event.type, lifecycle: stored.lifecycle,
                totalAttempts: totalAttempts, lastStatusCode: lastStatusCode, lastDurationMs: lastDurationMs, deliveredAt: deliveredAt,
                createdAt: createdAt, cursor: DeliveryCursor(rowID: key), note: note
            )
        }
    }

    /// An attempt with its row id (the order retention strips bodies in).
    fileprivate struct AttemptRow {
        let id: Int64
        var attempt: Attempt
    }
}

// MARK: - TeamStore

extension MemoryStore: TeamStore {
    public func createTeam(name: String, slug: String, now: Date) async throws -> Team {
        guard !teamRows.values.contains(where: { $0.slug == slug }) else { throw StoreError.conflict("a team with slug \(slug) exists") }
        let team = Team(id: nextKey(.team), name: name, slug: slug, createdAt: now)
        var row = team
        row.createdAt = now.asStored
        teamRows[team.id] = row
        // As SQLite answers: the team as written, not as read back.
        return team
    }

    public func teams() async throws -> [Team] {
        teamRows.values.sorted { $0.id < $1.id }
    }

    public func team(id: Int64) async throws -> Team? {
        teamRows[id]
    }

    public func team(slug: String) async throws -> Team? {
        teamRows.values.first { $0.slug == slug }
    }

    public func setExtraChannels(_ channels: [String], teamID: Int64) async throws -> Team? {
        teamRows[teamID]?.extraChannels = channels
        return teamRows[teamID]
    }

    public func renameTeam(id: Int64, name: String) async throws -> Team? {
        teamRows[id]?.name = name
        return teamRows[id]
    }

    /// Members and tokens are not kept here (``UserStore``, ``TokenStore``): only hooks hold a team.
    public func deleteTeam(id: Int64) async throws -> TeamDeletion {
        guard teamRows[id] != nil else { return .notFound }
        let hookCount = hookRows.values.filter { $0.teamID == id }.count
        guard hookCount == 0 else { return .inUse(hooks: hookCount, members: 0, tokens: 0) }
        teamRows[id] = nil
        return .deleted
    }
}

// MARK: - EventStore

extension MemoryStore: EventStore {
    public func append(_ events: [NewEvent]) async throws -> [AppendedEvent] {
        let appended = try appendEvents(events, targetHookID: nil)
        signalHub.raise(.events)
        return appended
    }

    public func events(since seq: Int64, limit: Int) async throws -> [Event] {
        feed(after: seq, limit: limit)
    }

    /// Matches `data.id` and `data.database` as SQLite's `json_extract` does: string values only.
    public func documentEvents(database: String, id: String, limit: Int) async throws -> [Event] {
        let type = DatabaseInfo.changeEventType(database)
        var found: [Event] = []
        for row in eventRows.reversed() where row.event.type == type {
            guard found.count < Self.rowLimit(limit) else { break }
            guard let data = try? JSONValue(parsing: row.event.data), data["id"]?.stringValue == id, data["database"]?.stringValue == database
            else { continue }
            found.append(row.event)
        }
        return found
    }

    public func events(idempotencyKeys keys: [String], scope: String) async throws -> [String: Event] {
        var found: [String: Event] = [:]
        for key in Set(keys) {
            if let event = storedEvent(idempotencyKey: IdempotencyKey(scope: scope, key: key)) { found[key] = event }
        }
        return found
    }

    public func lastSeq() async throws -> Int64 {
        lastEventSeq
    }

    /// Memory can always be written.
    public func checkWritable() async throws {}
}

// MARK: - HookStore

extension MemoryStore: HookStore {
    /// A hook of the config file (a managed key) or an HTTP Sync hook gets no ping: the receiver of
    /// a Sync Gateway handler expects documents only, and a sync hook posts pages.
    public func createHook(teamID: Int64, settings: HookSettings, keys: HookKeys, now: Date) async throws -> (hook: Hook, pingDeliveryID: String?) {
        guard teamRows[teamID] != nil else { throw StoreError.notFound("team \(teamID)") }
        if let key = settings.managedKey, hookRows.values.contains(where: { $0.managedKey == key }) {
            throw StoreError.conflict("a hook with managed key \(key) exists")
        }
        let now = now.asStored
        var hook = Hook(
            id: nextKey(.hook), teamID: teamID, url: settings.url, contentType: settings.contentType, encryptedSecret: keys.encryptedSecret,
            events: settings.events, channels: settings.channels, active: settings.active, insecureSSL: settings.insecureSSL,
            timeoutSeconds: settings.timeoutSeconds, ordering: settings.ordering, signature: settings.signature, createdAt: now, updatedAt: now,
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: lastEventSeq,
            failingSince: nil, encryptedSigningKey: keys.encryptedSigningKey, publicKey: keys.publicKey, filter: settings.filter,
            transform: settings.transform, payloadFormat: settings.payloadFormat, maxInFlight: settings.maxInFlight, managedKey: settings.managedKey,
            encryptedCredentials: keys.encryptedCredentials
        )
        hook.mode = settings.mode
        hook.sync.pageSize = settings.sync.pageSize
        hook.sync.periodSeconds = settings.sync.periodSeconds
        hook.githubHeaders = settings.githubHeaders
        hook.policy = settings.policy
        hook.sync.cursor = settings.sync.cursor
        // The ping first: appending its event is the one step that can be refused, and nothing is written before it.
        let pingID = settings.managedKey == nil && settings.mode == .push ? try queuePing(for: hook, now: now) : nil
        hookRows[hook.id] = hook
        if pingID != nil { signalHub.raise(.deliveries) }
        return (hook, pingID)
    }

    public func hook(id: Int64) async throws -> Hook? {
        hookRows[id]
    }

    public func hooks(teamID: Int64?) async throws -> [Hook] {
        hookRows.values.filter { teamID == nil || $0.teamID == teamID }.sorted { $0.id < $1.id }
    }

    /// Saves what SQLite saves: not the team, the mode, `createdAfterSeq`, `lastResponse`, the
    /// managed key, nor the HTTP Sync position (cursor, request, last sync), which have verbs of their own.
    public func updateHook(_ hook: Hook, now: Date) async throws -> Hook {
        guard var row = hookRows[hook.id] else { throw StoreError.notFound("hook \(hook.id)") }
        row.url = hook.url
        row.contentType = hook.contentType
        row.encryptedSecret = hook.encryptedSecret
        row.events = hook.events
        row.channels = hook.channels
        row.active = hook.active
        row.insecureSSL = hook.insecureSSL
        row.timeoutSeconds = hook.timeoutSeconds
        row.ordering = hook.ordering
        row.signature = hook.signature
        row.disabledReason = hook.disabledReason
        row.failingSince = hook.failingSince?.asStored
        row.updatedAt = now.asStored
        row.encryptedSigningKey = hook.encryptedSigningKey
        row.publicKey = hook.publicKey
        row.encryptedPreviousSecret = hook.encryptedPreviousSecret
        row.previousSecretExpiresAt = hook.previousSecretExpiresAt?.asStored
        row.filter = hook.filter
        row.transform = hook.transform
        row.payloadFormat = hook.payloadFormat
        row.maxInFlight = hook.maxInFlight
        row.encryptedCredentials = hook.encryptedCredentials
        row.sync.pageSize = hook.sync.pageSize
        row.sync.periodSeconds = hook.sync.periodSeconds
        row.githubHeaders = hook.githubHeaders
        row.policy = hook.policy
        row.circuit = hook.circuit
        hookRows[hook.id] = row
        // Turned on (or changed while on): its waiting deliveries may go.
        if hook.active { signalHub.raise(.deliveries) }
        return row
    }

    /// Its deliveries (with their attempts) and replay jobs go with it; the events addressed to it stay.
    public func deleteHook(id: Int64) async throws -> Bool {
        guard hookRows.removeValue(forKey: id) != nil else { return false }
        hookRates[id] = nil
        removeDeliveries { $0.hookID == id }
        replayJobRows = replayJobRows.filter { $0.value.hookID != id }
        return true
    }
}

// MARK: - DeliveryStore

extension MemoryStore: DeliveryStore {
    public func fanOutBatch(limit: Int) async throws -> FanOutBatch {
        let events = feed(after: fanOutCursor, limit: limit)
        return events.isEmpty ? .empty(after: fanOutCursor) : FanOutBatch(after: fanOutCursor, events: events, hooks: activeHooks())
    }

    public func commitFanOut(_ plan: FanOutPlan, now: Date) async throws -> Int? {
        guard fanOutCursor == plan.after else { return nil }
        let rows = plan.newDeliveries(routedBy: activeHooks(), now: now)
        try requireEvents(rows.map(\.eventSeq))
        fanOutCursor = plan.through
        for row in rows { insert(row, now: now) }
        if !rows.isEmpty { signalHub.raise(.deliveries) }
        return rows.count
    }

    /// One step, oldest rows first in each part: finished deliveries (with their attempts), then
    /// attempt bodies, then events fanned out with no delivery left (pings and pages included).
    public func prune(before cutoff: Date, limit: Int) async throws -> PruneResult {
        let cutoff = cutoff.asStored
        let limit = Self.rowLimit(limit)
        var result = PruneResult()

        let finished = deliveryRows.filter { ($0.stored.status == .succeeded || $0.stored.status == .skipped) && $0.createdAt < cutoff }
            .sorted { ($0.createdAt, $0.key) < ($1.createdAt, $1.key) }.prefix(limit)
        let finishedKeys = Set(finished.map(\.key))
        result.deliveries = removeDeliveries { finishedKeys.contains($0.key) }

        var bodies: [(deliveryID: String, index: Int, startedAt: Date, id: Int64)] = []
        for (deliveryID, rows) in attemptRows {
            for (index, row) in rows.enumerated()
            where row.attempt.startedAt < cutoff && (!row.attempt.requestBody.isEmpty || row.attempt.responseBody != nil) {
                bodies.append((deliveryID, index, row.attempt.startedAt, row.id))
            }
        }
        let stripped = bodies.sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }.prefix(limit)
        for body in stripped {
            attemptRows[body.deliveryID]?[body.index].attempt.requestBody = ""
            attemptRows[body.deliveryID]?[body.index].attempt.responseBody = nil
        }
        result.attemptBodies = stripped.count

        let delivered = Set(deliveryRows.map(\.eventSeq))
        let cursor = fanOutCursor
        let old = eventRows.filter { $0.event.timestamp < cutoff && $0.event.seq <= cursor && !delivered.contains($0.event.seq) }
            .sorted { ($0.event.timestamp, $0.event.seq) < ($1.event.timestamp, $1.event.seq) }.prefix(limit)
        let oldSeqs = Set(old.map(\.event.seq))
        eventRows.removeAll { oldSeqs.contains($0.event.seq) }
        for row in old {
            eventIDs.remove(row.event.id)
            if let key = row.idempotency { idempotencyKeys[key] = nil }
        }
        result.events = old.count
        return result
    }

    public func ping(hookID: Int64, now: Date) async throws -> String {
        guard let hook = hookRows[hookID] else { throw StoreError.notFound("hook \(hookID)") }
        let id = try queuePing(for: hook, now: now)
        halfOpenBreaker(hookID: hookID, now: now)
        signalHub.raise(.deliveries)
        return id
    }

    public func deliver(eventSeq: Int64, toHook hookID: Int64, now: Date) async throws -> String {
        guard let hook = hookRows[hookID] else { throw StoreError.notFound("hook \(hookID)") }
        guard eventRows.contains(where: { $0.event.seq == eventSeq }) else { throw StoreError.notFound("event \(eventSeq)") }
        let id = insert(.event(hookID: hookID, teamID: hook.teamID, eventSeq: eventSeq, now: now), now: now)
        signalHub.raise(.deliveries)
        return id
    }

    /// A person's ping or redelivery is the probe an open circuit breaker waits for: it half-opens now.
    private func halfOpenBreaker(hookID: Int64, now: Date) {
        if let until = hookRows[hookID]?.circuit.openUntil, until > now { hookRows[hookID]?.circuit.openUntil = now.asStored }
    }

    public func claim(_ turn: ClaimTurn) async throws -> [ClaimedDelivery] {
        claimRows(turn, hooks: activeHooks().byID)
    }

    /// Nothing here breaks a rule, so ``StoreError/refused(_:)`` is never thrown. What the record
    /// frees raises no signal: the engine claims right after it records, as with SQLite.
    public func record(_ turn: RecordTurn, attempts: Bool, thenClaim claim: ClaimTurn?) async throws -> RecordedTurn {
        let recorded = recordRows(turn, attempts: attempts)
        // The active hooks as the record left them: a hook it disabled is not claimed from.
        return RecordedTurn(recorded: recorded, claimed: claim.map { claimRows($0, hooks: activeHooks().byID) } ?? [])
    }

    public func recoverInFlight(now: Date) async throws -> Int {
        var count = 0
        for index in deliveryRows.indices where deliveryRows[index].stored.status == .inFlight {
            count += 1
            if let next = Requeue.recover.apply(to: deliveryRows[index].stored, now: now) { save(next, at: index) }
        }
        if count > 0 { signalHub.raise(.deliveries) }
        return count
    }

    public func redeliver(deliveryID: String, now: Date) async throws -> Bool {
        guard let index = deliveryIndex(id: deliveryID), let next = Requeue.redeliver.apply(to: deliveryRows[index].stored, now: now) else { return false }
        save(next, at: index)
        halfOpenBreaker(hookID: deliveryRows[index].hookID, now: now)
        signalHub.raise(.deliveries)
        return true
    }

    public func nextDueDate(after date: Date) async throws -> Date? {
        let after = date.asStored
        return deliveryRows.lazy.filter { $0.stored.status == .pending }.compactMap(\.stored.nextAttemptAt).filter { $0 > after }.min()
    }

    public func unfinishedDeliveryCount(hookID: Int64, limit: Int) async throws -> Int {
        min(deliveryRows.filter { $0.hookID == hookID && $0.isUnfinished }.count, Self.rowLimit(limit))
    }
}

// MARK: - DeliveryLogStore

extension MemoryStore: DeliveryLogStore {
    /// Newest first (descending key), each delivery joined to its event for its type and id.
    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        let end = query.cursor.map { cursor in deliveryRows.partitionPoint { $0.key < cursor.rowID } } ?? deliveryRows.count
        let statuses = query.statuses.map { Set($0) }
        let seqs = query.eventSeqs.map { Set($0) }
        let (since, until) = (query.since?.asStored, query.until?.asStored)
        let limit = Self.rowLimit(query.limit)
        var page: [Delivery] = []
        for row in deliveryRows[..<end].reversed() {
            guard page.count < limit else { break }
            if let hookID = query.hookID, row.hookID != hookID { continue }
            if let teamID = query.teamID, row.teamID != teamID { continue }
            if let statuses, !statuses.contains(row.stored.status) { continue }
            if let seqs, !seqs.contains(row.eventSeq) { continue }
            if let since, row.createdAt < since { continue }
            if let until, row.createdAt >= until { continue }
            guard let event = storedEvent(seq: row.eventSeq) else { continue }
            if let type = query.eventType, event.type != type { continue }
            if let eventID = query.eventID, event.id != eventID { continue }
            page.append(row.delivery(of: event))
        }
        return page
    }

    public func delivery(id: String) async throws -> Delivery? {
        guard let index = deliveryIndex(id: id), let event = storedEvent(seq: deliveryRows[index].eventSeq) else { return nil }
        return deliveryRows[index].delivery(of: event)
    }

    public func attempts(deliveryID: String) async throws -> [Attempt] {
        (attemptRows[deliveryID] ?? []).sorted { ($0.attempt.number, $0.id) < ($1.attempt.number, $1.id) }.map(\.attempt)
    }

    public func deliveryCounts() async throws -> [DeliveryStatus: Int] {
        var counts: [DeliveryStatus: Int] = [:]
        for row in deliveryRows { counts[row.stored.status, default: 0] += 1 }
        return counts
    }

    public func oldestPendingDate() async throws -> Date? {
        deliveryRows.lazy.filter { $0.stored.status == .pending }.map(\.createdAt).min()
    }

    public func unfinishedByHook() async throws -> [Int64: Int] {
        var counts: [Int64: Int] = [:]
        for row in deliveryRows where row.isUnfinished { counts[row.hookID, default: 0] += 1 }
        return counts
    }

    public func backlog(now: Date, perTeam: Int) async throws -> Int {
        let now = now.asStored
        var waitingByTeam: [Int64: Int] = [:]
        for row in deliveryRows where row.stored.status == .inFlight || row.isDue(at: now) {
            if hookRows[row.hookID]?.active == true { waitingByTeam[row.teamID, default: 0] += 1 }
        }
        let deliveries = waitingByTeam.values.reduce(0) { $0 + min($1, perTeam) }
        let start = eventRows.partitionPoint { $0.event.seq <= fanOutCursor }
        return deliveries + eventRows[start...].filter { $0.targetHookID == nil }.count
    }
}

// MARK: - SyncPageStore

extension MemoryStore: SyncPageStore {
    public func queueSyncPage(hookID: Int64, body: String, through: Int64, note: String, now: Date) async throws -> String {
        guard let hook = hookRows[hookID] else { throw StoreError.notFound("hook \(hookID)") }
        let appended = try appendEvents([NewEvent(type: SyncPage.eventType, data: body, timestamp: now)], targetHookID: hookID)
        let id = insert(.syncPage(hookID: hookID, teamID: hook.teamID, eventSeq: appended[0].event.seq, through: through, note: note, now: now), now: now)
        hookRows[hookID]?.sync.requestedAt = nil
        signalHub.raise(.deliveries)
        return id
    }

    public func hasUnfinishedSyncPage(hookID: Int64) async throws -> Bool {
        deliveryRows.last { $0.hookID == hookID && $0.syncThrough != nil }?.isUnfinished ?? false
    }

    public func skipSyncCursor(hookID: Int64, from: Int64, to: Int64) async throws {
        guard hookRows[hookID]?.sync.cursor == from else { return }
        hookRows[hookID]?.sync.cursor = to
    }

    public func requestSync(hookID: Int64, at: Date?) async throws {
        hookRows[hookID]?.sync.requestedAt = at?.asStored
        if at != nil { signalHub.raise(.sync) }
    }
}

// MARK: - ReplayStore

extension MemoryStore: ReplayStore {
    /// The range is every event created in `[since, until)`, pings and pages included (they are
    /// left out when read); an empty range is a job done at once.
    public func createReplayJob(hookID: Int64, since: Date, until: Date?, onlyFailed: Bool, now: Date) async throws -> ReplayJob {
        guard hookRows[hookID] != nil else { throw StoreError.notFound("hook \(hookID)") }
        let (since, until, now) = (since.asStored, until?.asStored, now.asStored)
        let end = (until ?? .distantFuture).asStored
        // The log is in `seq` order: the first match is the lowest `seq`, the last the highest.
        let fromSeq = eventRows.first { $0.event.timestamp >= since }?.event.seq ?? 1
        let toSeq = max(eventRows.last { $0.event.timestamp < end }?.event.seq ?? 0, fromSeq - 1)
        let state: JobState = toSeq < fromSeq ? .done : .running
        let job = ReplayJob(
            id: nextKey(.replayJob), hookID: hookID, since: since, until: until, onlyFailed: onlyFailed, state: state, fromSeq: fromSeq,
            toSeq: toSeq, cursor: fromSeq - 1, queued: 0, createdAt: now, finishedAt: state == .done ? now : nil
        )
        replayJobRows[job.id] = job
        if state == .running { signalHub.raise(.replays) }
        return job
    }

    public func replayJob(id: Int64) async throws -> ReplayJob? {
        replayJobRows[id]
    }

    public func replayJobs(state: JobState) async throws -> [ReplayJob] {
        replayJobRows.values.filter { $0.state == state }.sorted { $0.id < $1.id }
    }

    public func cancelReplayJob(id: Int64, now: Date) async throws -> Bool {
        guard replayJobRows[id]?.state == .running else { return false }
        replayJobRows[id]?.state = .cancelled
        replayJobRows[id]?.finishedAt = now.asStored
        return true
    }

    public func replayEvents(for job: ReplayJob, limit: Int) async throws -> [Event] {
        feed(after: job.cursor, through: job.toSeq, limit: limit)
    }

    /// Each seq's latest delivery to the hook is replayed; an event without one gets a new delivery.
    public func commitReplay(_ job: ReplayJob, seqs: [Int64], through: Int64, now: Date) async throws -> Int? {
        guard let row = replayJobRows[job.id], row.state == .running, row.cursor == job.cursor, let hook = hookRows[job.hookID] else { return nil }
        var latest: [Int64: Int] = [:]
        for (index, delivery) in deliveryRows.enumerated() where delivery.hookID == job.hookID { latest[delivery.eventSeq] = index }
        if !job.onlyFailed { try requireEvents(seqs.filter { latest[$0] == nil }) }
        var queued = 0
        for seq in seqs {
            if let index = latest[seq] {
                let stored = deliveryRows[index].stored
                if job.onlyFailed && stored.status != .failed { continue }
                // Nil while in flight: it is being sent already.
                guard let next = Requeue.replay.apply(to: stored, now: now) else { continue }
                save(next, at: index)
            } else {
                if job.onlyFailed { continue }
                insert(.event(hookID: job.hookID, teamID: hook.teamID, eventSeq: seq, now: now), now: now)
                latest[seq] = deliveryRows.count - 1
            }
            queued += 1
        }
        if queued > 0 { signalHub.raise(.deliveries) }
        let finished = through >= job.toSeq
        replayJobRows[job.id]?.cursor = through
        replayJobRows[job.id]?.queued += queued
        replayJobRows[job.id]?.state = finished ? .done : .running
        replayJobRows[job.id]?.finishedAt = finished ? now.asStored : nil
        return queued
    }
}

// MARK: - AuditStore

extension MemoryStore: AuditStore {
    /// The entry gets the next id; its changes are kept as their JSON text reads back.
    public func recordAudit(_ entry: AuditEntry) async throws {
        var row = entry
        row.id = nextKey(.audit)
        row.at = entry.at.asStored
        row.changes = (try? JSONValue(parsing: entry.changes.jsonString)) ?? .object([])
        auditRows.append(row)
    }

    public func auditLog(_ query: AuditQuery) async throws -> [AuditEntry] {
        let (since, until) = (query.since?.asStored, query.until?.asStored)
        let limit = Self.rowLimit(query.limit)
        var page: [AuditEntry] = []
        for entry in auditRows.reversed() {
            guard page.count < limit else { break }
            guard query.matches(action: entry.action) else { continue }
            if let actor = query.actor, entry.actor != actor { continue }
            if let teamID = query.teamID, entry.teamID != teamID { continue }
            if let since, entry.at < since { continue }
            if let until, entry.at >= until { continue }
            if let beforeID = query.beforeID, entry.id >= beforeID { continue }
            page.append(entry)
        }
        return page
    }

    /// The oldest entries first.
    public func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int {
        let cutoff = cutoff.asStored
        let old = auditRows.filter { $0.at < cutoff }.sorted { ($0.at, $0.id) < ($1.at, $1.id) }.prefix(Self.rowLimit(limit))
        let ids = Set(old.map(\.id))
        auditRows.removeAll { ids.contains($0.id) }
        return old.count
    }
}

// MARK: - StoreSignals

extension MemoryStore: StoreSignals {
    public nonisolated func signals() async -> AsyncStream<StoreSignal> {
        signalHub.subscribe()
    }
}

// MARK: - Rows

extension MemoryStore {
    /// SQL's `LIMIT`: a negative limit is none.
    private static func rowLimit(_ limit: Int) -> Int {
        limit < 0 ? .max : limit
    }

    /// The next key of `table`: 1, 2, 3…
    private func nextKey(_ table: Table) -> Int64 {
        let key = lastKeys[table, default: 0] + 1
        lastKeys[table] = key
        return key
    }

    /// The active hooks and their teams, as fan-out and claims read them (SQLite caches them until a
    /// hook or a team's channels change; here they are read afresh).
    public func activeHooks() -> ActiveHooks {
        let hooks = hookRows.values.filter(\.active).sorted { $0.id < $1.id }
        return ActiveHooks(hooks: hooks, teams: Set(hooks.map(\.teamID)).sorted().compactMap { teamRows[$0] })
    }

    private func storedEvent(seq: Int64) -> Event? {
        let index = eventRows.partitionPoint { $0.event.seq < seq }
        return index < eventRows.count && eventRows[index].event.seq == seq ? eventRows[index].event : nil
    }

    private func storedEvent(idempotencyKey key: IdempotencyKey) -> Event? {
        guard let seq = idempotencyKeys[key] else { return nil }
        return storedEvent(seq: seq)
    }

    /// Events after `seq` (up to `last`) not addressed to one hook, oldest first, at most `limit`.
    private func feed(after seq: Int64, through last: Int64 = .max, limit: Int) -> [Event] {
        let start = eventRows.partitionPoint { $0.event.seq <= seq }
        var events: [Event] = []
        for row in eventRows[start...] {
            guard events.count < Self.rowLimit(limit), row.event.seq <= last else { break }
            if row.targetHookID == nil { events.append(row.event) }
        }
        return events
    }

    /// Appends events, numbering them from the `seq` counter. An idempotency key seen before in its
    /// scope (in the log, or earlier in the batch) answers with the event stored under it. Every
    /// row is checked before any is written: an id taken refuses the whole batch.
    private func appendEvents(_ events: [NewEvent], targetHookID: Int64?) throws -> [AppendedEvent] {
        var seq = lastEventSeq
        var rows: [EventRow] = []
        var batchKeys: [IdempotencyKey: Event] = [:]
        var batchIDs: Set<String> = []
        var results: [AppendedEvent] = []
        results.reserveCapacity(events.count)
        for new in events {
            let key = new.idempotencyKey.map { IdempotencyKey(scope: new.idempotencyScope, key: $0) }
            if let key, let existing = batchKeys[key] ?? storedEvent(idempotencyKey: key) {
                results.append(AppendedEvent(event: existing, duplicate: true))
                continue
            }
            guard !eventIDs.contains(new.id), batchIDs.insert(new.id).inserted else { throw StoreError.conflict("an event with id \(new.id) exists") }
            seq += 1
            let event = Event(
                seq: seq, id: new.id, type: new.type, data: new.data, channels: new.channels, idempotencyKey: new.idempotencyKey, timestamp: new.timestamp,
                version: new.version, traceContext: new.traceContext
            )
            var row = EventRow(event: event, idempotency: key, targetHookID: targetHookID)
            row.event.timestamp = new.timestamp.asStored
            rows.append(row)
            if let key { batchKeys[key] = row.event }
            // As SQLite answers: the event as written, not as read back.
            results.append(AppendedEvent(event: event, duplicate: false))
        }
        for row in rows {
            eventIDs.insert(row.event.id)
            if let key = row.idempotency { idempotencyKeys[key] = row.event.seq }
        }
        eventRows += rows
        lastEventSeq = seq
        return results
    }

    /// Throws as a delivery's foreign key to its event would, before anything is written.
    private func requireEvents(_ seqs: [Int64]) throws {
        for seq in seqs where storedEvent(seq: seq) == nil { throw StoreError.notFound("event \(seq)") }
    }

    /// Appends a `ping` event addressed to the hook alone and inserts its delivery (one attempt, no retries).
    private func queuePing(for hook: Hook, now: Date) throws -> String {
        let appended = try appendEvents([PingPayload.event(for: hook, now: now)], targetHookID: hook.id)
        return insert(.ping(hookID: hook.id, teamID: hook.teamID, eventSeq: appended[0].event.seq, now: now), now: now)
    }

    @discardableResult
    private func insert(_ delivery: NewDelivery, now: Date) -> String {
        var stored = delivery.stored
        stored.nextAttemptAt = stored.nextAttemptAt?.asStored
        let row = DeliveryRow(
            key: nextKey(.delivery), id: delivery.id, hookID: delivery.hookID, teamID: delivery.teamID, eventSeq: delivery.eventSeq, stored: stored,
            createdAt: now.asStored, note: delivery.note, syncThrough: delivery.syncThrough
        )
        deliveryRows.append(row)
        deliveryKeys[row.id] = row.key
        return row.id
    }

    private func deliveryIndex(key: Int64) -> Int? {
        let index = deliveryRows.partitionPoint { $0.key < key }
        return index < deliveryRows.count && deliveryRows[index].key == key ? index : nil
    }

    private func deliveryIndex(id: String) -> Int? {
        guard let key = deliveryKeys[id] else { return nil }
        return deliveryIndex(key: key)
    }

    /// Saves a requeued lifecycle (``Requeue``): whether it retries never changes.
    private func save(_ next: StoredLifecycle, at index: Int) {
        deliveryRows[index].stored.status = next.status
        deliveryRows[index].stored.attemptsInRun = next.attemptsInRun
        deliveryRows[index].stored.redelivery = next.redelivery
        deliveryRows[index].stored.nextAttemptAt = next.nextAttemptAt?.asStored
    }

    /// Deletes the deliveries `shouldRemove` picks, with their attempts; returns how many.
    @discardableResult
    private func removeDeliveries(where shouldRemove: (DeliveryRow) -> Bool) -> Int {
        let gone = deliveryRows.filter(shouldRemove)
        guard !gone.isEmpty else { return 0 }
        let keys = Set(gone.map(\.key))
        deliveryRows.removeAll { keys.contains($0.key) }
        for row in gone {
            deliveryKeys[row.id] = nil
            attemptRows[row.id] = nil
        }
        return gone.count
    }

    /// One claim as `turn` decides it, as SQLite carries it out: the hooks with pending deliveries
    /// (ascending ids), what the turn reads for each, the rows it chooses, their events, the marks it makes.
    private func claimRows(_ turn: ClaimTurn, hooks: [Int64: Hook]) -> [ClaimedDelivery] {
        let pendingHookIDs = Set(deliveryRows.lazy.filter { $0.stored.status == .pending }.map(\.hookID)).sorted()
        guard !pendingHookIDs.isEmpty else { return [] }
        var unfinished: [Int64: [DeliveryRow]] = [:]
        for row in deliveryRows where row.isUnfinished { unfinished[row.hookID, default: []].append(row) }
        var turn = turn
        var open: [Int64: Date] = [:]
        for id in pendingHookIDs { if let until = hookRows[id]?.circuit.openUntil { open[id] = until } }
        turn.setCircuits(open, among: pendingHookIDs)
        let limited = turn.rateLimited(pendingHookIDs, hooks: hooks)
        if !limited.isEmpty { turn.setRates(hookRates, of: limited, hooks: hooks) }
        var rows: [DueDelivery] = []
        for hookID in pendingHookIDs {
            let candidates = unfinished[hookID] ?? []
            switch turn.read(for: hooks[hookID]) {
            case .due(let limit)?:
                // Oldest due first, then by event `seq`.
                let dueRows = candidates.filter { $0.isDue(at: turn.now) }.sorted { a, b in
                    (a.stored.nextAttemptAt ?? .distantPast, a.eventSeq, a.key) < (b.stored.nextAttemptAt ?? .distantPast, b.eventSeq, b.key)
                }
                rows += dueRows.prefix(Self.rowLimit(limit)).map(\.due)
            case .oldestUnfinished?:
                // Pending or in flight: an ordered hook's head may be in flight, which holds the hook back.
                if let head = candidates.min(by: { ($0.eventSeq, $0.key) < ($1.eventSeq, $1.key) }) { rows.append(head.due) }
            case nil:
                continue
            }
        }
        let chosen = turn.choose(rows, hooks: hooks)
        var events: [Int64: Event] = [:]
        for seq in Set(chosen.map(\.eventSeq)) { events[seq] = storedEvent(seq: seq) }
        var claimed: [(mark: ClaimMark, delivery: ClaimedDelivery)] = []
        for (mark, delivery) in turn.claim(chosen, hooks: hooks, events: events) {
            guard let index = deliveryIndex(key: mark.key) else { continue }
            deliveryRows[index].stored.status = mark.status
            deliveryRows[index].stored.nextAttemptAt = mark.nextAttemptAt?.asStored
            claimed.append((mark, delivery))
        }
        for (hookID, nextAt) in turn.rateMarks(claimed) { hookRates[hookID] = nextAt }
        return claimed.map(\.delivery)
    }

    /// Writes `turn`'s results as SQLite does; returns the deliveries recorded. Only a delivery still
    /// in flight is: one deleted with its hook, or recorded by an earlier try, is skipped.
    private func recordRows(_ turn: RecordTurn, attempts keepAttempts: Bool) -> Set<String> {
        var recorded: Set<String> = []
        for result in turn.results {
            let (attempt, lifecycle) = (result.attempt, result.lifecycle)
            guard let index = deliveryIndex(id: attempt.deliveryID), deliveryRows[index].stored.status == .inFlight else { continue }
            var row = deliveryRows[index]
            row.stored.status = lifecycle.status
            row.stored.attemptsInRun = lifecycle.attemptsInRun
            row.stored.redelivery = lifecycle.redelivery
            row.stored.nextAttemptAt = lifecycle.nextAttemptAt?.asStored
            row.totalAttempts = attempt.number
            row.lastStatusCode = attempt.responseStatus
            row.lastDurationMs = attempt.durationMs
            row.deliveredAt = attempt.finishedAt.asStored
            deliveryRows[index] = row
            recorded.insert(attempt.deliveryID)
            if let move = turn.syncCursorMove(for: result), var hook = hookRows[result.hookID] {
                hook.sync.cursor = max(hook.sync.cursor, move.through)
                hook.sync.lastSyncedAt = move.at.asStored
                hookRows[result.hookID] = hook
            }
            guard keepAttempts else { continue }
            var kept = attempt
            kept.startedAt = attempt.startedAt.asStored
            attemptRows[attempt.deliveryID, default: []].append(AttemptRow(id: nextKey(.attempt), attempt: kept))
        }
        for hookID in turn.hookIDs {
            guard var hook = hookRows[hookID],
                let change = turn.change(
                    forHook: hookID, recorded: recorded,
                    stored: HookHealth.Stored(lastResponse: hook.lastResponse, failingSince: hook.failingSince, circuit: hook.circuit)
                )
            else { continue }
            hook.circuit = change.circuit
            hook.lastResponse = change.lastResponse
            hook.failingSince = change.failingSince?.asStored
            if let reason = change.disableReason {
                hook.active = false
                hook.disabledReason = reason
            }
            hookRows[hookID] = hook
        }
        return recorded
    }
}

extension Date {
    /// The date as a column of seconds since 1970 gives it back (SQLite's `REAL`). Rows keep dates in
    /// this form and compare them with arguments in it, as ``ClaimTurn/now`` is: a due time read back
    /// is never an ulp after the `now` it was written with.
    fileprivate var asStored: Date { Date(timeIntervalSince1970: timeIntervalSince1970) }
}

extension Array {
    /// The index of the first element `isBefore` does not hold for, in an array where it holds for a
    /// prefix: a binary search over rows sorted by key.
    fileprivate func partitionPoint(_ isBefore: (Element) -> Bool) -> Int {
        var (low, high) = (startIndex, endIndex)
        while low < high {
            let mid = low + (high - low) / 2
            if isBefore(self[mid]) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
