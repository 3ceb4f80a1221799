import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldVerify
import Logging
import Metrics
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import Tracing

/// The delivery engine, a `Service`: fans events out into deliveries, claims due deliveries,
/// signs and sends them, records every attempt and applies the retry policy.
///
/// Two loops run under one task group:
/// - **fan-out** turns newly appended events into deliveries (durably, off the ingest path);
/// - **delivery** records the attempts that finished since its last turn and claims due deliveries
///   for the freed slots in the same transaction (group commit), then sends each claimed delivery
///   in a child task. A slot is freed only once its attempt is durable.
///
/// On start, deliveries left in flight by a previous process are put back in the queue.
public final class DeliveryEngine: Service, Sendable {
    let store: any OutboxStore
    /// The claim and record turns over the store.
    private var queue: DeliveryQueue { DeliveryQueue(store: store, health: configuration.hookHealth) }
    let secretBox: SecretBox
    let configuration: DeliveryEngineConfiguration
    let logger: Logger
    /// Event handling's logger, at the level of the `Event`/`Events+` log keys.
    let eventLogger: Logger
    /// Makes the attempts (HTTP, unless the engine was given another transport).
    let sender: any DeliveryTransport
    /// Runs hook filters (at fan-out) and transforms (before signing).
    public let scripts: ScriptRunner
    private let signingMaterial: SigningMaterialCache
    private let oauth2: OAuth2Tokens
    let clients: GuardedClients

    private let fanOutBell = Doorbell()
    private let deliveryBell = Doorbell()
    private let replayBell = Doorbell()
    private let pruneBell = Doorbell()
    private let syncBell = Doorbell()
    private let state = Mutex(State())

    private struct State {
        var inFlightByHook: [Int64: Int] = [:]
        var inFlightByTeam: [Int64: Int] = [:]
        var inFlight = 0
        var finished: [(ClaimedDelivery, SentAttempt)] = []
        var dispatching = true
        /// Appends the events to deliver before stopping (``beforeStopping(_:)``).
        var stopEvents: (@Sendable () async throws -> [Int64])?
        var stop = StopPhase.running
        /// Per hook: fan-out batches in a row in which its filter failed.
        var filterStrikes: [Int64: Int] = [:]
    }

    /// A graceful stop with events to deliver first: those events are appended and fanned out, and
    /// the engine goes on until their deliveries have finished or
    /// ``DeliveryEngineConfiguration/stopDrainLimit`` has passed.
    private enum StopPhase {
        case running
        case appending(until: ContinuousClock.Instant)
        case draining(seqs: [Int64], until: ContinuousClock.Instant)
    }


    /// Attempts finished per second over the last hour (this node), for the overview.
    public let throughput = ThroughputWindow()
    private let attemptsCounter = Counter(label: "herald_delivery_attempts_total")
    private let successCounter = Counter(label: "herald_deliveries_succeeded_total")
    private let failureCounter = Counter(label: "herald_delivery_attempts_failed_total")
    private let durationTimer = Timer(label: "herald_delivery_attempt_duration_seconds")
    /// One store turn of the delivery loop: record the finished attempts and claim the next ones.
    private let recordAndClaimTimer = Timer(label: "herald_record_and_claim_duration_seconds")

