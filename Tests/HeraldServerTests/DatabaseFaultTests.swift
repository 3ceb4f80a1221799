import Foundation
import GRDB
import HeraldCore
import Testing

/// The SQLite file locked by another program (a backup tool, an operator's `sqlite3` shell): a write
/// waits for the lock, and past the wait is answered 503 with nothing of it stored.
@Suite struct DatabaseBusyTests {
    static var onSQLite: Bool { ProcessInfo.processInfo.environment["HERALD_TEST_STORE"] != "postgres" }

    @Test(.enabled(if: onSQLite, "locks a SQLite file; this run's Herald uses PostgreSQL"), .timeLimit(.minutes(1)))
    func aWriteWaitsForAnOutsideLockAndPastTheWaitIsRefusedWithNothingStored() async throws {
        try await HeraldHarness.run { configuration in
            configuration.databaseBusyTimeout = .seconds(1)
        } _: { herald in
            let provider = try await herald.providerToken()
            let path = herald.services.configuration.dataDirectory.appendingPathComponent("herald.sqlite").path
            var outsideConfiguration = Configuration()
            outsideConfiguration.allowsUnsafeTransactions = true  // it holds its lock between calls, as a shell would
            outsideConfiguration.busyMode = .timeout(10)
            let outside = try DatabaseQueue(path: path, configuration: outsideConfiguration)
            // Another program takes the write lock and keeps it past Herald's wait.
            try await outside.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
            let refused = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"refused"}}"#)
            #expect(refused.status == 503, "\(refused.text)")
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.header("Content-Type") == "application/problem+json")
            #expect(refused.json["type"]?.stringValue == "/problems/database-busy")
            // Released soon after a write began waiting: that write goes through.
            let waiting = Task { try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"waited"}}"#) }
            try await Task.sleep(for: .milliseconds(200))
            try await outside.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
            let waited = try await waiting.value
            #expect(waited.status == 202, "\(waited.text)")
            // An outside reader in a long read transaction does not stop writes (WAL).
            try await outside.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN")
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM events")
            }
            let beside = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"beside"}}"#)
            #expect(beside.status == 202, "\(beside.text)")
            try await outside.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
            // Only the accepted events are in the log.
            let feed = try await herald.call(.GET, "/api/events?since=0", token: provider)
            let leads = feed.json["results"]?.arrayValue?.compactMap { $0["data"]?["lead_id"]?.stringValue }
            #expect(leads == ["waited", "beside"])
        }
    }
}
