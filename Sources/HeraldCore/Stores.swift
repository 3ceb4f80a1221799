import Foundation
import Synchronization

/// Teams (tenants).
public protocol TeamStore: Sendable {
    /// Throws ``StoreError/conflict(_:)`` when the slug is taken.
    func createTeam(name: String, slug: String, now: Date) async throws -> Team
    func teams() async throws -> [Team]
    func team(id: Int64) async throws -> Team?
    func team(slug: String) async throws -> Team?
    /// Replaces the channels granted to the team besides its slug; nil when there is no such team.
    func setExtraChannels(_ channels: [String], teamID: Int64) async throws -> Team?
    /// Renames the team (its slug, and so its channel, stays); nil when there is no such team.
    func renameTeam(id: Int64, name: String) async throws -> Team?
    /// Deletes the team unless hooks, members or tokens still belong to it: decided in the
    /// transaction that deletes, so nothing made meanwhile is deleted with it.
    func deleteTeam(id: Int64) async throws -> TeamDeletion
}

/// What ``TeamStore/deleteTeam(id:)`` did.
public enum TeamDeletion: Sendable, Hashable {
    case deleted
    case notFound
    /// Nothing was deleted: these still belong to the team.
    case inUse(hooks: Int, members: Int, tokens: Int)
}

/// API tokens, stored hashed.
public protocol TokenStore: Sendable {
    /// `createdBy` names who made it (an email, a token, the command line); `createdByUserID` is
    /// the user, so that deleting them can revoke what they made.
    func createToken(
        name: String, scope: TokenScope, teamID: Int64?, hash: String, prefix: String, createdBy: String?, createdByUserID: Int64?, now: Date
    ) async throws -> APIToken
    func token(hash: String) async throws -> APIToken?
    /// All tokens, or one team's.
    func tokens(teamID: Int64?) async throws -> [APIToken]
    func deleteToken(id: Int64) async throws -> Bool
    /// Records that the token was used at `date`.
    func markTokenUsed(id: Int64, at date: Date) async throws
}

/// People who sign in to the web UI.
public protocol UserStore: Sendable {
    /// Throws ``StoreError/conflict(_:)`` when the email is taken.
    func createUser(email: String, passwordHash: String, role: User.Role, teamID: Int64?, now: Date) async throws -> User
    func user(id: Int64) async throws -> User?
    func user(email: String) async throws -> User?
    /// All users, or one team's.
    func users(teamID: Int64?) async throws -> [User]
    /// Saves a user's role, team, password hash, `disabled` and `mustChangePassword` (not the
    /// email); nil when there is no such user. A disabled user's sessions are deleted with it.
    func saveUser(_ user: User) async throws -> User?
    /// Deletes the user and their sessions.
    func deleteUser(id: Int64) async throws -> Bool
}

/// Browser sessions.
public protocol SessionStore: Sendable {
    /// Creates the session and records `now` as its user's last sign-in.
    func createSession(_ session: Session, now: Date) async throws
    /// The session and its user, if the session exists, has not expired and its user is not disabled.
    func session(tokenHash: String, now: Date) async throws -> (Session, User)?
    func deleteSession(tokenHash: String) async throws
    /// Ends every session of the user but `keeping` (a password change keeps the session that made it).
    func deleteSessions(userID: Int64, keeping: String?) async throws
    /// Keeps a one-time value for the session's next page (sealed by the caller); a portal
    /// session's (``PortalLink``) too.
    func setFlash(_ flash: Data, tokenHash: String) async throws
    /// The session's one-time value, removed as it is read.
    func takeFlash(tokenHash: String) async throws -> Data?
}

/// The event-type catalog.
public protocol EventTypeStore: Sendable {
    func eventTypes() async throws -> [EventType]
    func eventType(name: String) async throws -> EventType?
    /// Inserts or replaces; returns true when the type is new.
    @discardableResult func saveEventType(_ type: EventType) async throws -> Bool
    func deleteEventType(name: String) async throws -> Bool
    /// Inserts the types that are not there yet (first start).
    func seedEventTypes(_ types: [EventType]) async throws
}

