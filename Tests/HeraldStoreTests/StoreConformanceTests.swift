import Foundation
import HeraldCore
import Testing

/// One conformance suite for every store backend (``OutboxBackend/all``, ``FullBackend/all``).
@Suite struct StoreConformanceTests {
    // MARK: teams and tokens

    @Test(arguments: OutboxBackend.all)
    func teamSlugsAreUnique(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam("bde")
        #expect(try await store.team(slug: "bde")?.id == team.id)
        #expect(try await store.team(id: team.id)?.name == "BDE")
        await #expect(throws: StoreError.conflict("a team with slug bde exists")) { try await store.makeTeam("bde") }
    }

    @Test(arguments: FullBackend.all)
    func tokensAreFoundByHashOnlyAndCanBeRevoked(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let token = try await store.createToken(name: "t", scope: .team, teamID: team.id, hash: "h1", prefix: "hrld_x", createdBy: "ana@bde.example", createdByUserID: 7, now: Date())
        #expect(try await store.token(hash: "h1")?.teamID == team.id)
        #expect(try await store.token(hash: "h1")?.createdBy == "ana@bde.example")
        #expect(try await store.token(hash: "h1")?.createdByUserID == 7)
        #expect(try await store.token(hash: "h2") == nil)
        #expect(try await store.tokens(teamID: team.id).map(\.id) == [token.id])
        #expect(try await store.deleteToken(id: token.id))
        #expect(try await store.token(hash: "h1") == nil)
        #expect(try await !store.deleteToken(id: token.id))
    }

