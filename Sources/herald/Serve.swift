import ArgumentParser
import Foundation
import HeraldCore
import HeraldDelivery
import HeraldPostgres
import HeraldSQLite
import HeraldServer
import Hummingbird
import HummingbirdBcrypt
import Logging
import OTel
import Tracing
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the API server and the delivery engine (the default command).")

    @OptionGroup var dataDirectory: DataDirectoryOption

    @Option(
        help: ArgumentHelp(
            "A JSON file of serve's settings (env HERALD_SETTINGS): keys are the options' names (\"max_in_flight\": 64). Every option may also come from HERALD_<NAME> (HERALD_MAX_IN_FLIGHT=64); the command line wins over the environment, the environment over the file.",
            valueName: "file"
        )
    )
    var settings: String?

    @Option(help: "Address to listen on (env HERALD_HOST).")
    var host: String = ProcessInfo.processInfo.environment["HERALD_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (env HERALD_PORT; default 8080).")
    var port: Int?

    @Option(help: "The URL clients reach this server at (https://herald.example.org), for links in API answers and Secure cookies behind TLS (env HERALD_PUBLIC_URL).")
    var publicURL: String = ProcessInfo.processInfo.environment["HERALD_PUBLIC_URL"] ?? ""

    @Flag(help: "Allow hooks to target loopback and private addresses (local development and tests only).")
    var allowPrivateTargets = false

    @Option(help: "A network (CIDR, e.g. 10.8.0.0/16 or fd00::/8) whose non-public addresses hooks may target; repeatable. Narrower than --allow-private-targets.")
    var allowTarget: [String] = []

    @Option(help: "Send every outgoing request (deliveries, HTTP Sync pages, OAuth2 token requests) through this proxy: http://[user:password@]host:port or socks5://host:port, so receivers see one address to allow.")
    var egressProxy: String?

    @Option(help: "An origin (https://crm.example.org) whose pages may frame the webhook pages a portal link opens; repeatable or comma-separated. No other page of Herald's can be framed.")
    var portalFrameAncestor: [String] = []

    @Option(help: "Export OpenTelemetry traces (OTLP/HTTP) to this collector, e.g. http://127.0.0.1:4318: spans for each event's ingest, commit, fan-out and attempts, continuing the provider's traceparent and sending one to receivers. Also on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_* variables tune the exporter.")
    var otlpEndpoint: String?

    @Option(help: "A reverse proxy's network (CIDR); requests from it are taken from the client X-Forwarded-For names, for the limits per address; repeatable.")
    var trustedProxy: [String] = []

    @Option(help: "The email of the administrator created on the first start (env HERALD_ADMIN_EMAIL; default admin@herald.local).")
    var adminEmail: String = ProcessInfo.processInfo.environment["HERALD_ADMIN_EMAIL"] ?? "admin@herald.local"

    @Option(help: "Retry delays after a failed attempt, comma-separated with units ms/s/m/h (default 5s,5m,30m,2h,5h,10h,10h).")
    var retrySchedule: String?

    @Option(help: "How long a hook may fail without a single success before it is disabled, with a unit m or h (default 120h); a hook may set its own.")
    var disableAfter: String?

    @Option(help: "Failed attempts in a row after which a hook's circuit breaker opens: its deliveries wait, then one probe decides (0 turns the breaker off).")
    var breakerFailures: Int = 10

    @Option(help: "How long an opened circuit breaker holds a hook's deliveries before its probe, with a unit s, m or h; doubled after each failed probe, up to 10 minutes or this, if longer.")
    var breakerCooldown: String = "30s"

    @Option(help: "Most delivery attempts in flight at once, across all hooks.")
    var maxInFlight: Int = 256

    @Option(help: "Most delivery attempts in flight at once for one unordered hook.")
    var maxInFlightPerHook: Int = 32

    @Option(help: "Most delivery attempts in flight at once across one team's hooks, so one team's slow receivers leave slots for the others.")
    var maxInFlightPerTeam: Int = 128

    @Option(help: "Long-lived changes feeds (longpoll, continuous, eventsource) one API token may hold open at once.")
    var maxFeedsPerToken: Int = 20

    @Option(help: "Long-lived changes feeds one team's tokens may hold open at once, together.")
    var maxFeedsPerTeam: Int = 50

    @Option(help: "API tokens one team may have; one more is refused (422).")
    var maxTokensPerTeam: Int = 50

    @Option(help: "Requests a second one team's tokens may make together on average, in bursts of twice that (default: twice --requests-per-token; 0: unlimited).")
    var requestsPerTeam: Double?

    @Option(help: "Accepted work not yet done (pending deliveries and events not yet fanned out) past which document writes wait their database's wait_for_process, then get 503 with Retry-After.")
    var maxBacklog: Int = 100_000

    @Option(help: "The most of --max-backlog one team's due and in-flight deliveries may take (default: a quarter of it); past it the team's replays pause, and nobody else's writes are refused for it.")
    var maxBacklogPerTeam: Int?

    @Option(help: "Replays one team may run at once; one more is refused with 429.")
    var maxReplaysPerTeam: Int = 3

    @Option(help: "Free disk space (MiB) under which writes are refused with 503, like a full backlog.")
    var minFreeDiskMb: Int64 = 256

    @Option(help: "Days the delivery log keeps finished deliveries, attempt bodies and the events nothing refers to any more (documents are kept).")
    var retentionDays: Double = 30

    @Option(help: "Directory of the web UI's Mustache pages (env HERALD_TEMPLATES_DIR).")
    var templatesDir: String = ProcessInfo.processInfo.environment["HERALD_TEMPLATES_DIR"] ?? "Templates"

    @Option(help: "Directory of the web UI's CSS and JavaScript (env HERALD_PUBLIC_DIR).")
    var publicDir: String = ProcessInfo.processInfo.environment["HERALD_PUBLIC_DIR"] ?? "Public"

    @Option(help: "A Couchbase Sync Gateway config file: its databases are created and its event_handlers webhooks become hooks managed by the file.")
    var config: String?

    @Option(help: "Log keys, comma-separated, as in Sync Gateway: Event (event handling) or Events+ (more detail).")
    var log: String?

    @Option(help: "What this node does: all (API and delivery engine), api (API and web UI only) or worker (the delivery engine) (env HERALD_ROLE).")
    var role: String = ProcessInfo.processInfo.environment["HERALD_ROLE"] ?? "all"

    @Option(help: "Most connections this node opens to PostgreSQL (with --database).")
    var databasePoolSize: Int = 20

    @Option(help: "Seconds a start waits to reach PostgreSQL (with --database) before it fails.")
    var databaseConnectTimeoutSeconds: Int = 30

    @Option(help: "SQLite: seconds a write waits for a lock another program holds on the database file before the request is answered 503.")
    var databaseBusyTimeoutSeconds: Double = 10

    @Option(help: "With --database: seconds past a hook's timeout that a claimed delivery stays with its node; then another node sends it, taking its node for dead.")
    var claimLeaseMargin: Double = 60

    @Option(help: "Seconds a client connection may send nothing (no request, or a stalled request head or body) before it is closed.")
    var idleTimeoutSeconds: Int = 60

    @Option(help: "Most client connections open at once; more are closed as soon as they are accepted.")
    var maxConnections: Int = 2048

    @Option(help: "Most connections one client address may hold open at once (0: no limit); a --trusted-proxy is not held to it.")
    var maxConnectionsPerClient: Int = 256

    @Option(help: "Seconds a request's head and body may take to arrive; after the first 10 s its body must also arrive at 1 KiB/s or more.")
    var requestDeadlineSeconds: Int = 60

    @Option(
        help: "Seconds a graceful stop (SIGTERM, SIGINT) gives the delivery attempts in flight; past that they are cut and sent again at the next start."
    )
    var stopGraceSeconds: Int = 5

    @Option(help: "Requests a second one API token may make on average, in bursts of twice that; more get 429 with Retry-After. 0: unlimited.")
    var requestsPerToken: Double = 1000

    @Option(help: "Hooks one team may have.")
    var maxHooksPerTeam: Int = 100

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["HERALD_LOG_LEVEL"] ?? "info"

    func run() async throws {
        var logger = Logger(label: "herald")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var configuration = HeraldConfiguration()
        configuration.host = host
        configuration.port = try port ?? Self.environmentPort()
        guard (0...65_535).contains(configuration.port) else { throw ValidationError("--port must be between 0 and 65535") }
        if !publicURL.isEmpty {
            guard let components = URLComponents(string: publicURL), ["http", "https"].contains(components.scheme ?? ""), components.host?.isEmpty == false else {
                throw ValidationError("--public-url must be an absolute http or https URL, such as https://herald.example.org")
            }
            configuration.publicBaseURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        }
        dataDirectory.apply(to: &configuration)
        guard let nodeRole = NodeRole(rawValue: role) else { throw ValidationError("--role must be one of all, api, worker") }
        configuration.role = nodeRole
        guard databasePoolSize >= 2 else { throw ValidationError("--database-pool-size must be at least 2") }
        configuration.databasePoolSize = databasePoolSize
        guard claimLeaseMargin >= 1 else { throw ValidationError("--claim-lease-margin must be at least 1 second") }
        configuration.claimLeaseMargin = claimLeaseMargin
        // Other nodes' work arrives by NOTIFY: an idle node looks on its own only now and then.
        if configuration.databaseURL != nil { configuration.engine.idleInterval = .seconds(15) }
        configuration.templatesDirectory = WebDirectories.resolve(templatesDir)
        configuration.publicDirectory = WebDirectories.resolve(publicDir)
        configuration.engine.allowPrivateTargets = allowPrivateTargets || ProcessInfo.processInfo.environment["HERALD_ALLOW_PRIVATE_TARGETS"] == "1"
        configuration.engine.allowedTargets = try allowTarget.map { cidr in
            guard let network = IPNetwork(cidr) else { throw ValidationError("--allow-target \(cidr) is not a network like 10.8.0.0/16 or fd00::/8") }
            return network
        }
        if let egressProxy {
            guard let proxy = EgressProxy(url: egressProxy) else {
                throw ValidationError("--egress-proxy must be http://[user:password@]host:port or socks5://host:port")
            }
            configuration.engine.egressProxy = proxy
        }
        configuration.portalFrameAncestors = try portalFrameAncestor.flatMap { $0.split(separator: ",").map(String.init) }.map { given in
            guard let origin = PortalLink.frameOrigin(given) else {
                throw ValidationError("--portal-frame-ancestor \(given) is not an origin like https://crm.example.org or http://127.0.0.1:3000")
            }
            return origin
        }
        configuration.trustedProxies = try trustedProxy.map { cidr in
            guard let network = IPNetwork(cidr) else { throw ValidationError("--trusted-proxy \(cidr) is not a network like 10.0.0.0/8 or 127.0.0.1") }
            return network
        }
        guard adminEmail.contains("@"), !adminEmail.contains(where: \.isWhitespace) else { throw ValidationError("--admin-email \(adminEmail) is not an email address") }
        configuration.engine.maxInFlight = maxInFlight
        configuration.engine.maxInFlightPerHook = maxInFlightPerHook
        configuration.engine.maxInFlightPerTeam = maxInFlightPerTeam
        configuration.maxFeedsPerToken = maxFeedsPerToken
        guard maxFeedsPerTeam >= 1, maxTokensPerTeam >= 1, (requestsPerTeam ?? 0) >= 0 else {
            throw ValidationError("--max-feeds-per-team and --max-tokens-per-team must be at least 1, --requests-per-team 0 or more")
        }
        configuration.maxFeedsPerTeam = maxFeedsPerTeam
        configuration.maxTokensPerTeam = maxTokensPerTeam
        configuration.requestsPerTeam = requestsPerTeam
        guard idleTimeoutSeconds >= 1, maxConnections >= 1 else { throw ValidationError("--idle-timeout-seconds and --max-connections must be at least 1") }
        configuration.idleTimeout = .seconds(idleTimeoutSeconds)
        guard databaseConnectTimeoutSeconds >= 1 else { throw ValidationError("--database-connect-timeout-seconds must be at least 1") }
        configuration.databaseConnectTimeout = .seconds(databaseConnectTimeoutSeconds)
        guard databaseBusyTimeoutSeconds > 0 else { throw ValidationError("--database-busy-timeout-seconds must be more than 0") }
        configuration.databaseBusyTimeout = .milliseconds(Int64(databaseBusyTimeoutSeconds * 1000))
        guard requestsPerToken >= 0, maxHooksPerTeam >= 1 else { throw ValidationError("--requests-per-token must be 0 or more and --max-hooks-per-team at least 1") }
        configuration.requestsPerToken = requestsPerToken
        configuration.maxHooksPerTeam = maxHooksPerTeam
        configuration.maxConnections = maxConnections
        configuration.maxBacklog = maxBacklog
        guard (maxBacklogPerTeam ?? 1) >= 1, maxReplaysPerTeam >= 1 else { throw ValidationError("--max-backlog-per-team and --max-replays-per-team must be at least 1") }
        configuration.maxBacklogPerTeam = maxBacklogPerTeam
        configuration.maxReplaysPerTeam = maxReplaysPerTeam
        guard maxConnectionsPerClient >= 0, requestDeadlineSeconds >= 1 else {
            throw ValidationError("--max-connections-per-client must be 0 or more and --request-deadline-seconds at least 1")
        }
        configuration.maxConnectionsPerClient = maxConnectionsPerClient
        configuration.requestDeadline = .seconds(requestDeadlineSeconds)
        guard (0...300).contains(stopGraceSeconds) else { throw ValidationError("--stop-grace-seconds must be between 0 and 300") }
        configuration.engine.stopGrace = .seconds(stopGraceSeconds)
        configuration.minimumFreeDiskBytes = minFreeDiskMb * 1_048_576
        guard retentionDays > 0 else { throw ValidationError("--retention-days must be more than 0") }
        configuration.engine.retention = .seconds(retentionDays * 86_400)
        var logKeys = log.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        if let config {
            let text: String
            do { text = try String(contentsOfFile: config, encoding: .utf8) } catch { throw ValidationError("cannot read --config \(config): \(error.localizedDescription)") }
            do {
                configuration.syncGateway = try SyncGatewayConfig(text: text)
            } catch {
                throw ValidationError("\(config): \(error)")
            }
            logKeys += configuration.syncGateway?.logKeys ?? []
        }
        configuration.engine.eventLogLevel = DeliveryEngineConfiguration.eventLogLevel(forLogKeys: logKeys)
        if let retrySchedule {
            guard let schedule = RetrySchedule(parsing: retrySchedule) else {
                throw ValidationError("--retry-schedule must look like 5s,5m,30m (units ms, s, m, h)")
            }
            configuration.engine.retrySchedule = schedule
        }
        if let disableAfter {
            guard let window = RetrySchedule.duration(parsing: disableAfter), window >= .seconds(60) else {
                throw ValidationError("--disable-after must be a duration of at least a minute, as 72h or 90m")
            }
            configuration.engine.hookHealth.disableAfter = window
        }
        guard breakerFailures >= 0, let cooldown = RetrySchedule.duration(parsing: breakerCooldown), cooldown >= .seconds(1) else {
            throw ValidationError("--breaker-failures must be 0 or more and --breaker-cooldown a duration of at least a second, as 30s or 5m")
        }
        configuration.engine.hookHealth.breaker = CircuitBreaker(
            failures: breakerFailures, cooldown: cooldown, maxCooldown: max(cooldown, .seconds(600))
        )
        let observability = try Self.bootstrapTracing(endpoint: otlpEndpoint)
        let (store, secretBox) = try await openStore(configuration: configuration, logger: logger)
        try await Self.welcomeOnFirstStart(store, adminEmail: adminEmail.lowercased())
        let services = HeraldServices(store: store, secretBox: secretBox, configuration: configuration, logger: logger)
        let (readyLogger, host, egress) = (logger, configuration.host, configuration.engine.egressProxy)
        let storeDescription = configuration.databaseURL.map(Self.redacted) ?? configuration.dataDirectory.path
        let app = try await buildApplication(services: services, logger: logger, observability: observability) { port in
            var metadata: Logger.Metadata = ["url": "http://\(host):\(port)", "data": "\(storeDescription)", "role": "\(nodeRole.rawValue)"]
            if let egress { metadata["egress_proxy"] = "\(egress)" }
            readyLogger.notice("Herald is listening", metadata: metadata)
        }
        try await app.runService()
    }
}