/// The durable, sequenced event log.
public protocol EventStore: Sendable {
    /// Appends events in one transaction, numbering them with consecutive `seq`s. An event whose
    /// idempotency key was seen before in the same scope is not appended again: the first event
    /// is returned, marked duplicate.
    func append(_ events: [NewEvent]) async throws -> [AppendedEvent]
    /// Events after `seq` (pings to single hooks excluded), oldest first, at most `limit`.
    func events(since seq: Int64, limit: Int) async throws -> [Event]
    /// The change events of one document, newest first, at most `limit`.
    func documentEvents(database: String, id: String, limit: Int) async throws -> [Event]
    /// The events stored under these idempotency keys in `scope`, by key.
    func events(idempotencyKeys: [String], scope: String) async throws -> [String: Event]
    func lastSeq() async throws -> Int64
    /// Takes the database's write lock for an empty change and lets it go: throws when the
    /// database cannot be written (readiness).
    func checkWritable() async throws
}

/// Hooks.
public protocol HookStore: Sendable {
    /// Creates the hook and, in the same transaction, its first ping delivery.
    func createHook(teamID: Int64, settings: HookSettings, keys: HookKeys, now: Date) async throws -> (hook: Hook, pingDeliveryID: String?)
    func hook(id: Int64) async throws -> Hook?
    /// All hooks, or one team's.
    func hooks(teamID: Int64?) async throws -> [Hook]
    /// Saves settings, keys, `active` and `disabledReason`; bumps `updatedAt`.
    func updateHook(_ hook: Hook, now: Date) async throws -> Hook
    func deleteHook(id: Int64) async throws -> Bool
}

/// The outbox the engine works from: a store's row verbs for fan-out, claims, records, requeues
/// and retention, each one transaction. The multi-step decisions over them are
/// ``DeliveryQueue``'s; listing the log is ``DeliveryLogStore``'s, HTTP Sync's pages ``SyncPageStore``'s.
public protocol DeliveryStore: Sendable {
    /// Up to `limit` events after the fan-out cursor, with the active hooks they may go to.
    func fanOutBatch(limit: Int) async throws -> FanOutBatch
    /// The active hooks as fan-out reads them: held by the store until a hook or a team's channels
    /// change, so asking costs one read of the hooks' version, not a read of every hook.
    func activeHooks() async throws -> ActiveHooks
    /// Stores the deliveries planned for a batch (pending, or skipped with their note) and moves the
    /// fan-out cursor from `plan.after` to `plan.through`, in one transaction. A planned delivery the
    /// hooks no longer route (deleted, deactivated, resubscribed, a grant revoked since the batch was
    /// read) is dropped. Returns the number stored, or nil (and stores
    /// nothing) when the cursor is no longer at `plan.after`.
    func commitFanOut(_ plan: FanOutPlan, now: Date) async throws -> Int?
    /// One small step of retention, each part its own short transaction of at most `limit` rows:
    /// strips the request and response bodies of attempts started before `cutoff`, deletes
    /// succeeded and skipped deliveries created before it (with their attempts), and deletes events
    /// created before it that are fanned out and have no delivery left. Documents are never pruned.
    func prune(before cutoff: Date, limit: Int) async throws -> PruneResult
    /// Queues a `ping` delivery for the hook.
    func ping(hookID: Int64, now: Date) async throws -> String
    /// Queues a new delivery of an event already in the log to the hook (a hook's test), due now.
    /// Throws ``StoreError/notFound(_:)`` without the hook or the event.
    func deliver(eventSeq: Int64, toHook hookID: Int64, now: Date) async throws -> String
    /// Claims as `turn` decides, in one transaction (see ``ClaimTurn``): reads the hooks with
    /// pending deliveries and the rows the turn asks for each, marks in flight those it takes, and
    /// returns them with what sending needs.
    func claim(_ turn: ClaimTurn) async throws -> [ClaimedDelivery]
    /// Records `turn`'s results in one transaction (see ``RecordTurn``): each delivery's new state,
    /// its attempt (with `attempts`), its HTTP Sync cursor move, and each hook's change; then claims
    /// as ``claim(_:)`` when `thenClaim` is given — in the same transaction where the backend can
    /// (the engine's hot path). Only a delivery still in flight is recorded (one deleted with its
    /// hook is not, and one recorded by an earlier try is not recorded twice). When a row breaks
    /// a rule nothing is written and ``StoreError/refused(_:)`` is thrown: ``DeliveryQueue`` then
    /// records the results one by one.
    func record(_ turn: RecordTurn, attempts: Bool, thenClaim: ClaimTurn?) async throws -> RecordedTurn
    /// Whether a claim runs best in a transaction of its own beside a record (a server with a pool
    /// of connections, where the two overlap) rather than after it in the record's (one writer,
    /// where one transaction is cheaper). ``DeliveryQueue`` then runs them at once.
    var claimsBesideRecords: Bool { get }
    /// Puts every in-flight delivery back in the queue through ``DeliveryLifecycle/recover(now:)``
    /// (start-up after a crash). Returns how many.
    func recoverInFlight(now: Date) async throws -> Int
    /// Requeues a finished delivery as a redelivery. Returns false when it is in flight or unknown.
    func redeliver(deliveryID: String, now: Date) async throws -> Bool
    /// The earliest `nextAttemptAt` after `date` among pending deliveries. Deliveries already due
    /// but held back by a cap are not counted: a finishing attempt wakes the engine for those.
    func nextDueDate(after date: Date) async throws -> Date?
    /// The hook's deliveries pending or in flight, counted up to `limit` (a replay's hold).
    func unfinishedDeliveryCount(hookID: Int64, limit: Int) async throws -> Int
}