    @Test(arguments: FullBackend.all)
    func aDisabledOrDeletedUsersSessionsEndAndSignInsAreRecorded(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        var ana = try await store.createUser(email: "ana@bde.example", passwordHash: "x", role: .member, teamID: team.id, now: Date())
        #expect(ana.lastSignInAt == nil && !ana.disabled && !ana.mustChangePassword)
        let signedIn = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())
        for hash in ["s1", "s2", "s3"] {
            try await store.createSession(Session(tokenHash: hash, userID: ana.id, csrfToken: "c", expiresAt: Date().addingTimeInterval(60)), now: signedIn)
        }
        #expect(try await store.user(id: ana.id)?.lastSignInAt == signedIn)
        // A password change keeps the session that made it.
        try await store.deleteSessions(userID: ana.id, keeping: "s2")
        #expect(try await store.session(tokenHash: "s1", now: Date()) == nil)
        #expect(try await store.session(tokenHash: "s2", now: Date())?.1.id == ana.id)
        ana.mustChangePassword = true
        ana.role = .admin
        ana.teamID = nil
        ana.passwordHash = "y"
        let saved = try await store.saveUser(ana)
        #expect(saved?.mustChangePassword == true && saved?.role == .admin && saved?.teamID == nil && saved?.passwordHash == "y")
        #expect(try await store.session(tokenHash: "s2", now: Date()) != nil)
        ana.disabled = true
        #expect(try await store.saveUser(ana)?.disabled == true)
        #expect(try await store.session(tokenHash: "s2", now: Date()) == nil)
        var gone = ana
        gone.id = 9_999
        #expect(try await store.saveUser(gone) == nil)
        #expect(try await store.deleteUser(id: ana.id))
        #expect(try await store.user(id: ana.id) == nil)
        #expect(try await !store.deleteUser(id: ana.id))
    }

    @Test(arguments: FullBackend.all)
    func aTeamIsDeletedOnlyOnceNothingBelongsToIt(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam("bde")
        #expect(try await store.renameTeam(id: team.id, name: "Banco")?.name == "Banco")
        #expect(try await store.team(slug: "bde")?.name == "Banco")
        #expect(try await store.renameTeam(id: 9_999, name: "x") == nil)
        let member = try await store.createUser(email: "ana@bde.example", passwordHash: "x", role: .member, teamID: team.id, now: Date())
        let token = try await store.createToken(name: "t", scope: .team, teamID: team.id, hash: "h1", prefix: "p", createdBy: nil, createdByUserID: nil, now: Date())
        let hook = try await store.makeHook(team: team)
        #expect(try await store.deleteTeam(id: team.id) == .inUse(hooks: 1, members: 1, tokens: 1))
        #expect(try await store.team(id: team.id) != nil)
        _ = try await store.deleteHook(id: hook.id)
        _ = try await store.deleteUser(id: member.id)
        _ = try await store.deleteToken(id: token.id)
        #expect(try await store.deleteTeam(id: team.id) == .deleted)
        #expect(try await store.team(id: team.id) == nil)
        #expect(try await store.deleteTeam(id: team.id) == .notFound)
    }

    @Test(arguments: OutboxBackend.all)
    func theAuditLogFiltersPagesAndPrunes(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        let recent = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())
        try await store.recordAudit(AuditEntry(at: old, actor: "ana@bde.example", address: "10.0.0.1", action: "user.created", target: "user x", teamID: 1))
        try await store.recordAudit(AuditEntry(at: recent, actor: "token 2 (ci)", address: nil, action: "hook.updated", target: "hook 3", teamID: 1,
            changes: .object([("url", .object([("before", .string("a")), ("after", .string("b"))]))])))
        try await store.recordAudit(AuditEntry(at: recent, actor: "command line", address: nil, action: "user.deleted", target: "user x", teamID: nil))
        try await store.recordAudit(AuditEntry(at: recent, actor: "command line", address: nil, action: "users.odd", target: "x", teamID: nil))
        let all = try await store.auditLog(AuditQuery())
        #expect(all.map(\.action) == ["users.odd", "user.deleted", "hook.updated", "user.created"])
        #expect(all[2].changes["url"]?["after"] == .string("b") && all[3].address == "10.0.0.1" && all[3].at == old)
        // `user` is a family of actions, not a prefix of any text.
        #expect(try await store.auditLog(AuditQuery(action: "user")).map(\.action) == ["user.deleted", "user.created"])
        #expect(try await store.auditLog(AuditQuery(action: "user.deleted")).count == 1)
        #expect(try await store.auditLog(AuditQuery(actor: "command line")).count == 2)
        #expect(try await store.auditLog(AuditQuery(teamID: 1)).map(\.action) == ["hook.updated", "user.created"])
        #expect(try await store.auditLog(AuditQuery(since: recent)).count == 3)
        #expect(try await store.auditLog(AuditQuery(until: recent)).map(\.action) == ["user.created"])
        let page = try await store.auditLog(AuditQuery(limit: 2))
        #expect(try await store.auditLog(AuditQuery(beforeID: page.last?.id, limit: 2)).map(\.action) == ["hook.updated", "user.created"])
        #expect(try await store.pruneAudit(before: recent.addingTimeInterval(-60), limit: 100) == 1)
        #expect(try await store.auditLog(AuditQuery()).count == 3)
    }

    @Test(arguments: FullBackend.all)
    func seedingTheCatalogKeepsEditedTypes(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        try await store.seedEventTypes(EventType.seedCatalog)
        try await store.saveEventType(EventType(name: "lead.created", description: "edited"))
        try await store.seedEventTypes(EventType.seedCatalog)
        #expect(try await store.eventType(name: "lead.created")?.description == "edited")
        #expect(try await store.eventTypes().count == EventType.seedCatalog.count)
        #expect(try await store.eventType(name: "lead.updated")?.schema == EventType.seedCatalog[1].schema)
    }

    // MARK: events

    @Test(arguments: OutboxBackend.all)
    func sequenceNumbersAreConsecutive(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let batch = try await store.append((0..<5).map { _ in NewEvent(type: "lead.created", data: "{}") })
        let single = try await store.emit()
        #expect(batch.map(\.event.seq) + [single.event.seq] == [1, 2, 3, 4, 5, 6])
        #expect(try await store.lastSeq() == 6)
        #expect(try await store.events(since: 2, limit: 2).map(\.seq) == [3, 4])
    }

    @Test(arguments: OutboxBackend.all)
    func aRepeatedIdempotencyKeyReturnsTheFirstEvent(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let first = try await store.emit(key: "k1")
        let again = try await store.emit(key: "k1")
        #expect(!first.duplicate && again.duplicate)
        #expect(again.event.id == first.event.id)
        #expect(try await store.lastSeq() == 1)
    }

    @Test(arguments: OutboxBackend.all)
    func idempotencyKeysAreScopedToTheirSender(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let first = try await store.emit(key: "k1", scope: "token:1")
        let other = try await store.emit(key: "k1", scope: "token:2")
        #expect(!first.duplicate && !other.duplicate)
        #expect(first.event.id != other.event.id)
        let found = try await store.events(idempotencyKeys: ["k1", "k2"], scope: "token:2")
        #expect(found.mapValues(\.id) == ["k1": other.event.id])
    }

    @Test(arguments: OutboxBackend.all)
    func pingsStayOutOfTheFeed(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam())
        _ = try await store.emit()
        #expect(try await store.events(since: 0, limit: 10).map(\.type) == ["lead.created"])
    }

    @Test(arguments: OutboxBackend.all)
    func channelsGrantedToATeamAreSaved(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam("bde")
        #expect(team.channels == ["bde"])
        let saved = try await store.setExtraChannels(["regional", "north"], teamID: team.id)
        #expect(saved?.channels == ["bde", "regional", "north"])
        #expect(try await store.team(slug: "bde")?.extraChannels.sorted() == ["north", "regional"])
        #expect(try await store.setExtraChannels([], teamID: 999) == nil)
    }

    // MARK: fan-out

    @Test(arguments: OutboxBackend.all)
    func fanOutMatchesTypesChannelsAndActiveHooks(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let all = try await store.makeHook(team: team)
        let leads = try await store.makeHook(team: team, events: ["lead.*"], channels: ["bde"])
        let updates = try await store.makeHook(team: team, events: ["lead.updated"])
        _ = try await store.makeHook(team: team, active: false)
        _ = try await store.claimAll()  // the creation pings
        _ = try await store.emit("lead.created", channels: ["bde"])
        _ = try await store.emit("lead.created", channels: ["cce"])
        _ = try await store.emit("lead.created")
        let result = try await store.fanOut(limit: 100, now: Date())
        #expect(result == FanOutResult(events: 3, deliveries: 4))
        let claimed = try await store.claimAll()
        // The event on the team's channel reaches the hook on it and the hook that names no channel
        // (it listens on all its team's); another team's channel reaches neither; the broadcast both.
        #expect(claimed.map(\.event.seq).sorted() == [5, 5, 7, 7])
        #expect(claimed.filter { $0.event.seq == 5 }.map(\.hook.id).sorted() == [all.id, leads.id])
        #expect(Set(claimed.map(\.hook.id)) == [all.id, leads.id])
        #expect(!claimed.contains { $0.hook.id == updates.id })
        #expect(try await store.fanOut(limit: 100, now: Date()) == FanOutResult(events: 0, deliveries: 0))
    }

    @Test(arguments: OutboxBackend.all)
    func aNewHookDoesNotReceiveOlderEvents(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        _ = try await store.emit()
        let hook = try await store.makeHook(team: team)
        _ = try await store.emit()
        #expect(try await store.fanOut(limit: 100, now: Date()).deliveries == 1)
        let claimed = try await store.claimAll().filter { $0.event.type != "ping" }
        #expect(claimed.map(\.hook.id) == [hook.id])
        #expect(claimed.map(\.event.seq) == [3])
    }

    @Test(arguments: OutboxBackend.all)
    func creatingAHookQueuesAPingForItAlone(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let first = try await store.makeHook(team: team)
        let claimed = try await store.claimAll()
        #expect(claimed.map(\.hook.id) == [first.id])
        #expect(claimed.first?.trigger == .ping)
        let data = try JSONValue(parsing: claimed[0].event.data)
        #expect(data["hook_id"] == .int(first.id))
        #expect(data["zen"]?.stringValue?.isEmpty == false)
    }

    // MARK: claiming

    @Test(arguments: OutboxBackend.all)
    func aClaimedDeliveryIsNotClaimedAgain(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam())
        #expect(try await store.claimAll().count == 1)
        #expect(try await store.claimAll().isEmpty)
    }

    @Test(arguments: OutboxBackend.all)
    func claimsRespectThePerHookLimit(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        _ = try await store.claimAll()
        for _ in 0..<5 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        let first = try await store.claimDue(now: Date(), policy: ClaimPolicy(limit: 100, perHook: 3, perTeam: 100, inFlightByHook: [hook.id: 1]))
        #expect(first.count == 2)
        #expect(try await store.claimAll().count == 3)
    }

    @Test(arguments: OutboxBackend.all)
    func anOrderedHookHasOneDeliveryInFlightInSeqOrder(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam(), ordering: .ordered)
        let ping = try await store.claimAll()
        try await store.record(try ping.map { try result(for: $0, status: 200) }, health: HookHealth())
        for _ in 0..<3 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())

        var first = try await store.claimAll()
        #expect(first.map(\.event.seq) == [2])
        #expect(try await store.claimAll().isEmpty)
        // A failure schedules a retry: the next event still waits behind it.
        try await store.record([try result(for: first[0], status: 500)], health: HookHealth())
        #expect(try await store.claimAll().isEmpty)
        first = try await store.claimAll(now: Date().addingTimeInterval(120))
        #expect(first.map(\.event.seq) == [2])
        try await store.record([try result(for: first[0], status: 200)], health: HookHealth())
        #expect(try await store.claimAll().map(\.event.seq) == [3])
        #expect(hook.ordering == .ordered)
    }

    @Test(arguments: OutboxBackend.all)
    func recordingAndClaimingTogetherFreesTheOrderedSlot(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam(), ordering: .ordered)
        let ping = try await store.claimAll()
        for _ in 0..<2 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        // The ping is in flight, so the ordered hook offers nothing until it is recorded…
        let policy = ClaimPolicy(limit: 10, perHook: 10, perTeam: 100)
        #expect(try await store.recordAndClaim([], health: HookHealth(), now: Date(), policy: policy).claimed.isEmpty)
        // …and recording it in the same call lets the next delivery, in seq order, be claimed.
        let next = try await store.recordAndClaim([try result(for: ping[0], status: 200)], health: HookHealth(), now: Date(), policy: policy)
        #expect(next.claimed.map(\.event.seq) == [2])
        #expect(try await store.delivery(id: ping[0].deliveryID)?.lifecycle.status == .succeeded)
    }

    @Test(arguments: OutboxBackend.all)
    func aHooksDeliveryPolicyIsSavedAndReadBack(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        var hook = try await store.makeHook(team: try await store.makeTeam())
        #expect(hook.policy.isEmpty)
        hook.policy = DeliveryPolicy(retry: .exponential(initialSeconds: 1.5, maxSeconds: 60, attempts: 6), disableAfterSeconds: 7200, rateLimitPerSecond: 3)
        _ = try await store.updateHook(hook, now: Date())
        #expect(try await store.hook(id: hook.id)?.policy == hook.policy)
        hook.policy = DeliveryPolicy(retry: .delays([0.25, 30]))
        _ = try await store.updateHook(hook, now: Date())
        #expect(try await store.hook(id: hook.id)?.policy == hook.policy)
    }

    /// A limit of 4 a second: slots 250 ms apart, a claim taking those that start within 100 ms of
    /// its `now`, kept in the store so the next claim (any node's) goes on from the last slot taken.
    @Test(arguments: OutboxBackend.all)
    func aRateLimitedHookIsClaimedSlotBySlot(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        var hook = try await store.makeHook(team: team)
        let other = try await store.makeHook(team: team)
        _ = try await store.claimAll()
        hook.policy.rateLimitPerSecond = 4
        hook = try await store.updateHook(hook, now: Date())
        for _ in 0..<6 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        let policy = ClaimPolicy(limit: 100, perHook: 100, perTeam: 100)
        let start = Date().addingTimeInterval(1)

        let first = try await store.recordAndClaim([], health: HookHealth(), now: start, policy: policy)
        // The other hook takes its whole backlog; the limited one its first slot, at once.
        #expect(first.claimed.filter { $0.hook.id == other.id }.count == 6)
        let limited = first.claimed.filter { $0.hook.id == hook.id }
        #expect(limited.count == 1)
        #expect(abs((limited[0].notBefore ?? .distantPast).timeIntervalSince(start)) < 0.001)
        // The next slot is 250 ms on: a claim now takes nothing and says when to come back.
        let second = try await store.recordAndClaim([], health: HookHealth(), now: start, policy: policy)
        #expect(second.claimed.isEmpty)
        #expect(abs((second.heldUntil ?? .distantPast).timeIntervalSince(start.addingTimeInterval(0.25 - RateSlots.lookahead))) < 0.001)
        // 200 ms later the slot at 250 ms is within the lookahead: it is taken, to start at 250 ms.
        let third = try await store.recordAndClaim([], health: HookHealth(), now: start.addingTimeInterval(0.2), policy: policy)
        #expect(third.claimed.map(\.hook.id) == [hook.id])
        #expect(abs((third.claimed.first?.notBefore ?? .distantPast).timeIntervalSince(start.addingTimeInterval(0.25))) < 0.001)
        // A second later the slots do not pile up: one (now) and the next one within 100 ms at most.
        let later = try await store.recordAndClaim([], health: HookHealth(), now: start.addingTimeInterval(1.5), policy: policy)
        #expect(later.claimed.count == 1)
        #expect(later.heldUntil != nil)
    }

    /// Two failures in a row open the breaker for a minute: nothing is claimed for the hook, and
    /// the claim says when to come back; then one probe; its success closes the breaker.
    @Test(arguments: OutboxBackend.all)
    func anOpenBreakerHoldsItsHookUntilOneProbeSucceeds(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        let ping = try await store.claimAll()
        let health = HookHealth(breaker: CircuitBreaker(failures: 2, cooldown: .seconds(60)))
        try await store.record(try ping.map { try result(for: $0, status: 200) }, health: health)
        for _ in 0..<5 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        let policy = ClaimPolicy(limit: 100, perHook: 100, perTeam: 100)
        let now = Date()
        let first = try await store.recordAndClaim([], health: health, now: now, policy: policy).claimed
        #expect(first.count == 5)
        // Two fail (the breaker opens at the second); the three still in flight fail meanwhile.
        let failed = try first.prefix(2).map { try result(for: $0, status: 503, now: now) }
        let opened = try await store.recordAndClaim(failed, health: health, now: now, policy: policy)
        #expect(opened.claimed.isEmpty)
        let stored = try #require(try await store.hook(id: hook.id))
        #expect(stored.circuit.failures == 2)
        let openUntil = try #require(stored.circuit.openUntil)
        #expect(abs(openUntil.timeIntervalSince(now.addingTimeInterval(60))) < 0.01)
        let stragglers = try first.suffix(3).map { try result(for: $0, status: 503, now: now.addingTimeInterval(1)) }
        let held = try await store.recordAndClaim(stragglers, health: health, now: now.addingTimeInterval(30), policy: policy)
        #expect(held.claimed.isEmpty)
        #expect(abs((held.heldUntil ?? .distantPast).timeIntervalSince(openUntil)) < 0.01, "the engine comes back when it half-opens")
        #expect(try await store.hook(id: hook.id)?.circuit.openUntil == openUntil, "stragglers do not extend it")
        // The retries are due after 60 s; at 61 s the breaker half-opens: one probe, not five.
        let later = now.addingTimeInterval(61)
        let probe = try await store.recordAndClaim([], health: health, now: later, policy: policy).claimed
        try #require(probe.count == 1)
        #expect(probe[0].probe, "its result decides for the rest, so the claim after its record sees what it decided")
        let withProbe = ClaimPolicy(limit: 100, perHook: 100, perTeam: 100, inFlightByHook: [hook.id: 1], inFlightByTeam: [hook.teamID: 1])
        #expect(try await store.recordAndClaim([], health: health, now: later, policy: withProbe).claimed.isEmpty, "one probe at a time")
        // It succeeds: closed, and the other four retries go.
        let closed = try await store.recordAndClaim([try result(for: probe[0], status: 200, now: later)], health: health, now: later, policy: policy)
        #expect(closed.claimed.count == 4)
        #expect(try await store.hook(id: hook.id)?.circuit == CircuitState())
    }

    @Test(arguments: OutboxBackend.all)
    func deliveriesOfAnInactiveHookWaitUntilItIsEnabled(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        var hook = try await store.makeHook(team: try await store.makeTeam())
        hook.active = false
        hook = try await store.updateHook(hook, now: Date())
        #expect(try await store.claimAll().isEmpty)
        hook.active = true
        _ = try await store.updateHook(hook, now: Date())
        #expect(try await store.claimAll().count == 1)
    }

    /// Creates a team with one hook on its own channel, its ping already delivered.
    func quietHook(_ store: any OutboxStore, team slug: String) async throws -> (Team, Hook) {
        let team = try await store.makeTeam(slug)
        let hook = try await store.makeHook(team: team, channels: [slug])
        let ping = try await store.claimAll()
        try await store.record(try ping.map { try result(for: $0, status: 200) }, health: HookHealth())
        return (team, hook)
    }

    @Test(arguments: OutboxBackend.all)
    func aBacklogOfOneHookDoesNotHoldBackAnother(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let (_, slow) = try await quietHook(store, team: "slow")
        let (_, fast) = try await quietHook(store, team: "fast")
        let start = Date()
        _ = try await store.append((0..<60).map { _ in NewEvent(type: "lead.created", data: "{}", channels: ["slow"]) })
        _ = try await store.fanOut(limit: 1000, now: start)
        // The fast hook's delivery became due after all 60 of the slow hook's.
        _ = try await store.emit(channels: ["fast"])
        _ = try await store.fanOut(limit: 1000, now: start.addingTimeInterval(1))
        let claimed = try await store.claimDue(now: start.addingTimeInterval(2), policy: ClaimPolicy(limit: 10, perHook: 4, perTeam: 100))
        #expect(claimed.filter { $0.hook.id == slow.id }.count == 4)
        #expect(claimed.filter { $0.hook.id == fast.id }.count == 1)
    }

    @Test(arguments: OutboxBackend.all)
    func aTeamGetsNoMoreThanItsShareOfSlots(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let (big, bigHook) = try await quietHook(store, team: "big")
        _ = try await store.makeHook(team: big, channels: ["big"])
        _ = try await store.makeHook(team: big, channels: ["big"])
        let (_, small) = try await quietHook(store, team: "small")
        // The two new hooks' pings are claimed and finished too.
        try await store.record(try await store.claimAll().map { try result(for: $0, status: 200) }, health: HookHealth())
        _ = try await store.append((0..<20).map { _ in NewEvent(type: "lead.created", data: "{}", channels: ["big"]) })
        _ = try await store.emit(channels: ["small"])
        _ = try await store.fanOut(limit: 1000, now: Date())
        let policy = ClaimPolicy(limit: 100, perHook: 10, perTeam: 5, inFlightByHook: [bigHook.id: 1], inFlightByTeam: [big.id: 1])
        let claimed = try await store.claimDue(now: Date(), policy: policy)
        #expect(claimed.filter { $0.hook.teamID == big.id }.count == 4)
        #expect(claimed.filter { $0.hook.id == small.id }.count == 1)
    }

    @Test(arguments: OutboxBackend.all)
    func theNextDueDateLooksOnlyAhead(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let (_, hook) = try await quietHook(store, team: "bde")
        let now = Date()
        _ = try await store.emit(channels: ["bde"])
        _ = try await store.fanOut(limit: 10, now: now)
        // Due now (and perhaps held back by a cap): not a reason to wake before a slot frees.
        #expect(try await store.nextDueDate(after: now) == nil)
        let claimed = try await store.claimAll(now: now)
        #expect(claimed.map(\.hook.id) == [hook.id])
        try await store.record([try result(for: claimed[0], status: 500, now: now)], health: HookHealth())
        let next = try #require(try await store.nextDueDate(after: now))
        #expect(abs(next.timeIntervalSince(now) - 60) < 0.01)
    }

    @Test(arguments: OutboxBackend.all)
    func fanOutRoutesOnlyThroughGrantedChannels(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let bde = try await store.makeTeam("bde")
        // A hook that names another team's channel (the API refuses this; older rows may hold it).
        let hook = try await store.makeHook(team: bde, channels: ["bde", "cce"])
        _ = try await store.emit(channels: ["cce"])
        _ = try await store.emit(channels: ["bde"])
        _ = try await store.fanOut(limit: 10, now: Date())
        _ = try await store.setExtraChannels(["cce"], teamID: bde.id)
        _ = try await store.emit(channels: ["cce"])
        _ = try await store.fanOut(limit: 10, now: Date())
        let seqs = try await store.deliveries(DeliveryQuery(hookID: hook.id)).map(\.eventSeq).sorted()
        #expect(seqs == [1, 3, 4])  // the ping, then the bde event and the cce event after the grant
    }

    @Test(arguments: OutboxBackend.all)
    func fanOutAndClaimsSeeEveryHookChangeAtOnce(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let (_, original) = try await quietHook(store, team: "bde")
        var hook = original
        hook.url = "http://127.0.0.1:9/moved"
        hook = try await store.updateHook(hook, now: Date())
        _ = try await store.emit(channels: ["bde"])
        _ = try await store.fanOut(limit: 10, now: Date())
        let claimed = try await store.claimAll()
        #expect(claimed.map(\.hook.url) == ["http://127.0.0.1:9/moved"])
        // A 410 disables the hook: the next event is not routed to it.
        try await store.record([try result(for: claimed[0], status: 410)], health: HookHealth())
        _ = try await store.emit(channels: ["bde"])
        _ = try await store.fanOut(limit: 10, now: Date())
        #expect(try await store.deliveryCounts()[.pending] == nil)
        // A hook created now gets the next event.
        let newcomer = try await store.makeHook(team: try #require(try await store.team(slug: "bde")), channels: ["bde"])
        _ = try await store.emit(channels: ["bde"])
        _ = try await store.fanOut(limit: 10, now: Date())
        #expect(Set(try await store.claimAll().map(\.hook.id)) == [newcomer.id])
    }

    // MARK: recording

    @Test(arguments: OutboxBackend.all)
    func aResultForADeletedHookIsSkippedAndTheOthersRecorded(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let doomed = try await store.makeHook(team: team)
        let kept = try await store.makeHook(team: team)
        let claimed = try await store.claimAll()
        #expect(Set(claimed.map(\.hook.id)) == [doomed.id, kept.id])
        #expect(try await store.deleteHook(id: doomed.id))
        let results = try claimed.map { try result(for: $0, status: 200) }
        let batch = try await store.recordAndClaim(results, health: HookHealth(), now: Date(), policy: ClaimPolicy(limit: 10, perHook: 10, perTeam: 10))
        #expect(batch.discarded.map(\.deliveryID) == claimed.filter { $0.hook.id == doomed.id }.map(\.deliveryID))
        let keptDelivery = try #require(claimed.first { $0.hook.id == kept.id })
        #expect(try await store.delivery(id: keptDelivery.deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.attempts(deliveryID: keptDelivery.deliveryID).count == 1)
        #expect(try await store.hook(id: kept.id)?.lastResponse.status == "active")
    }

    @Test(arguments: OutboxBackend.all)
    func recordingAppliesTheDecisionAndKeepsTheAttempt(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        let ping = try await store.claimAll()
        try await store.record([try result(for: ping[0], status: 200)], health: HookHealth())
        _ = try await store.emit()
        _ = try await store.fanOut(limit: 100, now: Date())
        let claimed = try await store.claimAll()
        let now = Date()
        try await store.record([try result(for: claimed[0], status: 503, now: now)], health: HookHealth())
        let delivery = try #require(try await store.delivery(id: claimed[0].deliveryID))
        #expect(delivery.lifecycle.status == .pending)
        #expect(delivery.totalAttempts == 1)
        #expect(delivery.lastStatusCode == 503)
        #expect(abs(delivery.lifecycle.nextAttemptAt!.timeIntervalSince(now) - 60) < 0.01)
        let attempts = try await store.attempts(deliveryID: delivery.id)
        #expect(attempts.map(\.responseStatus) == [503])
        #expect(attempts[0].responseBody == "body 503")
        #expect(attempts[0].requestHeaders == [HTTPHeaderField("X-Herald-Event", "lead.created")])
        #expect(attempts[0].requestBody == claimed[0].event.payload)
        let saved = try #require(try await store.hook(id: hook.id))
        #expect(saved.lastResponse.status == "failed" && saved.lastResponse.code == 503)
        #expect(saved.failingSince != nil)
    }

    @Test(arguments: OutboxBackend.all)
    func goneDisablesTheHookWithItsReason(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        let claimed = try await store.claimAll()
        try await store.record([try result(for: claimed[0], status: 410)], health: HookHealth())
        let saved = try #require(try await store.hook(id: hook.id))
        #expect(!saved.active)
        #expect(saved.disabledReason?.contains("410") == true)
    }

    @Test(arguments: OutboxBackend.all)
    func aLongFailureRunDisablesTheHook(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        let claimed = try await store.claimAll()
        try await store.record([try result(for: claimed[0], status: 500)], health: HookHealth(disableAfter: .zero))
        #expect(try await store.hook(id: hook.id)?.active == false)
    }

    @Test(arguments: OutboxBackend.all)
    func theOldestPendingDeliveryIsReported(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        #expect(try await store.oldestPendingDate() == nil)
        let before = Date()
        _ = try await store.makeHook(team: try await store.makeTeam())  // its creation ping waits
        let oldest = try #require(try await store.oldestPendingDate())
        #expect(abs(oldest.timeIntervalSince(before)) < 60)
        _ = try await store.claimAll()
        #expect(try await store.oldestPendingDate() == nil, "in flight is no longer waiting")
    }

    /// An engine that met a failure after a record committed tries the batch again: what was
    /// recorded is reported, never recorded twice.
    @Test(arguments: OutboxBackend.all)
    func aResultRecordedAgainIsNotRecordedTwice(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam())
        let claimed = try #require(try await store.claimAll().first)
        let results = [try result(for: claimed, status: 200)]
        #expect(try await store.record(results, health: HookHealth()).isEmpty)
        #expect(try await store.record(results, health: HookHealth()).map(\.deliveryID) == [claimed.deliveryID])
        #expect(try await store.attempts(deliveryID: claimed.deliveryID).count == 1)
        #expect(try await store.delivery(id: claimed.deliveryID)?.lifecycle.status == .succeeded)
    }

    @Test(arguments: OutboxBackend.all)
    func inFlightDeliveriesAreRecoveredAfterACrash(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam())
        let claimed = try await store.claimAll()
        #expect(try await store.deliveryCounts()[.inFlight] == 1)
        // Past any lease the claim may carry (a store shared by nodes leaves a live node's claims alone).
        let later = Date().addingTimeInterval(3600)
        #expect(try await store.recoverInFlight(now: later) == 1)
        let again = try await store.claimAll(now: later)
        #expect(again.map(\.deliveryID) == claimed.map(\.deliveryID))
        #expect(try #require(again.first).previousAttempts == 0)
    }

    @Test(arguments: OutboxBackend.all)
    func redeliveryKeepsTheIdAndIsMarked(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        _ = try await store.makeHook(team: try await store.makeTeam())
        let claimed = try await store.claimAll()
        #expect(try await !store.redeliver(deliveryID: claimed[0].deliveryID, now: Date()))
        try await store.record([try result(for: claimed[0], status: 200)], health: HookHealth())
        #expect(try await store.redeliver(deliveryID: claimed[0].deliveryID, now: Date()))
        let again = try await store.claimAll()
        #expect(again.map(\.deliveryID) == claimed.map(\.deliveryID))
        #expect(again[0].trigger == .redelivery)
        #expect(again[0].previousAttempts == 1)
        #expect(try await !store.redeliver(deliveryID: "nope", now: Date()))
    }

    // MARK: the log

    @Test(arguments: OutboxBackend.all)
    func theLogPagesNewestFirstWithFilters(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let bde = try await store.makeTeam("bde")
        let cce = try await store.makeTeam("cce")
        let hook = try await store.makeHook(team: bde)
        _ = try await store.makeHook(team: cce)
        for _ in 0..<4 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        let page1 = try await store.deliveries(DeliveryQuery(hookID: hook.id, limit: 3))
        let page2 = try await store.deliveries(DeliveryQuery(hookID: hook.id, cursor: page1.last?.cursor, limit: 3))
        #expect(page1.count == 3 && page2.count == 2)
        let seqs = (page1 + page2).map(\.eventSeq)
        #expect(seqs == seqs.sorted(by: >))
        #expect(page2.last?.eventType == "ping")
        #expect(try await store.deliveries(DeliveryQuery(teamID: cce.id, limit: 100)).count == 5)
        #expect(try await store.deliveries(DeliveryQuery(statuses: DeliveryStatus.APIStatus.success.statuses, limit: 100)).isEmpty)
        #expect(try await store.deliveries(DeliveryQuery(statuses: DeliveryStatus.APIStatus.pending.statuses, limit: 100)).count == 10)
        #expect(try await store.deliveries(DeliveryQuery(hookID: hook.id, eventType: "ping", limit: 100)).count == 1)
    }

    @Test(arguments: OutboxBackend.all)
    func deletingAHookDeletesItsDeliveries(_ backend: OutboxBackend) async throws {
        let store = try await backend.make()
        let hook = try await store.makeHook(team: try await store.makeTeam())
        #expect(try await store.deleteHook(id: hook.id))
        #expect(try await !store.deleteHook(id: hook.id), "a hook is deleted once")
        #expect(try await store.hook(id: hook.id) == nil)
        #expect(try await store.deliveries(DeliveryQuery(limit: 100)).isEmpty)
    }
}

