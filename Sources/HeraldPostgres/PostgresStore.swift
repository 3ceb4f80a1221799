import Foundation
import HeraldCore
import Logging
import PostgresNIO
import Synchronization

/// The store for many Herald nodes on one PostgreSQL database, through PostgresNIO's pooled
/// `PostgresClient`. The same protocols, and the same conformance suite, as the SQLite store; what
/// differs is how nodes share the work:
/// - `seq` is handed out by a counter row that each appending transaction holds locked until it
///   commits, so `seq` order is commit order: a reader that has seen `seq` N has seen every lower
///   one (a PostgreSQL sequence would let a later commit appear below a reader's cursor).
/// - claims lock each team for the claiming transaction (one claimer per team on all nodes, so
///   per-hook and per-team caps and an ordered hook's head hold across nodes) and read due rows
///   `FOR UPDATE SKIP LOCKED`; every claim carries a lease: deliveries in flight past their lease
///   belong to a node that died, and any node sends them again.
/// - fan-out, pruning and HTTP-Sync pages are done by one node at a time (advisory locks, and the
///   compare-and-set on each cursor).
/// - every change other nodes act on is announced with `NOTIFY`: see ``signals()``.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    /// The schema holding Herald's tables (`search_path` of every connection).
    public let schema: String
    let logger: Logger
    /// How long past a hook's timeout a claim stays with the node that made it.
    public let leaseMargin: TimeInterval
    private let running: Task<Void, Never>
    let hookIndex = HookIndexCache()
    let listener: PostgresListener

    /// Connects to `url` (`postgres://user:password@host:port/database`, optional query items
    /// `schema=` and `sslmode=disable|prefer|require`) and runs pending migrations, unless
    /// `migrate` is false (then a database whose schema is not current is refused). A database
    /// that cannot be reached within `connectTimeout` is an error, not a wait without end.
    public init(
        url: String, schema: String? = nil, maxConnections: Int = 20, leaseMargin: TimeInterval = 60, migrate: Bool = true,
        connectTimeout: Duration = .seconds(30), logger: Logger = Logger(label: "herald.postgres")
    ) async throws {
        let location = try PostgresLocation(url: url)
        let schema = schema ?? location.schema ?? "public"
        guard schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw StoreError.invalid("schema name \(schema) must be lower-case letters, digits and underscores")
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: location.tls
        )
        configuration.options.maximumConnections = maxConnections
        configuration.options.additionalStartupParameters = [("search_path", schema), ("application_name", "herald")]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.schema = schema
        self.logger = logger
        self.leaseMargin = leaseMargin
        // Queries wait for the pool to run; starting it first (and letting it start) keeps
        // PostgresNIO from warning that a lease came before `run()`.
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        running = Task {
            startedContinuation.finish()
            await client.run()
        }
        for await _ in started {}
        await Task.yield()
        listener = PostgresListener(configuration: configuration, channel: "herald_\(schema)", logger: logger)
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    if migrate {
                        try await PostgresMigrations.migrate(self)
                    } else {
                        try await PostgresMigrations.check(self)
                    }
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: connectTimeout)
                    return false
                }
                let reached = try await group.next() ?? false
                group.cancelAll()
                if !reached {
                    // Ends the pool, so the query waiting for a connection ends too.
                    self.close()
                    throw StoreError.invalid(
                        "cannot reach PostgreSQL at \(location.host):\(location.port) within \(connectTimeout.components.seconds) s; check the database URL and that the server accepts connections"
                    )
                }
            }
        } catch {
            close()
            throw error
        }
    }

    /// Ends the pool's connections and the listener.
    public func close() {
        listener.stop()
        running.cancel()
    }

    deinit { close() }

    /// Checks that this node seals secrets with the key the first node used: the first node stores
    /// a sealed sample, every later one must open it. Throws ``StoreError/invalid(_:)`` otherwise.
    public func checkMasterKey(seal: @Sendable (String) throws -> Data, open: @Sendable (Data) throws -> String) async throws {
        let sample = Self.masterKeySample
        let stored = try await write { db in
            try await db.run("INSERT INTO settings (key, value) VALUES ('master_key_check', \(try seal(sample))) ON CONFLICT (key) DO NOTHING")
            return try await db.value("SELECT value FROM settings WHERE key = 'master_key_check'", as: Data.self)
        }
        guard let stored, (try? open(stored)) == sample else {
            throw StoreError.invalid(
                "this node's master key is not the one the database's secrets are sealed with: give every node the same HERALD_MASTER_KEY"
            )
        }
    }

    /// Seals the master-key sample anew (a key rotation).
    public func resealMasterKeyCheck(seal: @Sendable (String) throws -> Data) async throws {
        let sealed = try seal(Self.masterKeySample)
        try await write { db in try await db.run("UPDATE settings SET value = \(sealed) WHERE key = 'master_key_check'") }
    }

    static let masterKeySample = "herald master key check"

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await read { db in try await PostgresMigrations.applied(db) }
    }

    /// Runs `body` on one pooled connection, outside any explicit transaction (each statement sees
    /// what was committed when it started).
    @discardableResult
    func read<T: Sendable>(_ body: (SQL) async throws -> T) async throws -> T {
        try await client.withConnection { connection in try await body(SQL(connection: connection, logger: logger)) }
    }

    /// Runs `body` in one transaction, committed when it returns and rolled back when it throws.
    @discardableResult
    func write<T: Sendable>(_ body: (SQL) async throws -> T) async throws -> T {
        let raised = RaisedSignals()
        let result: T
        do {
            result = try await client.withTransaction(logger: logger) { connection in
                try await body(SQL(connection: connection, logger: logger, raised: raised))
            }
        } catch let failure as PostgresTransactionError {
            // The body's own error (a conflict, a refused row) is the caller's to see as it was
            // thrown; a failed BEGIN or COMMIT is the database's, classified like any statement's.
            throw failure.closureError ?? DatabaseFailure(failure.beginError ?? failure.commitError) ?? failure
        }
        // Committed: this node's subscribers hear of it at once, the others through NOTIFY.
        for signal in raised.taken() { listener.hub.raise(signal) }
        return result
    }
}