/// The delivery log as people and operators read it: lists, one delivery, its attempts, counts.
public protocol DeliveryLogStore: Sendable {
    /// A hook's deliveries, newest first, after `cursor` (keyset pagination).
    func deliveries(_ query: DeliveryQuery) async throws -> [Delivery]
    func delivery(id: String) async throws -> Delivery?
    func attempts(deliveryID: String) async throws -> [Attempt]
    /// Counts by status (metrics, backpressure).
    func deliveryCounts() async throws -> [DeliveryStatus: Int]
    /// When the oldest delivery still waiting to be sent was made; nil when none waits.
    func oldestPendingDate() async throws -> Date?
    /// Unfinished (pending or in flight) deliveries per hook, read from the index of unfinished
    /// work: its cost grows with the backlog, not with the delivery log.
    func unfinishedByHook() async throws -> [Int64: Int]
    /// Work the machine has to do now: events not yet fanned out, plus each team's deliveries of
    /// active hooks that are in flight or due at `now` — at most `perTeam` of them per team, so one
    /// team's backlog (a hanging receiver, a large replay) cannot fill the bound for everybody.
    /// Deliveries waiting for a later retry are scheduled, not waiting, and a disabled hook's
    /// deliveries wait for it; neither holds anyone back.
    func backlog(now: Date, perTeam: Int) async throws -> Int
}

extension DeliveryLogStore {
    /// A delivery and its attempts as one record left them. A record commits a delivery's state
    /// with its attempt, but these are two reads: the attempts are read first and the delivery after
    /// (as new as they are, or newer), and the attempts again when a record committed between the
    /// two (the delivery counts an attempt the log read does not hold yet).
    public func deliveryWithAttempts(id: String) async throws -> (delivery: Delivery, attempts: [Attempt])? {
        var attempts = try await attempts(deliveryID: id)
        for _ in 0..<3 {
            guard let delivery = try await delivery(id: id) else { return nil }
            // An attempt a store refused is not in the log at all: its number stays missing.
            if (attempts.last?.number ?? 0) >= delivery.totalAttempts { return (delivery, attempts) }
            attempts = try await self.attempts(deliveryID: id)
        }
        guard let delivery = try await delivery(id: id) else { return nil }
        return (delivery, attempts)
    }
}

/// HTTP Sync's work source: the pages a sync hook posts, and its cursor.
public protocol SyncPageStore: Sendable {
    /// Appends an HTTP Sync page (a `sync.page` event addressed to the hook, its body as data) and
    /// its delivery, noted with the page's rows (`note`), which moves the hook's cursor to `through`
    /// when it succeeds.
    func queueSyncPage(hookID: Int64, body: String, through: Int64, note: String, now: Date) async throws -> String
    /// Whether the hook's last HTTP Sync page is still pending or in flight.
    func hasUnfinishedSyncPage(hookID: Int64) async throws -> Bool
    /// Moves a sync hook's cursor past events that are none of its rows (nothing to post for them).
    func skipSyncCursor(hookID: Int64, from: Int64, to: Int64) async throws
    /// A "Sync now" (or nil when the page for it was made).
    func requestSync(hookID: Int64, at: Date?) async throws
}

