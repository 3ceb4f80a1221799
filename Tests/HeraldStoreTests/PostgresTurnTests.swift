import Foundation
import HeraldCore
import HeraldMemory
import Testing

@testable import HeraldPostgres

/// On PostgreSQL a turn's claim runs beside its record, each in its own transaction: what one of
/// them did stands when the other fails. The failures are real ones, raised by the server (a
/// trigger standing for a full disk).
@Suite struct PostgresTurnTests {
    static func store() async throws -> PostgresStore {
        try #require(try await FullBackend.postgres.make() as? PostgresStore)
    }

    /// Refuses the rows `table` gets (`INSERT`), or those an `UPDATE` marks `status`, as a full disk would.
    static func refuse(_ store: PostgresStore, _ operation: String, on table: String, when condition: String = "true") async throws {
        try await store.write { db in
            try await db.run(
                """
                CREATE FUNCTION refuse_rows() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$
                """
            )
            try await db.run("CREATE TRIGGER refuse_rows BEFORE \(unescaped: operation) ON \(unescaped: table) FOR EACH ROW WHEN (\(unescaped: condition)) EXECUTE FUNCTION refuse_rows()")
        }
    }

    static func allow(_ store: PostgresStore, on table: String) async throws {
        try await store.write { db in
            try await db.run("DROP TRIGGER refuse_rows ON \(unescaped: table)")
            try await db.run("DROP FUNCTION refuse_rows()")
        }
    }

    /// A hook with its creation ping in flight and two events' deliveries pending.
    static func pingInFlightAndTwoPending(_ store: PostgresStore) async throws -> ClaimedDelivery {
        _ = try await store.makeHook(team: try await store.makeTeam())
        let ping = try await store.claimAll()
        #expect(ping.count == 1)
        _ = try await store.emit()
        _ = try await store.emit()
        _ = try await store.fanOut(limit: 100, now: Date())
        return try #require(ping.first)
    }

    static let policy = ClaimPolicy(limit: 10, perHook: 10, perTeam: 100)

