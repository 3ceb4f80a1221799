import Foundation
import HeraldCore
import HeraldMemory
import HeraldPostgres
import HeraldSQLite
import Testing

/// A store backend under test. The conformance suite runs every test against each entry of
/// ``all`` (or of ``OutboxBackend/all`` for what the outbox alone holds): a new backend only adds itself there.
struct StoreBackend<Store: Sendable>: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> Store

    var testDescription: String { name }
}

/// Backends of everything Herald stores.
typealias FullBackend = StoreBackend<any HeraldStore>
/// Backends of the outbox (teams, events, hooks, deliveries, replays, signals): the memory store too.
typealias OutboxBackend = StoreBackend<any OutboxStore>

extension StoreBackend<any OutboxStore> {
    static let memory = OutboxBackend(name: "memory") { MemoryStore() }

    static let all: [OutboxBackend] = [.memory] + FullBackend.all.map { backend in OutboxBackend(name: backend.name) { try await backend.make() } }
}

extension StoreBackend<any HeraldStore> {
    static let sqlite = FullBackend(name: "SQLite") {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-store-\(UUID().uuidString)")
        return try SQLiteStore(directory: directory)
    }

    /// A fresh schema on the PostgreSQL server `HERALD_TEST_POSTGRES_URL` names (`.ci/postgres`
    /// starts one); each store gets its own, so tests run side by side.
    static let postgres = FullBackend(name: "PostgreSQL") {
        guard let url = postgresURL else {
            throw StoreUnavailable(description: "HERALD_TEST_POSTGRES_URL is not set (.ci/postgres starts a server and prints it)")
        }
        return try await PostgresStore(url: url, schema: "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""), maxConnections: 4)
    }

    static let postgresURL = ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"]

    /// SQLite always; PostgreSQL where a server is given, and under CI (`CI=true`) in a step of its
    /// own (`HERALD_TEST_STORE_STEP=1`, as `.ci/run` runs it), where a missing server fails every
    /// PostgreSQL case instead of skipping them. A store per test case, each migrating a schema of
    /// its own while every other suite of the first step runs, starved that step on a small machine.
    static let all: [FullBackend] = {
        let environment = ProcessInfo.processInfo.environment
        if environment["CI"] == "true" { return environment["HERALD_TEST_STORE_STEP"] == "1" ? [.sqlite, .postgres] : [.sqlite] }
        return postgresURL != nil ? [.sqlite, .postgres] : [.sqlite]
    }()
}

struct StoreUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// Small builders shared by the conformance tests.
extension OutboxStore {
    func makeTeam(_ slug: String = "bde") async throws -> Team {
        try await createTeam(name: slug.uppercased(), slug: slug, now: Date())
    }

    func makeHook(team: Team, events: [String] = ["*"], channels: [String] = [], ordering: Ordering = .none, active: Bool = true) async throws -> Hook {
        var settings = HookSettings(url: "http://127.0.0.1:9/\(team.slug)")
        settings.events = events
        settings.channels = channels
        settings.ordering = ordering
        settings.active = active
        return try await createHook(teamID: team.id, settings: settings, encryptedSecret: Data([1, 2, 3]), now: Date()).hook
    }

    func emit(_ type: String = "lead.created", channels: [String] = [], key: String? = nil, scope: String = "token:1") async throws -> AppendedEvent {
        try await append([NewEvent(type: type, data: #"{"lead_id":"l1"}"#, channels: channels, idempotencyKey: key, idempotencyScope: scope)])[0]
    }

    /// Claims everything due (far in the future, so scheduled retries count too when asked).
    func claimAll(now: Date = Date(), perHookLimit: Int = 1000) async throws -> [ClaimedDelivery] {
        try await claimDue(now: now, policy: ClaimPolicy(limit: 1000, perHook: perHookLimit, perTeam: 100_000))
    }
}

/// An attempt result as the engine would make it.
func result(for claimed: ClaimedDelivery, status: Int, now: Date = Date(), schedule: RetrySchedule = RetrySchedule(delays: [.seconds(60)], jitter: 0)) throws -> AttemptResult {
    var lifecycle = claimed.lifecycle
    let outcome = AttemptOutcome.response(status: status, retryAfter: nil)
    let action = lifecycle.finish(outcome, now: now, schedule: schedule, jitterUnit: 0.5)
    let attempt = Attempt(
        deliveryID: claimed.deliveryID, number: claimed.previousAttempts + 1, trigger: claimed.trigger, startedAt: now, durationMs: 3,
        url: claimed.hook.url, requestHeaders: [HTTPHeaderField("X-Herald-Event", claimed.event.type)], requestBody: claimed.event.payload,
        responseStatus: status, responseHeaders: [HTTPHeaderField("Server", "test")], responseBody: "body \(status)", errorClass: nil, errorMessage: nil
    )
    return AttemptResult(
        attempt: attempt, hookID: claimed.hook.id, lifecycle: lifecycle, action: action, succeeded: outcome.isSuccess,
        holdsItsHook: claimed.hook.ordering == .ordered || claimed.probe
    )
}