extension HookStore {
    /// Creates an HMAC-only hook.
    public func createHook(teamID: Int64, settings: HookSettings, encryptedSecret: Data, now: Date) async throws -> (hook: Hook, pingDeliveryID: String?) {
        try await createHook(teamID: teamID, settings: settings, keys: HookKeys(encryptedSecret: encryptedSecret), now: now)
    }
}

extension DeliveryStore {
    public var claimsBesideRecords: Bool { false }

    /// ``DeliveryQueue/claim(now:policy:)`` on this store.
    public func claimDue(now: Date, policy: ClaimPolicy) async throws -> [ClaimedDelivery] {
        try await DeliveryQueue(store: self, health: HookHealth()).claim(now: now, policy: policy)
    }

    /// ``DeliveryQueue/record(_:)`` on this store.
    @discardableResult public func record(_ results: [AttemptResult], health: HookHealth) async throws -> [DiscardedResult] {
        try await DeliveryQueue(store: self, health: health).record(results)
    }

    /// ``DeliveryQueue/recordAndClaim(_:now:policy:)`` on this store.
    public func recordAndClaim(_ results: [AttemptResult], health: HookHealth, now: Date, policy: ClaimPolicy) async throws -> ClaimBatch {
        try await DeliveryQueue(store: self, health: health).recordAndClaim(results, now: now, policy: policy)
    }
}

/// Document databases: each write is MVCC-checked by ``DocumentMVCC`` and appends its change event
/// in the same transaction.
public protocol DocumentStore: Sendable {
    /// Throws ``StoreError/conflict(_:)`` when the name is taken.
    func createDatabase(_ name: String, now: Date) async throws -> DatabaseInfo
    func database(_ name: String) async throws -> DatabaseInfo?
    /// Every database's name, sorted.
    func databaseNames() async throws -> [String]
    /// Names the member that orders the database's writes (``VersionGuard``), or none; false when
    /// there is no such database.
    @discardableResult
    func setVersionField(_ field: String?, database: String) async throws -> Bool
    /// Deletes the database and its documents (their events stay in the log).
    func deleteDatabase(_ name: String) async throws -> Bool
    func document(database: String, id: String) async throws -> Document?
    /// Many writes in one transaction (group commit), in order, each on its own: one refused write
    /// neither stops nor undoes the others. Each reads its document's current revision (as the
    /// batch's earlier writes left it), asks its `write` for the next one and its event, appends the
    /// event and stores the document at the event's `seq`; a ``DocumentWriteError`` or
    /// ``StoreError`` its `write` throws is its result and nothing of it is written, and a write to
    /// a database that does not exist is refused with ``StoreError/notFound(_:)``. The rule is
    /// ``DocumentBatch``'s; a store reads and writes the rows.
    func writeDocuments(_ writes: [PendingDocumentWrite]) async throws -> [Result<Document, any Error>]
    /// Documents changed after `since`, each once at its latest revision, in `seq` order (newest
    /// first when `descending`), at most `limit`. Without `bodies`, each document's body is read as
    /// `{}` (and its history empty): a changes page decides what to send from the rest, and reads
    /// the bodies of the rows it sends only.
    func changes(database: String, since: Int64, limit: Int, descending: Bool, bodies: Bool) async throws -> [Document]
    /// Live documents by id, as `range` asks (``DocumentRange``), in the byte order of their ids.
    func documents(database: String, range: DocumentRange) async throws -> [Document]
    func localDocument(database: String, id: String) async throws -> LocalDocument?
    /// How many `_local` documents of `database` have ids starting with `prefix` (a team's namespace).
    func localDocumentCount(database: String, idPrefix: String) async throws -> Int
    /// In one transaction: reads the `_local` document, asks `write` for its next state (nil deletes
    /// it) and stores that. Local documents are not in the changes feed and raise no event.
    func writeLocalDocument(database: String, id: String, _ write: @Sendable (LocalDocument?) throws -> LocalDocument?) async throws -> LocalDocument?
}