extension Serve {
    /// Starts exporting traces when a collector is named (`--otlp-endpoint`, or OpenTelemetry's own
    /// variables); answers the exporter's service, to run beside the server. Nothing otherwise.
    static func bootstrapTracing(endpoint: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [any Service] {
        // OTEL_SDK_DISABLED=true turns it off, as OpenTelemetry's SDKs read it.
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return [] }
        let named = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { !(environment[$0] ?? "").isEmpty }
        guard endpoint != nil || named else { return [] }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "herald"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        if let endpoint {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("--otlp-endpoint must be a collector's URL, as http://127.0.0.1:4318")
            }
            // A collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: traces go to its /v1/traces.
            configuration.traces.otlpExporter.endpoint = endpoint.hasSuffix("/v1/traces")
                ? endpoint : endpoint.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/traces"
        }
        // Traces only: Herald's metrics stay Prometheus's and its logs its own, whatever OTEL_* says.
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        EventTracing.enable()
        return [backend.service]
    }

    /// `HERALD_PORT`, refused when it is set but is not a port (it used to mean 8080 silently).
    static func environmentPort(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int {
        guard let text = environment["HERALD_PORT"], !text.isEmpty else { return 8080 }
        guard let port = Int(text), (0...65_535).contains(port) else { throw ValidationError("HERALD_PORT=\(text) is not a port (0–65535)") }
        return port
    }

    /// The database URL without its password, for logs.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// On a fresh data directory: an administrator for the web UI and an admin API token, each
    /// shown once.
    static func welcomeOnFirstStart(_ store: some HeraldStore, adminEmail: String) async throws {
        var notice = ""
        if try await store.users(teamID: nil).isEmpty {
            let password = String(Session.randomToken().prefix(20))
            do {
                _ = try await store.createUser(email: adminEmail, passwordHash: Bcrypt.hash(password), role: .admin, teamID: nil, now: Date())
                notice += "First start: sign in to the web UI (/login) as \(adminEmail) with password\n\n    \(password)\n\n"
            } catch StoreError.conflict {
                // Another node on the same database, starting at the same moment, made it.
            }
        }
        if try await store.tokens(teamID: nil).isEmpty {
            let (_, secret) = try await store.issueToken(name: "first admin", scope: .admin, teamID: nil)
            notice += "An admin API token was created:\n\n    \(secret)\n\n"
        }
        if !notice.isEmpty { FileHandle.standardOutput.write(Data((notice + "Both are shown once; keep them safe.\n\n").utf8)) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the database schema, then exit. Running it again changes nothing; a database a newer Herald has migrated is refused."
    )

    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() async throws {
        var configuration = HeraldConfiguration()
        dataDirectory.apply(to: &configuration)
        let applied: [String]
        do {
            if let url = configuration.databaseURL {
                let store = try await PostgresStore(url: url, maxConnections: 2)
                defer { store.close() }
                applied = try await store.appliedMigrations()
            } else {
                try prepareDataDirectory(configuration.dataDirectory)
                applied = try SQLiteStore(directory: configuration.dataDirectory).appliedMigrations()
            }
        } catch let error as StoreError {
            throw ValidationError("\(error)")
        }
        print("Schema is current: \(applied.joined(separator: ", "))")
    }
}
