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
            // Released while a write waits: that write goes through, answered after the release.
            let waiting = Task {
                let sent = ContinuousClock.now
                return (sent, try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"waited"}}"#), ContinuousClock.now)
            }
            try await Task.sleep(for: .milliseconds(300))
            try await outside.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
            let released = ContinuousClock.now
            let (sent, waited, answered) = try await waiting.value
            #expect(waited.status == 202, "\(waited.text)")
            #expect(sent < released && answered > released, "the write was sent before the lock was released and answered after it")
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

/// The data directory's disk fills up: a small tmpfs the test mounts (it needs root). Writes are
/// answered 507 with nothing half-stored, and once space returns every accepted event is delivered
/// from an intact database.
@Suite struct DiskFullTests {
    static let mount = ["/usr/bin/mount", "/bin/mount"].first(where: FileManager.default.isExecutableFile(atPath:))
    static let umount = ["/usr/bin/umount", "/bin/umount"].first(where: FileManager.default.isExecutableFile(atPath:))
    static var canMount: Bool { getuid() == 0 && mount != nil && umount != nil }

    /// Fills the file system holding `directory` to the last byte; returns the filler.
    static func fill(_ directory: URL) throws -> URL {
        let filler = directory.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        defer { try? handle.close() }
        for size in [1 << 20, 4096, 512, 1] {
            let chunk = Data(repeating: 0xAB, count: size)
            while (try? handle.write(contentsOf: chunk)) != nil {}
        }
        return filler
    }

    @Test(
        .enabled(if: DatabaseBusyTests.onSQLite, "fills the SQLite file's disk; this run's Herald uses PostgreSQL"),
        .enabled(if: ExternalTools.runs(needing: canMount), "needs root to mount a small tmpfs"), .timeLimit(.minutes(2))
    )
    func aFullDiskRefusesWritesWith507AndEverythingAcceptedIsDeliveredOnceSpaceReturns() async throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("herald-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let mounted = try await ExternalTools.run(try #require(Self.mount), ["-t", "tmpfs", "-o", "size=32m", "tmpfs", mountPoint.path])
        try #require(mounted.status == 0, "mount: \(mounted.output)")
        defer {
            _ = try? ExternalTools.runBlocking(Self.umount!, ["-l", mountPoint.path])
            try? FileManager.default.removeItem(at: mountPoint)
        }
        let dataDirectory = mountPoint.appendingPathComponent("data")
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.dataDirectory = dataDirectory
                configuration.minimumFreeDiskBytes = 0  // the disk really fills: SQLite itself meets the end of it
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                let provider = try await herald.providerToken()
                let padding = String(repeating: "p", count: 8 * 1024)
                @Sendable func lead(_ id: String) -> String { #"{"type":"lead.created","data":{"lead_id":"\#(id)","note":"\#(padding)"}}"# }
                #expect(try await herald.emit(provider, lead("before")).status == 202)
                @Sendable func refusals() async throws -> Double {
                    MetricsTests.value(of: #"herald_writes_refused_total{kind="events"}"#, in: try await herald.call(.GET, "/metrics", token: nil).text)
                }
                let refusedBefore = try await refusals()
                let filler = try Self.fill(mountPoint)
                var accepted = ["before"]
                var refusal: HeraldHarnessClient.APIResponse?
                for index in 0..<2_000 where refusal == nil {
                    let answer = try await herald.emit(provider, lead("full\(index)"))
                    switch answer.status {
                    case 202: accepted.append("full\(index)")
                    default: refusal = answer
                    }
                }
                let refused = try #require(refusal, "2,000 events of 8 KiB fitted on a full disk")
                #expect(refused.status == 507, "\(refused.text)")
                #expect(refused.json["type"]?.stringValue == "/problems/storage-full")
                #expect(refused.header("Retry-After") != nil)
                // Counted with the other refused writes.
                #expect(try await refusals() > refusedBefore)
                let ready = try await herald.call(.GET, "/readyz", token: nil)
                #expect(ready.status == 503, "\(ready.text)")
                #expect(ready.json["reasons"]?.arrayValue?.contains { $0.stringValue?.contains("full") == true } == true, "\(ready.text)")

                // Space returns: writes are taken again and everything accepted is delivered.
                try FileManager.default.removeItem(at: filler)
                try await eventuallyValue("writes are taken again") {
                    try await herald.emit(provider, lead("after")).status == 202 ? true : nil
                }
                accepted.append("after")
                let expected = accepted
                try await eventually("every accepted event is delivered", timeout: .seconds(60)) {
                    let delivered = Set(receiver.received.compactMap { try? JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue })
                    return delivered.isSuperset(of: expected)
                }
                let feed = try await herald.call(.GET, "/api/events?since=0", token: provider)
                let logged = feed.json["results"]?.arrayValue?.compactMap { $0["data"]?["lead_id"]?.stringValue } ?? []
                #expect(logged == accepted, "the log holds exactly the accepted events, in order")
            }
        }
        // The database is intact after all that.
        var readOnly = Configuration()
        readOnly.readonly = true
        let check = try DatabaseQueue(path: dataDirectory.appendingPathComponent("herald.sqlite").path, configuration: readOnly)
        #expect(try await check.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") } == ["ok"])
    }
}