extension HeraldStore {
    /// Creates a database and the event type its writes append (`leads.document_changed`), so hooks
    /// can subscribe to it like to any event type.
    public func createDocumentDatabase(_ name: String, now: Date = Date()) async throws -> DatabaseInfo {
        let info = try await createDatabase(name, now: now)
        let type = EventType(name: DatabaseInfo.changeEventType(name), description: "A document of the \(name) database was created, updated or deleted.")
        try await seedEventTypes([type])
        return info
    }
}

/// Which live documents `_all_docs` lists: those in `keys` (in that order), or those from
/// `startKey` to `endKey` — ascending, or descending from `startKey` down to `endKey`, as CouchDB
/// reads them — past the first `skip`, at most `limit`.
public struct DocumentRange: Sendable, Hashable {
    public var keys: [String]?
    public var startKey: String?
    public var endKey: String?
    /// Whether `endKey` itself is in the range.
    public var inclusiveEnd = true
    public var descending = false
    public var skip = 0
    public var limit: Int

    public init(keys: [String]? = nil, startKey: String? = nil, endKey: String? = nil, limit: Int) {
        self.keys = keys
        self.startKey = startKey
        self.endKey = endKey
        self.limit = limit
    }

    /// The ids the range spans, whatever its direction: descending reads from `startKey` down to
    /// `endKey`, so the end is then the lower bound. A store reads ids between these, in the
    /// range's order, past `skip`, at most `limit`.
    public var bounds: (lower: (id: String, inclusive: Bool)?, upper: (id: String, inclusive: Bool)?) {
        let start = startKey.map { (id: $0, inclusive: true) }
        let end = endKey.map { (id: $0, inclusive: inclusiveEnd) }
        return descending ? (end, start) : (start, end)
    }

    /// `keys`, as the range lists them.
    public var orderedKeys: [String]? {
        keys.map { Array((descending ? $0.reversed() : $0).dropFirst(skip).prefix(limit)) }
    }
}

extension DocumentStore {
    /// One write, in a transaction of its own (``writeDocuments(_:)``): whatever `write` throws is
    /// rethrown and nothing is written.
    public func writeDocument(
        database: String, id: String, _ write: @escaping @Sendable (Document?, DatabaseInfo.Options) throws -> DocumentWrite
    ) async throws -> Document {
        try await writeDocuments([PendingDocumentWrite(database: database, id: id, write: write)])[0].get()
    }

    /// Live documents by id: those in `keys` (in that order), or those from `startKey` to `endKey`
    /// (inclusive), at most `limit`.
    public func documents(database: String, keys: [String]?, startKey: String?, endKey: String?, limit: Int) async throws -> [Document] {
        try await documents(database: database, range: DocumentRange(keys: keys, startKey: startKey, endKey: endKey, limit: limit))
    }
}

/// A document write waiting for its transaction.
public struct PendingDocumentWrite: Sendable {
    public var database: String
    public var id: String
    public var write: @Sendable (Document?, DatabaseInfo.Options) throws -> DocumentWrite

    public init(database: String, id: String, write: @escaping @Sendable (Document?, DatabaseInfo.Options) throws -> DocumentWrite) {
        self.database = database
        self.id = id
        self.write = write
    }
}

/// A document's next revision and the event that announces it.
public struct DocumentWrite: Sendable, Hashable {
    /// Its `seq` is set by the store from the event's.
    public var document: Document
    public var event: NewEvent

    public init(document: Document, event: NewEvent) {
        self.document = document
        self.event = event
    }
}

/// What the delivery engine works from: teams, events, hooks, the outbox and its log, HTTP Sync
/// pages, replays, the audit log's retention and the store's signals. ``MemoryStore`` (HeraldMemory)
/// is all of it and nothing more: the model for a new backend.
public protocol OutboxStore: TeamStore, EventStore, HookStore, DeliveryStore, DeliveryLogStore, SyncPageStore, ReplayStore, AuditStore, StoreSignals {}

/// Everything Herald stores. Each backend conforms to all of it.
public protocol HeraldStore: OutboxStore, TokenStore, UserStore, SessionStore, PortalLinkStore, EventTypeStore, DocumentStore {}

