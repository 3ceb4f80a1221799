import Foundation
import GRDB
import HeraldCore
import Synchronization

/// The embedded store: one SQLite file in WAL mode, through a GRDB `DatabasePool`.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    /// The active hooks indexed for fan-out and claims, with the `hooks_version` it was built at.
    let hookIndex = HookIndexCache()
    /// What committed transactions changed, for the engine and the changes feeds (``StoreSignals``).
    let signalHub = SignalHub()

    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    /// - Parameter busyTimeout: how long a write waits for a lock another process holds on the
    ///   file before it fails (and the request is answered 503).
    public init(path: String, busyTimeout: Duration = .seconds(10)) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(Double(busyTimeout.components.seconds) + Double(busyTimeout.components.attoseconds) / 1e18)
        configuration.prepareDatabase { db in
            // WAL with synchronous=FULL: a commit is on disk before the API answers.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A 16 MiB page cache (SQLite's default is 2 MiB) keeps the hot ends of a large log's
            // indexes in memory.
            try db.execute(sql: "PRAGMA cache_size = -16384")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteMigrations.migrator.migrate(pool)
    }

    /// Opens `<directory>/herald.sqlite`, creating the directory if needed.
    public convenience init(directory: URL, busyTimeout: Duration = .seconds(10)) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try self.init(path: directory.appendingPathComponent("herald.sqlite").path, busyTimeout: busyTimeout)
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try SQLiteMigrations.migrator.appliedMigrations(db) }
    }
}

extension Date {
    var unixSeconds: Double { timeIntervalSince1970 }
    init(unixSeconds: Double) { self.init(timeIntervalSince1970: unixSeconds) }
}

extension Row {
    func date(_ column: String) -> Date { Date(unixSeconds: self[column]) }
    func optionalDate(_ column: String) -> Date? { (self[column] as Double?).map(Date.init(unixSeconds:)) }
    func bool(_ column: String) -> Bool { (self[column] as Int64) != 0 }
    func stringArray(_ column: String) -> [String] { decodeStringArray(self[column]) }
}

extension DatabaseError {
    var isUniqueViolation: Bool { extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY }

    /// Whether trying the same statement again cannot succeed (a broken constraint, a value too
    /// large), as opposed to a busy or full database that may recover.
    var isPermanent: Bool { [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE].contains(resultCode) }
}

extension DatabaseError: StoreConditionReporting {
    public var storeCondition: StoreCondition? {
        switch resultCode {
        case .SQLITE_FULL: .full
        case .SQLITE_BUSY, .SQLITE_LOCKED: .busy
        default: nil
        }
    }
}

extension SQLiteStore: HeraldStore {}

extension SQLiteStore: StoreSignals {
    public func signals() async -> AsyncStream<StoreSignal> { signalHub.subscribe() }

    /// Raises `signal` once the transaction of `db` commits (never when it rolls back).
    func raise(_ signal: StoreSignal, in db: Database) {
        db.afterNextTransaction(onCommit: { [signalHub] _ in signalHub.raise(signal) })
    }
}

extension SQLiteStore {
    /// The active hooks as of this transaction (``HookIndexCache``).
    func activeHooks(_ db: Database) throws -> ActiveHooks {
        let version = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'hooks_version'")) ?? 0
        return try hookIndex.activeHooks(at: version) {
            (
                hooks: try Row.fetchAll(db, sql: "SELECT * FROM hooks WHERE active = 1").map(Self.hook),
                teams: try Row.fetchAll(db, sql: "SELECT * FROM teams WHERE id IN (SELECT DISTINCT team_id FROM hooks WHERE active = 1)").map(Self.team)
            )
        }
    }

    /// Call in every transaction that changes what fan-out or claims read of hooks (settings,
    /// keys, `active`) or a team's channels.
    static func hooksChanged(_ db: Database) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('hooks_version', random()) ON CONFLICT(key) DO UPDATE SET value = random()")
    }
}
