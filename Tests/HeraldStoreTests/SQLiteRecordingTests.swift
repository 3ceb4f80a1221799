import Foundation
import GRDB
import HeraldCore
import Testing

@testable import HeraldSQLite

/// SQLite-specific: a row the database refuses for good is skipped alone.
@Suite struct SQLiteRecordingTests {
    @Test func aResultTheDatabaseRefusesIsSkippedAndTheOthersKept() async throws {
        let store = try #require(try await FullBackend.sqlite.make() as? SQLiteStore)
        // A constraint that refuses one attempt row, as a corrupt or oversized value would.
        try await store.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_poison BEFORE INSERT ON attempts WHEN NEW.url LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
        }
        let team = try await store.makeTeam()
        var settings = HookSettings(url: "http://127.0.0.1:9/poison")
        settings.events = ["*"]
        let poisoned = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: Data([1]), now: Date()).hook
        let healthy = try await store.makeHook(team: team)
        let claimed = try await store.claimAll()
        #expect(claimed.count == 2)
        let discarded = try await store.record(try claimed.map { try result(for: $0, status: 200) }, health: HookHealth())
        let poisonedDelivery = try #require(claimed.first { $0.hook.id == poisoned.id })
        #expect(discarded.map(\.deliveryID) == [poisonedDelivery.deliveryID])
        #expect(discarded.first?.reason.contains("poisoned row") == true)
        let healthyDelivery = try #require(claimed.first { $0.hook.id == healthy.id })
        #expect(try await store.delivery(id: healthyDelivery.deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.attempts(deliveryID: healthyDelivery.deliveryID).count == 1)
        // The refused one moves on without its attempt row: it neither stays in flight nor blocks its hook.
        #expect(try await store.delivery(id: poisonedDelivery.deliveryID)?.lifecycle.status == .succeeded)
        #expect(try await store.attempts(deliveryID: poisonedDelivery.deliveryID).isEmpty)
    }
}