/// An appended event, or the earlier one its idempotency key points to.
public struct AppendedEvent: Sendable, Hashable {
    public var event: Event
    public var duplicate: Bool
    public init(event: Event, duplicate: Bool) {
        self.event = event
        self.duplicate = duplicate
    }
}

public struct PruneResult: Sendable, Hashable {
    public var attemptBodies = 0
    public var deliveries = 0
    public var events = 0
    public init() {}
    public var total: Int { attemptBodies + deliveries + events }
}

public struct FanOutResult: Sendable, Hashable {
    public var events: Int
    public var deliveries: Int
    public init(events: Int, deliveries: Int) {
        self.events = events
        self.deliveries = deliveries
    }
}

extension DeliveryStore {
    /// One fan-out turn: reads a batch, routes it, lets `decide` mark deliveries to skip (hook
    /// filters run there, outside any transaction), and commits it.
    public func fanOut(
        limit: Int, now: Date, decide: ([PlannedDelivery]) async throws -> [PlannedDelivery] = { $0 }
    ) async throws -> FanOutResult {
        let batch = try await fanOutBatch(limit: limit)
        guard let last = batch.events.last else { return FanOutResult(events: 0, deliveries: 0) }
        let planned = try await decide(batch.route())
        let stored = try await commitFanOut(FanOutPlan(after: batch.after, through: last.seq, deliveries: planned), now: now)
        // Nil: another turn moved the cursor first; the caller goes on from there.
        return FanOutResult(events: batch.events.count, deliveries: stored ?? 0)
    }
}

/// Events to fan out, after the cursor at `after`, and the hooks to route them with.
public struct FanOutBatch: Sendable {
    public var after: Int64
    public var events: [Event]
    public var hooks: ActiveHooks
    public init(after: Int64, events: [Event], hooks: ActiveHooks) {
        self.after = after
        self.events = events
        self.hooks = hooks
    }

    /// No event after the cursor at `after`.
    public static func empty(after: Int64) -> FanOutBatch {
        FanOutBatch(after: after, events: [], hooks: .none)
    }

    /// Every delivery the batch's events route to, in event order; a hook with a filter is listed
    /// for the caller to decide (``PlannedDelivery/note``).
    public func route() -> [PlannedDelivery] {
        var planned: [PlannedDelivery] = []
        for event in events {
            for hook in hooks.hooks(for: event) { planned.append(PlannedDelivery(hook: hook, event: event)) }
        }
        return planned
    }
}

/// One event × one hook, decided by fan-out.
public struct PlannedDelivery: Sendable {
    public var hook: Hook
    public var event: Event
    /// Nil to deliver; otherwise the delivery is stored as skipped with this note (``FilterVerdict``).
    public var note: String?
    public init(hook: Hook, event: Event, note: String? = nil) {
        self.hook = hook
        self.event = event
        self.note = note
    }
    public var hookID: Int64 { hook.id }
    public var teamID: Int64 { hook.teamID }
    public var eventSeq: Int64 { event.seq }
}

/// What fan-out stores for one batch.
public struct FanOutPlan: Sendable {
    /// The cursor the batch was read after, and the last `seq` it covers.
    public var after: Int64
    public var through: Int64
    public var deliveries: [PlannedDelivery]
    public init(after: Int64, through: Int64, deliveries: [PlannedDelivery]) {
        self.after = after
        self.through = through
        self.deliveries = deliveries
    }
}

/// Filters and page position for listing deliveries.
public struct DeliveryQuery: Sendable, Hashable {
    public var hookID: Int64?
    public var teamID: Int64?
    /// Only deliveries in one of these states.
    public var statuses: [DeliveryStatus]?
    public var eventType: String?
    /// Only deliveries of these events.
    public var eventSeqs: [Int64]?
    /// Only deliveries of the event with this id (`evt_…`).
    public var eventID: String?
    public var since: Date?
    public var until: Date?
    /// The `(createdAt, id)` position after which to continue (newest first).
    public var cursor: DeliveryCursor?
    public var limit: Int