extension PostgresStore: HeraldStore {}

/// One connection's statements, with rows read by column name.
struct SQL: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// The signals this transaction raises (``notify(_:)``), for this node once it commits.
    var raised: RaisedSignals? = nil

    func all(_ query: PostgresQuery) async throws -> [PGRow] {
        var rows: [PGRow] = []
        do {
            for try await row in try await connection.query(query, logger: logger) { rows.append(PGRow(row: row.makeRandomAccess())) }
        } catch let error as PSQLError {
            throw DatabaseFailure(error)
        }
        return rows
    }

    func one(_ query: PostgresQuery) async throws -> PGRow? {
        try await all(query).first
    }

    /// The first column of the first row, or nil when there is no row (or it is NULL).
    func value<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type = T.self) async throws -> T? {
        guard let row = try await one(query) else { return nil }
        let cell = row.raw[0]
        return cell.bytes == nil ? nil : try cell.decode(T.self)
    }

    /// Runs a statement; with `RETURNING`, returns how many rows it touched.
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        var count = 0
        do {
            for try await _ in try await connection.query(query, logger: logger) { count += 1 }
        } catch let error as PSQLError {
            throw DatabaseFailure(error)
        }
        return count
    }

    /// Tells other nodes (and this one) about a change, when this transaction commits.
    func notify(_ signal: StoreSignal) async throws {
        try await run("SELECT pg_notify('herald_' || current_schema(), \(signal.rawValue))")
        raised?.add(signal)
    }

    /// Tries a lock held until this transaction ends, named within this schema; false when another
    /// transaction holds it.
    func tryLock(_ name: String) async throws -> Bool {
        try await value("SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || \(name), 0))", as: Bool.self) ?? false
    }

    /// Waits for a lock held until this transaction ends, named within this schema.
    func lock(_ name: String) async throws {
        try await lock([name])
    }

    /// Waits for each lock in turn, in the order given (callers on every node give one order, so
    /// none waits in a cycle), in one round trip.
    func lock(_ names: [String]) async throws {
        guard !names.isEmpty else { return }
        try await run(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || name, 0)) FROM unnest(\(names)::text[]) WITH ORDINALITY AS l(name, i) ORDER BY i"
        )
    }
}

