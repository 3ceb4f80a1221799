import AsyncHTTPClient
import Crypto
import Foundation
import HeraldCore
import HeraldPostgres
import HeraldSQLite
import HeraldServer
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

/// A real Herald (HTTP server + delivery engine + SQLite file in a temporary directory) on
/// 127.0.0.1, with a fast retry schedule, driven over HTTP.
struct HeraldHarness: Sendable {
    let baseURL: String
    let services: HeraldServices
    let adminToken: String
    var store: any HeraldStore { services.store }

    /// A fast schedule for tests: retries after 200 ms, twice.
    static let fastSchedule = RetrySchedule(delays: [.milliseconds(200), .milliseconds(200)], jitter: 0)

    static func run<T: Sendable>(
        configure: @Sendable (inout HeraldConfiguration) -> Void = { _ in },
        _ body: @Sendable (HeraldHarness) async throws -> T
    ) async throws -> T {
        var configuration = HeraldConfiguration()
        configuration.port = 0
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("herald-test-\(UUID().uuidString)")
        configuration.dataDirectory = temporary
        configuration.engine.allowPrivateTargets = true
        configuration.engine.retrySchedule = fastSchedule
        configuration.engine.idleInterval = .milliseconds(100)
        configuration.templatesDirectory = ExternalTools.packageRoot.appendingPathComponent("Templates")
        configuration.publicDirectory = ExternalTools.packageRoot.appendingPathComponent("Public")
        configuration.databasePoolSize = 4
        configure(&configuration)
        configuration.databaseURL = Self.postgresSchemaURL(for: configuration.dataDirectory)
        // A directory the test chose outlives the run (a restart test removes it itself).
        defer { try? FileManager.default.removeItem(at: temporary) }
        var logger = Logger(label: "herald-test")
        logger.logLevel = .warning
        let (store, secretBox) = try await openStore(configuration: configuration)
        // Many harnesses run at once: each holds few connections, and lets them go when it ends.
        defer { (store as? PostgresStore)?.close() }
        let (_, adminToken) = try await issueToken(store: store, scope: .admin, team: nil)
        let services = HeraldServices(store: store, secretBox: secretBox, configuration: configuration, logger: logger)
        return try await withRunningApplication(logger: logger) { onPort in
            try await buildApplication(services: services, logger: logger) { onPort($0) }
        } _: { port in
            try await body(HeraldHarness(baseURL: "http://127.0.0.1:\(port)", services: services, adminToken: adminToken))
        }
    }

    /// With `HERALD_TEST_STORE=postgres`, every harness runs on a schema of the PostgreSQL server
    /// `HERALD_TEST_POSTGRES_URL` names (`.ci/run` runs the server suites so once more), one per
    /// data directory: a test that restarts Herald on its directory finds its data again.
    static func postgresSchemaURL(for dataDirectory: URL) -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["HERALD_TEST_STORE"] == "postgres" else { return nil }
        guard let url = environment["HERALD_TEST_POSTGRES_URL"] else {
            fatalError("HERALD_TEST_STORE=postgres needs HERALD_TEST_POSTGRES_URL (.ci/postgres starts a server and prints it)")
        }
        let digest = SHA256.hash(data: Data(dataDirectory.standardizedFileURL.path.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
        return url + (url.contains("?") ? "&" : "?") + "schema=t_" + digest
    }

    static func issueToken(store: any HeraldStore, scope: TokenScope, team: Team?) async throws -> (APIToken, String) {
        try await store.issueToken(name: "test", scope: scope, teamID: team?.id)
    }

    /// Prepares an SQLite data directory before a `herald serve` process starts on it: team `bde`
    /// with a team token, a provider token, and the document databases named.
    static func prepareDataDirectory(_ directory: URL, databases: [String] = []) async throws -> (teamToken: String, providerToken: String) {
        let store = try SQLiteStore(directory: directory)
        let team = try await store.createTeam(name: "BDE", slug: "bde", now: Date())
        for database in databases { _ = try await store.createDocumentDatabase(database) }
        return (try await issueToken(store: store, scope: .team, team: team).1, try await issueToken(store: store, scope: .provider, team: nil).1)
    }

    var client: HeraldHarnessClient { HeraldHarnessClient(baseURL: baseURL) }

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, token: String?, body: String? = nil, headers: [String: String] = [:], deadline: Duration = .seconds(30)
    ) async throws -> APIResponse {
        try await client.call(method, path, token: token, body: body, headers: headers, deadline: deadline)
    }

    typealias APIResponse = HeraldHarnessClient.APIResponse

    // MARK: fixtures

    struct TeamAccess: Sendable {
        var team: Team
        var token: String
    }

    func makeTeam(_ slug: String) async throws -> TeamAccess {
        let team = try await store.createTeam(name: slug.uppercased(), slug: slug, now: Date())
        return TeamAccess(team: team, token: try await Self.issueToken(store: store, scope: .team, team: team).1)
    }

    func providerToken() async throws -> String {
        try await Self.issueToken(store: store, scope: .provider, team: nil).1
    }

    /// Creates a hook through the API; returns its id and secret.
    func makeHook(_ access: TeamAccess, _ fields: String) async throws -> (id: Int64, secret: String) {
        let response = try await call(.POST, "/api/hooks", token: access.token, body: fields)
        #expect(response.status == 201, "\(response.text)")
        return (response.json["id"]?.intValue ?? -1, response.json["secret"]?.stringValue ?? "")
    }

    func emit(_ token: String, _ body: String) async throws -> APIResponse {
        try await call(.POST, "/api/events", token: token, body: body)
    }
}

/// Polls `condition` until it holds or `timeout` passes; records an issue on timeout.
@discardableResult
func eventually(
    _ what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async throws -> Bool
) async throws -> Bool {
    try await eventuallyValue(what, timeout: timeout, sourceLocation: sourceLocation) { try await condition() ? true : nil } ?? false
}

/// The first non-nil value `produce` gives within `timeout`; records an issue and returns nil
/// when none came.
@discardableResult
func eventuallyValue<Value: Sendable>(
    _ what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
    _ produce: @Sendable () async throws -> Value?
) async throws -> Value? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await produce() { return value }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    return nil
}

/// Calls a Herald API over HTTP.
struct HeraldHarnessClient: Sendable {
    let baseURL: String

    struct APIResponse: Sendable {
        var status: Int
        var headers: [(String, String)]
        var text: String
        var json: JSONValue { (try? JSONValue(parsing: text)) ?? .null }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, token: String?, body: String? = nil, headers: [String: String] = [:], deadline: Duration = .seconds(30)
    ) async throws -> APIResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { request.headers.add(name: "Content-Type", value: "application/json") }
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(deadline.components.seconds) * 1_000_000_000))
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        return APIResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, text: text)
    }
}