    public init(
        hookID: Int64? = nil, teamID: Int64? = nil, statuses: [DeliveryStatus]? = nil, eventType: String? = nil, since: Date? = nil, until: Date? = nil,
        cursor: DeliveryCursor? = nil, limit: Int = 30
    ) {
        self.hookID = hookID
        self.teamID = teamID
        self.statuses = statuses
        self.eventType = eventType
        self.since = since
        self.until = until
        self.cursor = cursor
        self.limit = limit
    }
}

/// A keyset position in the delivery log: an opaque string to API clients.
public struct DeliveryCursor: Sendable, Hashable {
    public var rowID: Int64
    public init(rowID: Int64) { self.rowID = rowID }
    public var encoded: String { "d\(rowID)" }
    public init?(encoded: String) {
        guard encoded.first == "d", let rowID = Int64(encoded.dropFirst()) else { return nil }
        self.rowID = rowID
    }
}

/// A delivery taken for an attempt, with what sending needs.
public struct ClaimedDelivery: Sendable, Hashable {
    public var deliveryID: String
    public var hook: Hook
    public var event: Event
    public var lifecycle: DeliveryLifecycle
    public var trigger: AttemptTrigger
    /// Attempts made before this one, across redeliveries.
    public var previousAttempts: Int
    /// For an HTTP Sync page: the `seq` its hook's cursor moves to once the receiver answers 2xx.
    public var syncThrough: Int64?
    /// For a rate-limited hook: its slot, the time the attempt may start.
    public var notBefore: Date?
    /// The one attempt a half-open circuit breaker lets through: its result decides for the rest.
    public var probe: Bool

    public init(
        deliveryID: String, hook: Hook, event: Event, lifecycle: DeliveryLifecycle, trigger: AttemptTrigger, previousAttempts: Int,
        syncThrough: Int64? = nil, notBefore: Date? = nil, probe: Bool = false
    ) {
        self.probe = probe
        self.syncThrough = syncThrough
        self.notBefore = notBefore
        self.deliveryID = deliveryID
        self.hook = hook
        self.event = event
        self.lifecycle = lifecycle
        self.trigger = trigger
        self.previousAttempts = previousAttempts
    }
}

/// A finished attempt with the delivery's new state.
public struct AttemptResult: Sendable, Hashable {
    public var attempt: Attempt
    public var hookID: Int64
    public var lifecycle: DeliveryLifecycle
    /// What ``DeliveryLifecycle/finish(_:now:schedule:jitterUnit:)`` answered.
    public var action: DeliveryLifecycle.Action
    public var succeeded: Bool
    /// An HTTP Sync page's end: the hook's cursor moves there when it succeeded.
    public var syncThrough: Int64?
    /// The hook's own rule for disabling it (``DeliveryPolicy/disableAfterSeconds``), if it has one.
    public var hookHealth: HookHealth?
    /// Its hook takes nothing more until this result is recorded: the delivery of an ordered hook
    /// (``Ordering/ordered``), or a half-open breaker's probe (``ClaimedDelivery/probe``).
    public var holdsItsHook: Bool

    public init(
        attempt: Attempt, hookID: Int64, lifecycle: DeliveryLifecycle, action: DeliveryLifecycle.Action, succeeded: Bool, syncThrough: Int64? = nil,
        hookHealth: HookHealth? = nil, holdsItsHook: Bool = false
    ) {
        self.hookHealth = hookHealth
        self.holdsItsHook = holdsItsHook
        self.syncThrough = syncThrough
        self.attempt = attempt
        self.hookID = hookID
        self.lifecycle = lifecycle
        self.action = action
        self.succeeded = succeeded
    }
}

/// What one turn of the engine's store path did.
public struct ClaimBatch: Sendable, Hashable {
    public var claimed: [ClaimedDelivery]
    /// Finished attempts that could not be recorded for good, and why.
    public var discarded: [DiscardedResult]
    /// When a rate-limited hook with due work held back by its limit can next be claimed from.
    public var heldUntil: Date?

    /// Set when the turn's record failed as a whole while the claim beside it succeeded
    /// (``DeliveryStore/claimsBesideRecords``): its results are still to be recorded, and
    /// ``claimed`` is to be sent. Why it failed.
    public var recordFailure: String?
    /// Set when the claim beside a turn's record failed (the record stands): why.
    public var claimFailure: String?

