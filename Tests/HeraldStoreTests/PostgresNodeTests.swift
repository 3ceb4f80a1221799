import Foundation
import HeraldCore
import HeraldPostgres
import Testing

/// What only a store shared by several nodes does: two `PostgresStore`s on one schema stand for
/// two nodes.
@Suite struct PostgresNodeTests {
    static var available: Bool { FullBackend.all.contains { $0.name == "PostgreSQL" } }

    static func twoNodes(leaseMargin: TimeInterval = 60) async throws -> (PostgresStore, PostgresStore) {
        let url = try #require(FullBackend.postgresURL, "HERALD_TEST_POSTGRES_URL is required under CI (.ci/run starts a server)")
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let first = try await PostgresStore(url: url, schema: schema, maxConnections: 4, leaseMargin: leaseMargin)
        let second = try await PostgresStore(url: url, schema: schema, maxConnections: 4, leaseMargin: leaseMargin)
        return (first, second)
    }

    // Waits for signals: bounded, so a lost one fails the test instead of stalling the run.
    @Test(.enabled(if: available, "needs a PostgreSQL server (HERALD_TEST_POSTGRES_URL); under CI, runs in its own step (HERALD_TEST_STORE_STEP=1)"), .timeLimit(.minutes(1)))
    func aNodeHearsOfAnotherNodesAppendsAndDeliveries() async throws {
        let (listener, writer) = try await Self.twoNodes()
        defer { listener.close(); writer.close() }
        var iterator = await listener.signals().makeAsyncIterator()
        try await writer.requestSync(hookID: 0, at: Date())
        var heard: Set<StoreSignal> = []
        while heard != [.sync] { if let signal = await iterator.next() { heard.insert(signal) } }
        _ = try await writer.makeHook(team: try await writer.makeTeam())
        _ = try await writer.emit()
        heard = []
        while !heard.isSuperset(of: [.events, .deliveries]) { if let signal = await iterator.next() { heard.insert(signal) } }
        #expect(heard.isSuperset(of: [.events, .deliveries]))
    }

    @Test(.enabled(if: available, "needs a PostgreSQL server (HERALD_TEST_POSTGRES_URL); under CI, runs in its own step (HERALD_TEST_STORE_STEP=1)"))
    func aLiveClaimIsLeftAloneAndAnExpiredOneIsTakenByAnotherNode() async throws {
        let (dying, survivor) = try await Self.twoNodes(leaseMargin: 1)
        defer { dying.close(); survivor.close() }
        let hook = try await dying.makeHook(team: try await dying.makeTeam())
        let ping = try await dying.claimAll()  // the creation ping, in flight too
        _ = try await dying.emit()
        _ = try await dying.fanOut(limit: 100, now: Date())
        let claimed = try await dying.claimAll()
        #expect(claimed.count == 1)
        // While the lease runs (the hook's timeout and the margin), the other node neither recovers nor claims it.
        #expect(try await survivor.recoverInFlight(now: Date()) == 0)
        #expect(try await survivor.claimAll().isEmpty)
        // Past it, the other node sends it again.
        let later = Date().addingTimeInterval(Double(hook.timeoutSeconds) + 2)
        let again = try await survivor.claimAll(now: later)
        #expect(Set(again.map(\.deliveryID)) == Set((ping + claimed).map(\.deliveryID)))
    }
}