/// A row read by column name or position.
struct PGRow: Sendable {
    let raw: PostgresRandomAccessRow

    init(row: PostgresRandomAccessRow) { raw = row }

    func callAsFunction<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try raw[column].decode(T.self)
    }

    subscript<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) -> T {
        get throws { try raw[index].decode(T.self) }
    }

    func date(_ column: String) throws -> Date { Date(timeIntervalSince1970: try self(column, as: Double.self)) }
    func optionalDate(_ column: String) throws -> Date? { try self(column, as: Double?.self).map(Date.init(timeIntervalSince1970:)) }
    func stringArray(_ column: String) throws -> [String] { decodeStringArray(try self(column, as: String.self)) }
}

extension Date {
    var unixSeconds: Double { timeIntervalSince1970 }
}

/// A statement PostgreSQL refused (or a lost connection), with the server's SQLSTATE and message:
/// PostgresNIO's own error hides both from its description, so logs would say nothing useful.
/// The statement's parameters are left out (they may hold secrets).
struct DatabaseFailure: Error, CustomStringConvertible {
    let sqlState: String?
    let description: String
    /// The connection broke (or the pool closed) rather than the server refusing the statement.
    let connectionLost: Bool

    /// The failure a PostgreSQL client error stands for; nil for another error.
    init?(_ error: (any Error)?) {
        guard let error = error as? PSQLError else { return nil }
        self.init(error)
    }

    init(_ error: PSQLError) {
        sqlState = error.serverInfo?[.sqlState]
        connectionLost = [.serverClosedConnection, .clientClosedConnection, .connectionError, .poolClosed].contains(error.code)
        if let info = error.serverInfo {
            description = "PostgreSQL \(info[.sqlState] ?? "?"): \(info[.message] ?? "")" + (info[.detail].map { " (\($0))" } ?? "")
        } else {
            description = "PostgreSQL connection: \(error.code)"
        }
    }
}

extension DatabaseFailure: StoreConditionReporting {
    var storeCondition: StoreCondition? {
        guard let sqlState else { return connectionLost ? .unreachable : nil }  // else a client-side bug: a 500
        switch sqlState {
        case "53100": return .full  // disk_full
        case "53000", "53200", "53300", "57P03", "40001", "40P01", "55P03": return .busy  // resources, starting up, conflicts
        default: return nil
        }
    }
}

extension Error {
    /// PostgreSQL's SQLSTATE for the error, when the server sent one.
    var sqlState: String? { (self as? DatabaseFailure)?.sqlState ?? (self as? PSQLError)?.serverInfo?[.sqlState] }
    var isUniqueViolation: Bool { sqlState == "23505" }
}

/// Where a `postgres://` URL points.
struct PostgresLocation {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String?
    var schema: String?
    var tls: PostgresClient.Configuration.TLS

    init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else { throw StoreError.invalid("a PostgreSQL URL looks like postgres://user:password@host:5432/database") }
        self.host = host
        port = components.port ?? 5432
        user = components.user ?? "postgres"
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        let items = components.queryItems ?? []
        schema = items.first(where: { $0.name == "schema" })?.value
        switch items.first(where: { $0.name == "sslmode" })?.value ?? "disable" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw StoreError.invalid("sslmode \(other) is not one of disable, prefer, require")
        }
    }
}

/// The signals one transaction raised.
final class RaisedSignals: Sendable {
    private let signals = Mutex<Set<StoreSignal>>([])
    func add(_ signal: StoreSignal) { _ = signals.withLock { $0.insert(signal) } }
    func taken() -> Set<StoreSignal> { signals.withLock { $0 } }
}