    public init(claimed: [ClaimedDelivery], discarded: [DiscardedResult] = [], heldUntil: Date? = nil) {
        self.claimed = claimed
        self.discarded = discarded
        self.heldUntil = heldUntil
    }
}

/// A finished attempt a store could not record for good.
public struct DiscardedResult: Sendable, Hashable {
    public var deliveryID: String
    public var reason: String

    public init(deliveryID: String, reason: String) {
        self.deliveryID = deliveryID
        self.reason = reason
    }
}

/// Store failures callers act on.
public enum StoreError: Error, Sendable, Equatable {
    /// A uniqueness rule was broken (slug taken, …).
    case conflict(String)
    /// A referenced row does not exist.
    case notFound(String)
    /// The store cannot be opened as given (a malformed URL, a schema newer than this build, …).
    case invalid(String)
    /// A row breaks a rule of the database (a constraint, a value too large): trying the same
    /// write again cannot succeed. Nothing of the transaction was written.
    case refused(String)
}

extension StoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .conflict(let message), .notFound(let message), .invalid(let message), .refused(let message): message
        }
    }
}

/// What a store failure means for the request that met it, when it is a state of the database
/// rather than a bug: the request may be tried again later.
public enum StoreCondition: Sendable, Hashable {
    /// The database's disk (or quota) is full.
    case full
    /// The database is locked by another writer past the wait, or refused the transaction for a
    /// conflict or a lack of resources: nothing of the request was stored.
    case busy
    /// The connection to the database was lost during the request: it may or may not have been
    /// stored (a commit whose answer never came).
    case unreachable
}

/// An error of a store that can say which ``StoreCondition`` caused it.
public protocol StoreConditionReporting: Error {
    /// The condition, or nil when the error is of another kind.
    var storeCondition: StoreCondition? { get }
}

/// A change other Herald nodes on the same store act on. A store shared by several processes
/// announces them (PostgreSQL: `NOTIFY`), so an idle node wakes at once instead of polling.
public enum StoreSignal: String, Sendable, CaseIterable {
    /// Events were appended: fan-out and HTTP Sync have work.
    case events
    /// Deliveries became due (fanned out, redelivered, replayed, recovered).
    case deliveries
    /// A replay job was created.
    case replays
    /// An HTTP Sync was requested.
    case sync
}

/// A store that announces what its committed transactions changed: the engine's loops and the
/// changes feeds wake on these instead of being rung by whoever wrote, so a write path that
/// forgets to ring can no longer delay a delivery. SQLite raises them after each commit; a store
/// shared by several processes also carries them to the other nodes (PostgreSQL: `NOTIFY`).
public protocol StoreSignals: Sendable {
    /// Every signal raised by any node (this one included) from the moment this returns, until
    /// the stream is dropped.
    func signals() async -> AsyncStream<StoreSignal>
}

/// Hands each raised signal to every subscriber (a signal a slow subscriber has not taken yet
/// is kept once: the newest 16 are buffered, and a wake-up is all a signal means).
public final class SignalHub: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<StoreSignal>.Continuation] = [:]
        var next = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func subscribe() -> AsyncStream<StoreSignal> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreSignal.self, bufferingPolicy: .bufferingNewest(16))
        state.withLock { state in
            let id = state.next
            state.next += 1
            state.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
        }
        return stream
    }

    public func raise(_ signal: StoreSignal) {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield(signal) }
    }

    /// Ends every subscriber's stream.
    public func finish() {
        for subscriber in state.withLock({ state in defer { state.subscribers = [:] }; return Array(state.subscribers.values) }) { subscriber.finish() }
    }
}

/// A node of a cluster, as it last reported itself.
public struct NodeInfo: Sendable, Hashable {
    public var id: String
    /// `all`, `api` or `worker`.
    public var role: String
    public var host: String
    public var startedAt: Date
    public var heartbeatAt: Date

    public init(id: String, role: String, host: String, startedAt: Date, heartbeatAt: Date) {
        self.id = id
        self.role = role
        self.host = host
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }
}

/// A store many nodes share (PostgreSQL) keeps who is running: each node beats every few seconds.
public protocol NodeRegistry: Sendable {
    func heartbeat(_ node: NodeInfo) async throws
    /// The nodes that beat since `since`, newest first.
    func nodes(since: Date) async throws -> [NodeInfo]
}
