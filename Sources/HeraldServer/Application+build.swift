import Foundation
import HeraldDelivery
import HeraldCore
import HeraldPostgres
import HeraldSQLite
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Opens the configured store (the embedded SQLite file, or PostgreSQL), seeding the catalog on
/// first start, and the master key that seals hook secrets.
public func openStore(configuration: HeraldConfiguration, logger: Logger = Logger(label: "herald")) async throws -> (any HeraldStore, SecretBox) {
    try prepareDataDirectory(configuration.dataDirectory, sqlite: configuration.databaseURL == nil)
    let secretBox = try SecretBox.load(dataDirectory: configuration.dataDirectory)
    let store: any HeraldStore
    if let url = configuration.databaseURL {
        let postgres = try await PostgresStore(
            url: url, maxConnections: configuration.databasePoolSize, leaseMargin: configuration.claimLeaseMargin,
            connectTimeout: configuration.databaseConnectTimeout, logger: logger
        )
        // Every node must seal and open secrets with one key: a node started with another is refused.
        try await postgres.checkMasterKey(seal: { try secretBox.seal($0) }, open: { try secretBox.open($0) })
        store = postgres
    } else {
        store = try SQLiteStore(directory: configuration.dataDirectory, busyTimeout: configuration.databaseBusyTimeout)
    }
    try await store.seedEventTypes(EventType.seedCatalog)
    return (store, secretBox)
}

/// Creates the data directory if needed, readable by its owner only (0700), and the SQLite file in
/// it likewise (0600) before SQLite opens it: its journal files take the same mode.
public func prepareDataDirectory(_ directory: URL, sqlite: Bool = true) throws {
    let manager = FileManager.default
    try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
    guard sqlite else { return }
    let database = directory.appendingPathComponent("herald.sqlite").path
    if !manager.fileExists(atPath: database) { _ = manager.createFile(atPath: database, contents: nil, attributes: [.posixPermissions: 0o600]) }
    for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: database + suffix) {
        try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: database + suffix)
    }
}

/// The router with every API route, for the given services.
public func buildRouter(_ services: HeraldServices, renderer: PageRenderer) -> Router<HeraldRequestContext> {
    // HEAD answers wherever GET does (RFC 9110), as `Allow` says.
    let router = Router(context: HeraldRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Outermost, so it counts each request with the status it was answered with (problems included).
    router.add(middleware: MetricsMiddleware())
    // A span per request, continuing the caller's `traceparent`, when traces are exported.
    if EventTracing.isEnabled { router.add(middleware: RequestTracing()) }
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: PortalFramingMiddleware(ancestors: services.configuration.portalFrameAncestors))
    router.add(middleware: WebErrorMiddleware(renderer: renderer))
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: TokenAuthMiddleware(services))
    router.add(middleware: AllowedMethodsMiddleware(allowed: services.allowedMethods))
    OperationsController(services: services).addRoutes(to: router)
    AdminController(services: services).addRoutes(to: router)
    EventTypesController(services: services).addRoutes(to: router)
    EventsController(services: services).addRoutes(to: router)
    HooksController(services: services).addRoutes(to: router)
    DeliveriesController(services: services).addRoutes(to: router)
    ReplayController(services: services).addRoutes(to: router)
    OverviewController(services: services).addRoutes(to: router)
    AuditLogController(services: services).addRoutes(to: router)
    PortalLinksController(services: services).addRoutes(to: router)
    DocumentsController(services: services).addRoutes(to: router)
    WebController(services: services, renderer: renderer).addRoutes(to: router)
    services.allowedMethods.learn(from: router)
    // CSS and JavaScript of the web UI, served where no route matched; a name with a control
    // character (`herald.css%00.js`) names no file, whatever the file system would make of it.
    router.add(middleware: ControlCharacterPathMiddleware())
    router.add(
        middleware: FileMiddleware(
            services.configuration.publicDirectory.path, urlBasePath: "/public", cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(300)])])
        )
    )
    return router
}

/// The whole server: HTTP on the configured address plus the delivery engine as a service.
/// `onServerRunning` receives the bound port (useful with port 0).
public func buildApplication(
    services: HeraldServices, logger: Logger, observability: [any Service] = [], onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    _ = MetricsRegistry.shared
    let configuration = services.configuration
    let renderer = try await PageRenderer(directory: configuration.templatesDirectory)
    var created: Set<String> = []
    if let config = configuration.syncGateway {
        let changes = try await services.applyConfigFile(config, logger: logger)
        logger.notice(
            "config file applied",
            metadata: [
                "databases": "\(config.databases.map(\.name).joined(separator: ","))", "created": "\(changes.databasesCreated.joined(separator: ","))",
                "hooks_created": "\(changes.hooksCreated)", "hooks_updated": "\(changes.hooksUpdated)", "hooks_retired": "\(changes.hooksRetired)",
            ]
        )
        created = Set(changes.databasesCreated)
    }
    // Every database is online now, and goes offline when the server stops gracefully.
    let databases = try await services.store.databaseNames().filter { !created.contains($0) }
    try await services.raiseStateChange(databases: databases, state: .online, reason: "server started")
    services.engine.beforeStopping { [services] in
        try await services.raiseStateChange(databases: try await services.store.databaseNames(), state: .offline, reason: "server stopping")
    }
    var relays: [any Service] = []
    relays.append(StoreSignalRelay(store: services.store, commits: services.commits))
    if let registry = services.store as? any NodeRegistry { relays.append(NodeHeartbeat(registry: registry, node: services.node, logger: logger)) }
    return Application(
        router: buildRouter(services, renderer: renderer),
        server: .herald(
            pacing: services.pacing, webSocketRouter: buildWebSocketRouter(services),
            http1: .init(
                additionalChannelHandlers: [services.pacing.handler()],
                idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000 + configuration.idleTimeout.components.attoseconds / 1_000_000_000)
            )
        ),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Herald"),
        // The exporter first, so it stops last and sends the spans of the stop too.
        services: observability + (configuration.role.runsEngine ? [services.engine] : []) + relays,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// Answers 404 to a path whose decoded form holds a control character (NUL, CR, LF, …): no file or
/// route has one, and a NUL would cut the name short where the file system reads it.
struct ControlCharacterPathMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let decoded = request.uri.path.removingPercentEncoding ?? request.uri.path
        if decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw HTTPError(.notFound, message: "No route for \(request.method) \(request.uri.path).")
        }
        return try await next(request, context)
    }
}