    /// - Parameter transport: where attempts go; HTTP to each hook's URL when nil (unit tests give a scripted receiver).
    public init(
        store: any OutboxStore, secretBox: SecretBox, configuration: DeliveryEngineConfiguration, logger: Logger, transport: (any DeliveryTransport)? = nil
    ) {
        self.store = store
        self.secretBox = secretBox
        self.configuration = configuration
        self.logger = logger
        var eventLogger = logger
        eventLogger[metadataKey: "log_key"] = "Event"
        eventLogger.logLevel = configuration.eventLogLevel ?? max(logger.logLevel, .notice)
        self.eventLogger = eventLogger
        self.signingMaterial = SigningMaterialCache(secretBox: secretBox)
        self.scripts = ScriptRunner(limits: configuration.scriptLimits)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.decompression = .disabled
        clientConfiguration.timeout.connect = .seconds(10)
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, configuration.maxInFlight)
        clientConfiguration.httpVersion = .http1Only
        // A refused connection is one failed attempt, retried on the hook's schedule, not in a loop
        // inside the client until the attempt's deadline.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.proxy = configuration.egressProxy?.clientProxy
        // The attempt's span is Herald's own (``EventTracing``): it is the client span, and the
        // `traceparent` it sends is the one the delivery log shows. The client's span would add a
        // second `traceparent` header (receivers read the pair as an invalid trace) and, traced or
        // not, reads each request's URL once more for its attributes.
        clientConfiguration.tracing.tracer = nil
        clients = GuardedClients(targetGuard: configuration.targetGuard, configuration: clientConfiguration)
        sender = transport ?? DeliverySender(clients: clients, responseBodyLimit: configuration.responseBodyLimit)
        oauth2 = OAuth2Tokens(clients: clients)
    }

    /// Attempts claimed and not yet recorded: a slot is free again once its attempt is durable.
    public var attemptsInFlight: Int { state.withLock { $0.inFlight } }

    /// Sets what to append on a graceful stop (`db_state_changed` offline events): the engine
    /// delivers those events before it stops, within ``DeliveryEngineConfiguration/stopDrainLimit``. Returns the appended `seq`s.
    public func beforeStopping(_ append: @escaping @Sendable () async throws -> [Int64]) {
        state.withLock { $0.stopEvents = append }
    }

    /// Events were appended (the store's signal): fan-out and HTTP Sync run soon.
    private func eventsAppended() {
        fanOutBell.ring()
        syncBell.ring()
    }

    /// Posts an empty HTTP Sync page to a hook about to be created, signed with its secret, as
    /// WebhookDB does before it accepts a sync target. Returns why it failed, or nil on a 2xx.
    public func sendTestPage(settings: HookSettings, secret: WebhookSecret, now: Date = Date()) async -> String? {
        var hook = Hook(
            id: 0, teamID: 0, url: settings.url, contentType: .json, encryptedSecret: Data(), events: settings.events, channels: settings.channels,
            active: true, insecureSSL: settings.insecureSSL, timeoutSeconds: settings.timeoutSeconds, ordering: .ordered, signature: .hmac,
            createdAt: now, updatedAt: now, lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil,
            createdAfterSeq: 0, failingSince: nil
        )
        hook.mode = .sync
        let body = SyncPage.verificationBody()
        let event = Event(seq: 0, id: Identifier.make(prefix: "evt_"), type: SyncPage.eventType, data: body, channels: [], idempotencyKey: nil, timestamp: now)
        let delivery = ClaimedDelivery(
            deliveryID: Identifier.deliveryID(), hook: hook, event: event, lifecycle: .new(now: now), trigger: .first, previousAttempts: 0
        )
        let tls = try? settings.credentials.flatMap { try ClientCertificates.configuration($0, verify: !settings.insecureSSL) }
        let request = DeliveryRequest(
            delivery: delivery, payload: body, secrets: [KeyedSecret(secret)], credentials: settings.credentials, timestamp: Int64(now.timeIntervalSince1970)
        )
        let sent = await sender.send(delivery, request: request, tls: tls ?? nil, startedAt: now)
        switch sent.outcome {
        case .response(let status, _) where (200..<300).contains(status): return nil
        case .response(let status, _): return "the receiver answered \(status) to the test page"
        case .error(_, let message): return "the test page could not be delivered: \(message)"
        }
    }

    /// Releases the HTTP clients and script workers of an engine that was never run (a router
    /// answered in memory); ``run()`` releases its own when it ends.
    public func shutdown() async {
        await clients.shutdown()
        scripts.shutdown()
    }

    /// Whether ``run()`` is running (readiness).
    public var isRunning: Bool { running.load(ordering: .relaxed) }
    private let running = Atomic<Bool>(false)

    public func run() async throws {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        let recovered = try await store.recoverInFlight(now: Date())
        if recovered > 0 { logger.notice("resumed deliveries interrupted by the previous stop", metadata: ["count": "\(recovered)"]) }
        // The store announces what each commit changed — this node's writes and, on a shared
        // store, every node's (PostgreSQL's NOTIFY): the loops wake on that, not on callers' rings.
        let signals = await store.signals()
        let listening = Task {
            for await signal in signals {
                switch signal {
                case .events: self.eventsAppended()
                case .deliveries: self.deliveryBell.ring()
                case .replays: self.replayBell.ring()
                case .sync: self.syncBell.ring()
                }
            }
        }
        defer { listening.cancel() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.fanOutLoop() }
                group.addTask { await self.deliveryLoop() }
                group.addTask { await self.replayLoop() }
                group.addTask { await self.pruneLoop() }
                group.addTask { await self.syncLoop() }
            }
        } onGracefulShutdown: {
            self.state.withLock { state in
                if state.stopEvents != nil {
                    // The limit runs from the stop request, whatever fan-out is doing.
                    state.stop = .appending(until: .now + self.configuration.stopDrainLimit)
                } else {
                    state.dispatching = false
                }
            }
            self.fanOutBell.ring()
            self.deliveryBell.ring()
            self.replayBell.ring()
            self.pruneBell.ring()
            self.syncBell.ring()
        }
        await clients.shutdown()
        scripts.shutdown()
    }

    private var isDispatching: Bool { !Task.isCancelled && state.withLock { $0.dispatching } }

    // MARK: fan-out

    private func fanOutLoop() async {
        while isDispatching {
            let (phase, stopEvents) = state.withLock { ($0.stop, $0.stopEvents) }
            if case .appending(let until) = phase, let stopEvents {
                var seqs: [Int64] = []
                do { seqs = try await stopEvents() } catch { logger.error("could not append the events of the stop", metadata: ["error": "\(error)"]) }
                state.withLock { $0.stop = .draining(seqs: seqs, until: until) }
                deliveryBell.ring()
            }
            do {
                let decided = Mutex<HookFilters.Decision?>(nil)
                let started = DefaultTracerClock.now
                let result = try await store.fanOut(limit: configuration.fanOutBatch, now: Date()) { planned in
                    let decision = try await HookFilters(runner: self.scripts, logger: self.eventLogger).decideBatch(planned)
                    decided.withLock { $0 = decision }
                    return decision.planned
                }
                if let decision = decided.withLock({ $0 }) {
                    await pauseFailingFilters(decision)
                    EventTracing.fannedOut(decision.planned, started: started)
                }
                if result.events > 0 {
                    eventLogger.info("events fanned out", metadata: ["events": "\(result.events)", "deliveries": "\(result.deliveries)"])
                }
                if result.deliveries > 0 { deliveryBell.ring() }
                if result.events == configuration.fanOutBatch { continue }
            } catch {
                logger.error("fan-out failed", metadata: ["error": "\(error)"])
            }
            await fanOutBell.wait(timeout: configuration.idleInterval)
        }
    }

    /// Fan-out batches in a row in which a hook's filter timed out (or ran out of memory) before the
    /// hook is paused: its filter would otherwise cost its team's time in every batch, for ever.
    static let pauseFilterAfterBatches = 3

    /// Counts the batches in a row in which each hook's filter failed, and pauses (disables, with
    /// the reason on the hook page) the hooks that reach ``pauseFilterAfterBatches``.
    private func pauseFailingFilters(_ decision: HookFilters.Decision) async {
        let pausing: [Int64] = state.withLock { state in
            for hook in decision.healthy { state.filterStrikes[hook] = nil }
            var reached: [Int64] = []
            for hook in decision.failing {
                let strikes = state.filterStrikes[hook, default: 0] + 1
                state.filterStrikes[hook] = strikes >= Self.pauseFilterAfterBatches ? nil : strikes
                if strikes >= Self.pauseFilterAfterBatches { reached.append(hook) }
            }
            return reached
        }
        for id in pausing {
            do {
                guard var hook = try await store.hook(id: id), hook.active else { continue }
                hook.active = false
                hook.disabledReason = Self.filterPausedReason
                _ = try await store.updateHook(hook, now: Date())
                eventLogger.warning("hook paused: its filter keeps timing out", metadata: ["hook": "\(id)"])
            } catch {
                logger.error("could not pause a hook whose filter keeps timing out", metadata: ["hook": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Why a hook was paused for its filter (shown on the hook page).
    public static let filterPausedReason =
        "Paused: its filter timed out or ran out of memory in \(pauseFilterAfterBatches) fan-out batches in a row. Fix the filter, then enable the hook; events meanwhile can be replayed."

    // MARK: retention

    /// Prunes in small steps while there is work, then sleeps ``DeliveryEngineConfiguration/pruneInterval``.
    private func pruneLoop() async {
        while isDispatching {
            var pruned = 0
            do {
                let cutoff = Date().addingTimeInterval(-configuration.retention.seconds)
                let result = try await store.prune(before: cutoff, limit: Self.pruneStep)
                // The audit log is kept as long as the delivery log.
                let audit = try await store.pruneAudit(before: cutoff, limit: Self.pruneStep)
                pruned = result.total + audit
                if pruned > 0 {
                    prunedCounter.increment(by: pruned)
                    logger.debug("pruned", metadata: ["attempt_bodies": "\(result.attemptBodies)", "deliveries": "\(result.deliveries)", "events": "\(result.events)"])
                }
            } catch {
                logger.error("retention failed; retrying later", metadata: ["error": "\(error)"])
            }
            if pruned == 0 {
                await pruneBell.wait(timeout: configuration.pruneInterval)  // rung by the stop
            } else {
                await Task.yield()
            }
        }
    }

    static let pruneStep = 500

    private let prunedCounter = Counter(label: "herald_pruned_rows_total")

    // MARK: HTTP Sync

    /// Makes the next page of every sync hook with rows waiting and no page unfinished: a full page
    /// at once, a partial one once its newest row is ``syncDebounce`` old (or on "Sync now").
    ///
    /// Woken by every commit of events, it lists the sync hooks from the store's active hooks (held
    /// until a hook changes), not by reading every hook: on a node with thousands of push hooks that
    /// read, made at each commit, cost more than the events it followed.
    private func syncLoop() async {
        while isDispatching {
            var wait = configuration.idleInterval
            do {
                let syncHooks = try await store.activeHooks().byID.values.filter { $0.mode == .sync }.sorted { $0.id < $1.id }
                for hook in syncHooks where isDispatching {
                    if let retryIn = try await syncStep(hook) { wait = min(wait, retryIn) }
                }
            } catch {
                logger.error("HTTP Sync failed; retrying", metadata: ["error": "\(error)"])
            }
            await syncBell.wait(timeout: wait)
        }
    }

    static let syncDebounce: Duration = .milliseconds(500)

    /// One hook's next page, if due; returns how soon to look again when it is waiting on the debounce.
    private func syncStep(_ listed: Hook) async throws -> Duration? {
        guard !(try await store.hasUnfinishedSyncPage(hookID: listed.id)) else { return nil }
        // Read after the state: a page recorded meanwhile moved the cursor in the same transaction.
        guard let hook = try await store.hook(id: listed.id), hook.active else { return nil }
        let granted = try await store.team(id: hook.teamID)?.channels ?? []
        var events: [Event] = []
        var page = SyncPage(rows: [], through: hook.sync.cursor)
        // Scan on until the page is full or the log ends.
        while page.rows.count < hook.sync.pageSize {
            let more = try await store.events(since: events.last?.seq ?? hook.sync.cursor, limit: hook.sync.pageSize * 4)
            events += more
            page = SyncPage.build(events: events, hook: hook, grantedChannels: granted, after: hook.sync.cursor)
            if more.count < hook.sync.pageSize * 4 { break }
        }
        guard page.through > hook.sync.cursor else { return nil }
        if page.rows.isEmpty {
            try await store.skipSyncCursor(hookID: hook.id, from: hook.sync.cursor, to: page.through)
            return nil
        }
        let now = Date()
        if page.rows.count < hook.sync.pageSize, hook.sync.requestedAt == nil, let newest = page.newest {
            let age = now.timeIntervalSince(newest)
            if age < Self.syncDebounce.seconds { return .milliseconds(Int64((Self.syncDebounce.seconds - age) * 1000) + 1) }
        }
        let note = "\(page.rows.count) rows, seq \(hook.sync.cursor + 1)–\(page.through)"
        _ = try await store.queueSyncPage(hookID: hook.id, body: page.body(hook: hook, now: now), through: page.through, note: note, now: now)
        deliveryBell.ring()
        return nil
    }

    // MARK: replay

    /// Works through running replay jobs, a step of ``DeliveryEngineConfiguration/replayStep`` events each in turn.
    private func replayLoop() async {
        while isDispatching {
            var busy = false
            do {
                for job in try await store.replayJobs(state: .running) where isDispatching {
                    busy = try await replayStep(job) || busy
                }
            } catch {
                logger.error("replay failed; retrying", metadata: ["error": "\(error)"])
            }
            if !busy { await replayBell.wait(timeout: configuration.idleInterval) }
        }
    }


    /// One step of a job: the next events of its range, those the hook matches (and its filter
    /// keeps) queued again. Returns whether the job has more to do.
    private func replayStep(_ job: ReplayJob) async throws -> Bool {
        guard let hook = try await store.hook(id: job.hookID) else { return false }
        // A replay queues no more while its hook already holds its most unfinished deliveries: a
        // replay onto a hanging or failing receiver waits for it instead of piling up a backlog.
        let hold = configuration.replayHoldPerHook
        if try await store.unfinishedDeliveryCount(hookID: hook.id, limit: hold) >= hold { return false }
        let granted = try await store.team(id: hook.teamID)?.channels ?? []
        let events = try await store.replayEvents(for: job, limit: configuration.replayStep)
        let through = events.last?.seq ?? job.toSeq
        var chosen = events.filter { ReplayJob.matches($0, hook: hook, grantedChannels: granted) }.map { PlannedDelivery(hook: hook, event: $0) }
        if hook.filter != nil { chosen = try await HookFilters(runner: scripts, logger: eventLogger).decide(chosen).filter { $0.note == nil } }
        guard let queued = try await store.commitReplay(job, seqs: chosen.map(\.eventSeq), through: through, now: Date()) else { return false }
        if queued > 0 { deliveryBell.ring() }
        eventLogger.info("replay step", metadata: ["job": "\(job.id)", "hook": "\(hook.id)", "through": "\(through)", "queued": "\(queued)"])
        return through < job.toSeq
    }

    // MARK: record and claim

    private func deliveryLoop() async {
        var retryDelay: Duration = .milliseconds(50)
        var failedTurns = 0
        /// When dispatching ended: the attempts still in flight have ``DeliveryEngineConfiguration/stopGrace`` from then.
        var stoppedAt: ContinuousClock.Instant?
        await withDiscardingTaskGroup { group in
            while true {
                await checkDrained()
                let dispatching = isDispatching
                if !dispatching && stoppedAt == nil { stoppedAt = .now }
                let graceLeft = stoppedAt.map { configuration.stopGrace - (ContinuousClock.now - $0) }
                let (finished, inFlight, byHook, byTeam) = state.withLock { state in
                    let finished = state.finished
                    state.finished.removeAll(keepingCapacity: true)
                    return (finished, state.inFlight, state.inFlightByHook, state.inFlightByTeam)
                }
                if !dispatching && inFlight == 0 { break }
                // Slots of the finished attempts are free once they are recorded, in this transaction.
                // While recording fails, nothing more is claimed (the results would pile up, and
                // the deliveries they are for would be sent again once their leases ran out).
                var policy = ClaimPolicy(
                    limit: dispatching && failedTurns == 0 ? configuration.maxInFlight - (inFlight - finished.count) : 0,
                    perHook: configuration.maxInFlightPerHook,
                    perTeam: configuration.maxInFlightPerTeam, inFlightByHook: byHook, inFlightByTeam: byTeam
                )
                for (delivery, _) in finished {
                    policy.inFlightByHook[delivery.hook.id, default: 1] -= 1
                    policy.inFlightByTeam[delivery.hook.teamID, default: 1] -= 1
                }
                let batch: ClaimBatch
                let claimedAt = Date()
                // The health of the hooks that failed, as stored before this turn records: what changes
                // is an operational event (a claimed delivery's hook may be older than that).
                let before = await healthBeforeRecording(finished)
                let recorded = results(for: finished)
                /// The record failed while the claim beside it succeeded: its results wait for the next turn.
                var unrecorded = false
                do {
                    let turn = ContinuousClock.now
                    batch = try await queue.recordAndClaim(recorded.map(\.result), now: claimedAt, policy: policy)
                    if let failure = batch.recordFailure {
                        unrecorded = true
                        failedTurns += 1
                        logger.error("recording attempts failed; retrying", metadata: ["error": "\(failure)", "count": "\(finished.count)"])
                        state.withLock { $0.finished.insert(contentsOf: finished, at: 0) }
                    } else {
                        await emitOperationalEvents(recorded, before: before)
                        recordAndClaimTimer.record(duration: ContinuousClock.now - turn)
                        retryDelay = .milliseconds(50)
                        failedTurns = 0
                    }
                    if let failure = batch.claimFailure {
                        logger.warning("claiming deliveries failed; the next turn claims", metadata: ["error": "\(failure)"])
                    }
                } catch {
                    failedTurns += 1
                    if !dispatching && failedTurns >= Self.recordAttemptsAtShutdown {
                        // Stopping, and the store keeps refusing: the deliveries stay in flight in the
                        // store and are sent again at the next start (at least once), and the stop ends.
                        logger.critical(
                            "could not record finished attempts before stopping; their deliveries are resent at the next start",
                            metadata: ["error": "\(error)", "count": "\(finished.count)"]
                        )
                        batch = ClaimBatch(claimed: [])
                    } else {
                        // A failure of the whole transaction (disk full, database busy) may pass: keep
                        // the results and try again. Results that can never be recorded do not get here:
                        // the store skips and reports them, so they cannot block the others.
                        logger.error("recording attempts failed; retrying", metadata: ["error": "\(error)", "count": "\(finished.count)"])
                        state.withLock { $0.finished.insert(contentsOf: finished, at: 0) }
                        await deliveryBell.wait(timeout: retryDelay)
                        retryDelay = min(retryDelay * 2, .seconds(5))
                        continue
                    }
                }
                for discarded in batch.discarded {
                    logger.warning("attempt not recorded", metadata: ["delivery": "\(discarded.deliveryID)", "reason": "\(discarded.reason)"])
                }
                state.withLock { state in
                    for (delivery, _) in finished where !unrecorded {
                        state.inFlight -= 1
                        state.inFlightByHook.decrement(delivery.hook.id)
                        state.inFlightByTeam.decrement(delivery.hook.teamID)
                    }
                    for delivery in batch.claimed {
                        state.inFlight += 1
                        state.inFlightByHook[delivery.hook.id, default: 0] += 1
                        state.inFlightByTeam[delivery.hook.teamID, default: 0] += 1
                    }
                }
                // Each event's body is made once for all its deliveries in the batch (per payload
                // format); an HTTP Sync page is a body of its own.
                var bodies: [BodyKey: String] = [:]
                for delivery in batch.claimed {
                    let format = delivery.hook.payloadFormat
                    let key = delivery.syncThrough == nil ? BodyKey(seq: delivery.event.seq, format: format) : nil
                    let body = key.flatMap { bodies[$0] } ?? HookScripts.body(for: delivery.event, format: format)
                    if let key { bodies[key] = body }
                    group.addTask { await self.attempt(delivery, body: body) }
                }
                if unrecorded {
                    // The claimed attempts are on their way; the results are recorded again after a pause.
                    await deliveryBell.wait(timeout: retryDelay)
                    retryDelay = min(retryDelay * 2, .seconds(5))
                    continue
                }
                if let graceLeft, graceLeft <= .zero {
                    // The stop's grace is over: what is still in flight is cut, not recorded, and sent
                    // again at the next start; a receiver that never answers does not hold the stop.
                    let cut = state.withLock { $0.inFlight }
                    logger.warning(
                        "attempts still in flight when the stop's grace ended were cut; their deliveries are sent again at the next start",
                        metadata: ["count": "\(cut)", "grace_seconds": "\(configuration.stopGrace.components.seconds)"]
                    )
                    group.cancelAll()
                    break
                }
                // Every slot taken: the next finished attempt wakes us. Otherwise sleep until the next
                // scheduled attempt; work held back by a cap is woken by a finishing attempt, never polled.
                let full = policy.limit > 0 && batch.claimed.count == policy.limit
                var wait = full || !dispatching ? min(configuration.idleInterval, graceLeft ?? configuration.idleInterval) : await idleWait(after: claimedAt)
                // Work held by a hook's rate limit is claimed as its next slot opens.
                if let held = batch.heldUntil { wait = min(wait, .milliseconds(Int64(max(0, held.timeIntervalSinceNow) * 1000) + 1)) }
                await deliveryBell.wait(timeout: wait)
            }
        }
    }

    /// Ends a graceful stop's drain once the stop events' deliveries have finished (or its time is up).
    private func checkDrained() async {
        let phase = state.withLock { $0.stop }
        if case .appending(let until) = phase, ContinuousClock.now >= until {
            stopDispatching()
            return
        }
        guard case .draining(let seqs, let until) = phase else { return }
        var done = ContinuousClock.now >= until || seqs.isEmpty
        if !done {
            // Fanned out (the cursor is past them: their deliveries were stored with it), then nothing
            // of theirs left to send; read in that order.
            let fannedOut = ((try? await store.fanOutBatch(limit: 1))?.after ?? 0) >= (seqs.max() ?? 0)
            var query = DeliveryQuery(statuses: [.pending, .inFlight], limit: 1)
            query.eventSeqs = seqs
            let unfinished = fannedOut ? try? await store.deliveries(query) : nil
            done = fannedOut && unfinished?.isEmpty == true
        }
        if done { stopDispatching() }
    }

    /// Ends dispatching and wakes every loop, so none sleeps out its interval before stopping.
    private func stopDispatching() {
        state.withLock { $0.dispatching = false }
        for bell in [fanOutBell, deliveryBell, replayBell, pruneBell, syncBell] { bell.ring() }
    }

    /// Store transactions tried before giving up on recording at shutdown.
    static let recordAttemptsAtShutdown = 5

    /// How long to sleep when nothing more can be claimed: until the next scheduled attempt, at most `idleInterval`.
    /// Anything that became due after the claim's `now` is due at once.
    private func idleWait(after claimedAt: Date) async -> Duration {
        guard let next = try? await store.nextDueDate(after: claimedAt) else { return configuration.idleInterval }
        let seconds = max(0, next.timeIntervalSinceNow)
        return min(configuration.idleInterval, .milliseconds(Int64(seconds * 1000) + 1))
    }

    private struct BodyKey: Hashable {
        var seq: Int64
        var format: PayloadFormat
    }

    /// - Parameter body: the delivery's body as the hook's payload format makes it, before any transform.
    private func attempt(_ delivery: ClaimedDelivery, body: String) async {
        // A rate-limited hook's attempt starts at its slot (at most ``RateSlots/lookahead`` away),
        // never before it.
        if let notBefore = delivery.notBefore, notBefore.timeIntervalSinceNow > 0 {
            try? await Task.sleep(for: .nanoseconds(Int64((notBefore.timeIntervalSinceNow * 1e9).rounded(.up))))
            // Cut by the end of a stop's grace while waiting: not sent before its slot (it is sent
            // again at the next start, as every attempt the stop cuts).
            if Task.isCancelled { return }
        }
        let now = Date()
        var sent: SentAttempt
        let trace = EventTracing.startAttempt(delivery)
        do {
            let keys = try signingMaterial.material(for: delivery.hook, now: now)
            let payload = try await transformedPayload(delivery, body: body) ?? body
            func request(bearerToken: String?) -> DeliveryRequest {
                var request = DeliveryRequest(
                    delivery: delivery, payload: payload, secrets: keys.secrets, signingKey: keys.signingKey, credentials: keys.credentials,
                    bearerToken: bearerToken, timestamp: Int64(now.timeIntervalSince1970)
                )
                if let trace {
                    request.headers += trace.headers
                    request.loggedHeaders += trace.headers
                }
                return request
            }
            if let client = keys.credentials?.oauth2 {
                sent = await sender.send(delivery, request: request(bearerToken: try await oauth2.token(for: client, now: now)), tls: keys.tls, startedAt: now)
                // A refused token is renewed and the request sent again, once, within the attempt.
                if case .response(401, _) = sent.outcome {
                    oauth2.invalidate(client)
                    sent = await sender.send(delivery, request: request(bearerToken: try await oauth2.token(for: client, now: Date())), tls: keys.tls, startedAt: now)
                }
            } else {
                sent = await sender.send(delivery, request: request(bearerToken: nil), tls: keys.tls, startedAt: now)
            }
        } catch {
            // Nothing went out: the transform, the OAuth2 token, the client certificate or a sealed
            // key failed, each in its own words.
            let message = (error as? any AttemptSetupFailure)?.description ?? "the attempt could not be prepared: \(error)"
            let attempt = Attempt(
                deliveryID: delivery.deliveryID, number: delivery.previousAttempts + 1, trigger: delivery.trigger, startedAt: now,
                durationMs: Int(Date().timeIntervalSince(now) * 1000), url: delivery.hook.url, requestHeaders: [], requestBody: "",
                responseStatus: nil, responseHeaders: [], responseBody: nil, errorClass: .other, errorMessage: message
            )
            sent = SentAttempt(attempt: attempt, outcome: .error(.other, message: message))
        }
        if let trace { EventTracing.endAttempt(trace.span, sent) }
        attemptsCounter.increment()
        durationTimer.recordMilliseconds(sent.attempt.durationMs)
        if sent.outcome.isSuccess { successCounter.increment() } else { failureCounter.increment() }
        throughput.record(failed: !sent.outcome.isSuccess)
        state.withLock { $0.finished.append((delivery, sent)) }
        deliveryBell.ring()
        if delivery.syncThrough != nil { syncBell.ring() }
    }

    /// The hook's transform applied to the delivery's body, or nil for hooks without one. A ping is
    /// Herald's own message about the hook, sent as it is: a transform is written for the hook's events.
    private func transformedPayload(_ delivery: ClaimedDelivery, body: String) async throws(TransformError) -> String? {
        guard let transform = delivery.hook.transform, delivery.event.type != PingPayload.eventType else { return nil }
        return try await scripts.transform(
            key: Hook.scriptKey(hookID: delivery.hook.id, kind: "transform", source: transform), source: transform, body: body, team: delivery.hook.teamID
        )
    }

    /// The stored state of each hook whose attempt failed in `finished` (operational events' own
    /// deliveries aside: they never cause more).
    private func healthBeforeRecording(_ finished: [(ClaimedDelivery, SentAttempt)]) async -> [Int64: Hook] {
        var hooks: [Int64: Hook] = [:]
        for (delivery, sent) in finished where !sent.outcome.isSuccess && !OperationalEvents.isOperational(delivery.event.type) {
            guard hooks[delivery.hook.id] == nil else { continue }
            hooks[delivery.hook.id] = (try? await store.hook(id: delivery.hook.id)) ?? delivery.hook
        }
        return hooks
    }

    /// Appends the operational events a recorded turn caused: a hook that started failing, one
    /// disabled, a delivery whose retries are spent (``OperationalEvents``).
    private func emitOperationalEvents(_ recorded: [(delivery: ClaimedDelivery, result: AttemptResult)], before: [Int64: Hook]) async {
        guard !before.isEmpty else { return }
        let items = recorded.compactMap { item in
            before[item.delivery.hook.id].map { (hook: $0, result: item.result, deliveryID: item.delivery.deliveryID, event: item.delivery.event) }
        }
        do {
            var slugs: [Int64: String] = [:]
            for teamID in Set(before.values.map(\.teamID)) { slugs[teamID] = try await store.team(id: teamID)?.slug }
            let events = OperationalEvents.caused(by: items, health: configuration.hookHealth, teamSlugs: slugs)
            guard !events.isEmpty else { return }
            _ = try await store.append(events)
            fanOutBell.ring()
        } catch {
            logger.error("could not append operational events", metadata: ["error": "\(error)"])
        }
    }

    /// Feeds each outcome to its delivery's state machine; the store carries out the actions.
    private func results(for finished: [(ClaimedDelivery, SentAttempt)]) -> [(delivery: ClaimedDelivery, result: AttemptResult)] {
        let now = Date()
        return finished.compactMap { delivery, sent in
            var lifecycle = delivery.lifecycle
            let policy = delivery.hook.policy
            let action = lifecycle.finish(
                sent.outcome, now: now, schedule: policy.retrySchedule(default: configuration.retrySchedule), jitterUnit: Double.random(in: 0..<1)
            )
            if case .refuse(let error) = action {
                logger.error("delivery state machine refused an outcome", metadata: ["delivery": "\(delivery.deliveryID)", "error": "\(error)"])
                return nil
            }
            return (
                delivery,
                AttemptResult(
                    attempt: sent.attempt, hookID: delivery.hook.id, lifecycle: lifecycle, action: action, succeeded: sent.outcome.isSuccess,
                    syncThrough: delivery.syncThrough, hookHealth: policy.disableAfterSeconds.map { _ in policy.health(default: configuration.hookHealth) },
                    holdsItsHook: delivery.hook.ordering == .ordered || delivery.probe
                )
            )
        }
    }
}

extension Dictionary where Value == Int {
    /// Counts one down, removing the key at zero.
    fileprivate mutating func decrement(_ key: Key) {
        let remaining = (self[key] ?? 1) - 1
        self[key] = remaining > 0 ? remaining : nil
    }
}