@Suite struct UserStoreConformanceTests {
    @Test(arguments: FullBackend.all)
    func emailsAreUniqueIgnoringCase(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        let team = try await store.makeTeam()
        let user = try await store.createUser(email: "ana@bde.example", passwordHash: "h", role: .member, teamID: team.id, now: Date())
        #expect(try await store.user(email: "ANA@bde.example")?.id == user.id)
        await #expect(throws: StoreError.self) {
            try await store.createUser(email: "Ana@BDE.example", passwordHash: "h", role: .member, teamID: team.id, now: Date())
        }
        #expect(try await store.users(teamID: team.id).map(\.id) == [user.id])
    }

    @Test(arguments: FullBackend.all)
    func sessionsExpireAndCanBeEnded(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        let user = try await store.createUser(email: "admin@example.org", passwordHash: "h", role: .admin, teamID: nil, now: Date())
        let now = Date()
        try await store.createSession(Session(tokenHash: "s1", userID: user.id, csrfToken: "c1", expiresAt: now + 60), now: now)
        #expect(try await store.session(tokenHash: "s1", now: now)?.1.id == user.id)
        #expect(try await store.session(tokenHash: "s1", now: now + 61) == nil)
        #expect(try await store.session(tokenHash: "s1", now: now)?.0.csrfToken == "c1")
        try await store.deleteSession(tokenHash: "s1")
        #expect(try await store.session(tokenHash: "s1", now: now) == nil)
    }
}