    @Test(.enabled(if: PostgresNodeTests.available, "needs a PostgreSQL server (HERALD_TEST_POSTGRES_URL); under CI, runs in its own step (HERALD_TEST_STORE_STEP=1)"))
    func aRecordThatFailsKeepsTheDeliveriesClaimedBesideIt() async throws {
        let store = try await Self.store()
        defer { store.close() }
        #expect(store.claimsBesideRecords)
        let ping = try await Self.pingInFlightAndTwoPending(store)
        let results = [try result(for: ping, status: 200)]
        try await Self.refuse(store, "INSERT", on: "attempts")
        let turn = try await store.recordAndClaim(results, health: HookHealth(), now: Date(), policy: Self.policy)
        // The record failed as a whole and says why; the claim beside it stands, to be sent.
        #expect(turn.recordFailure?.contains("No space left on device") == true, "\(turn.recordFailure ?? "no failure")")
        #expect(turn.claimed.map(\.event.type) == ["lead.created", "lead.created"])
        #expect(try await store.delivery(id: ping.deliveryID)?.lifecycle.status == .inFlight)
        #expect(try await store.attempts(deliveryID: ping.deliveryID).isEmpty)
        for claimed in turn.claimed { #expect(try await store.delivery(id: claimed.deliveryID)?.lifecycle.status == .inFlight) }
        // Once the disk has room, the same results are recorded, once.
        try await Self.allow(store, on: "attempts")
        let again = try await store.recordAndClaim(results, health: HookHealth(), now: Date(), policy: Self.policy)
        #expect(again.recordFailure == nil)
        #expect(again.claimed.isEmpty)
        #expect(try await store.delivery(id: ping.deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.attempts(deliveryID: ping.deliveryID).count == 1)
    }

    @Test(.enabled(if: PostgresNodeTests.available, "needs a PostgreSQL server (HERALD_TEST_POSTGRES_URL); under CI, runs in its own step (HERALD_TEST_STORE_STEP=1)"))
    func aClaimThatFailsLeavesTheRecordBesideItAndTheNextTurnClaims() async throws {
        let store = try await Self.store()
        defer { store.close() }
        let ping = try await Self.pingInFlightAndTwoPending(store)
        // Only a claim marks deliveries in flight: refusing that refuses the claim alone.
        try await Self.refuse(store, "UPDATE", on: "deliveries", when: "NEW.status = 'in_flight'")
        let turn = try await store.recordAndClaim([try result(for: ping, status: 200)], health: HookHealth(), now: Date(), policy: Self.policy)
        #expect(turn.claimFailure?.contains("No space left on device") == true, "\(turn.claimFailure ?? "no failure")")
        #expect(turn.recordFailure == nil)
        #expect(turn.claimed.isEmpty)
        #expect(try await store.delivery(id: ping.deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.attempts(deliveryID: ping.deliveryID).count == 1)
        try await Self.allow(store, on: "deliveries")
        let next = try await store.recordAndClaim([], health: HookHealth(), now: Date(), policy: Self.policy)
        #expect(next.claimed.count == 2)
    }

    /// A healthy hook's successes leave its row as it is, so a record does not lock it: records on
    /// several nodes do not queue on a busy hook. One that changes its health does.
    @Test(
        .enabled(if: PostgresNodeTests.available, "needs a PostgreSQL server (HERALD_TEST_POSTGRES_URL); under CI, runs in its own step (HERALD_TEST_STORE_STEP=1)"),
        .timeLimit(.minutes(1))
    )
    func aSuccessOfAHealthyHookIsRecordedWithoutLockingItsRow() async throws {
        let store = try await Self.store()
        defer { store.close() }
        let hook = try await store.makeHook(team: try await store.makeTeam())
        let ping = try #require(try await store.claimAll().first)
        try await store.record([try result(for: ping, status: 200)], health: HookHealth())
        let healthy = try #require(try await store.hook(id: hook.id))
        #expect(healthy.lastResponse.status == "active")
        for _ in 0..<2 { _ = try await store.emit() }
        _ = try await store.fanOut(limit: 100, now: Date())
        let claimed = try await store.claimAll()
        try #require(claimed.count == 2)
        // Another transaction holds the hook's row (an edit, another node's record of a failure)
        // while this node records a success: it is recorded all the same.
        try await store.write { db in
            try await db.run("SELECT id FROM hooks WHERE id = \(hook.id) FOR UPDATE")
            try await store.record([try result(for: claimed[0], status: 200)], health: HookHealth())
        }
        #expect(try await store.delivery(id: claimed[0].deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.hook(id: hook.id)?.lastResponse == healthy.lastResponse)
        // A failure changes the hook's health: recorded under the row's lock.
        try await store.record([try result(for: claimed[1], status: 503)], health: HookHealth())
        let failing = try #require(try await store.hook(id: hook.id))
        #expect(failing.lastResponse == LastResponse(code: 503, status: "failed", message: "HTTP 503"))
        #expect(failing.failingSince != nil)
        #expect(failing.circuit.failures == 1)
    }

    /// An ordered hook's next delivery, a probe's verdict, or a failure's effect on its hook, is for
    /// a claim after the record: such a turn records first, then claims.
    @Test func aClaimRunsBesideOnlyARecordOfSuccessesOfUnorderedHooks() throws {
        func attempt(succeeded: Bool, holdsItsHook: Bool = false, syncThrough: Int64? = nil) -> AttemptResult {
            let attempt = Attempt(
                deliveryID: "d", number: 1, trigger: .first, startedAt: Date(), durationMs: 1, url: "http://127.0.0.1:9/", requestHeaders: [],
                requestBody: "{}", responseStatus: succeeded ? 200 : 500, responseHeaders: [], responseBody: nil, errorClass: nil, errorMessage: nil
            )
            return AttemptResult(
                attempt: attempt, hookID: 1, lifecycle: DeliveryLifecycle(status: .succeeded, attemptsInRun: 1, redelivery: false, retries: true, nextAttemptAt: nil),
                action: .succeeded, succeeded: succeeded, syncThrough: syncThrough, holdsItsHook: holdsItsHook
            )
        }
        #expect(DeliveryQueue.claimMayRunBeside([attempt(succeeded: true), attempt(succeeded: true)]))
        #expect(!DeliveryQueue.claimMayRunBeside([attempt(succeeded: true), attempt(succeeded: false)]))
        #expect(!DeliveryQueue.claimMayRunBeside([attempt(succeeded: true, holdsItsHook: true)]))
        #expect(!DeliveryQueue.claimMayRunBeside([attempt(succeeded: true, syncThrough: 4)]))
    }
}

/// The delivery log's two reads (the attempts, then the delivery) with a record committing between
/// them, as on a busy node: the log shows the delivery as that record left it, attempt and state.
@Suite struct DeliveryLogReadTests {
    /// A log store that records `results` right after its first read of the attempts.
    actor RecordBetweenReads: DeliveryLogStore {
        let store: MemoryStore
        var results: [AttemptResult]

        init(store: MemoryStore, results: [AttemptResult]) {
            self.store = store
            self.results = results
        }

        func attempts(deliveryID: String) async throws -> [Attempt] {
            let read = try await store.attempts(deliveryID: deliveryID)
            if !results.isEmpty {
                try await store.record(results, health: HookHealth())
                results = []
            }
            return read
        }

        func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] { try await store.deliveries(query) }
        func delivery(id: String) async throws -> Delivery? { try await store.delivery(id: id) }
        func deliveryCounts() async throws -> [DeliveryStatus: Int] { try await store.deliveryCounts() }
        func oldestPendingDate() async throws -> Date? { try await store.oldestPendingDate() }
        func unfinishedByHook() async throws -> [Int64: Int] { try await store.unfinishedByHook() }
        func backlog(now: Date, perTeam: Int) async throws -> Int { try await store.backlog(now: now, perTeam: perTeam) }
    }

    @Test func aRecordBetweenTheLogsReadsIsShownWhole() async throws {
        let store = MemoryStore()
        _ = try await store.makeHook(team: try await store.makeTeam())
        let ping = try #require(try await store.claimAll().first)
        let log = RecordBetweenReads(store: store, results: [try result(for: ping, status: 200)])
        let (delivery, attempts) = try #require(try await log.deliveryWithAttempts(id: ping.deliveryID))
        #expect(delivery.lifecycle.status == .succeeded)
        #expect(delivery.totalAttempts == 1)
        #expect(attempts.map(\.number) == [1])
    }
}
