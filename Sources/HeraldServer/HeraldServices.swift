import Foundation
import HeraldCore
import HeraldDelivery
import HTTPTypes
import Hummingbird
import Logging

/// What the routes work with: the store, the engine, the secret box and the configuration.
public struct HeraldServices: Sendable {
    public let store: any HeraldStore
    public let engine: DeliveryEngine
    public let secretBox: SecretBox
    public let configuration: HeraldConfiguration
    let catalog: EventTypeCatalog
    /// The methods each route answers (`405` with `Allow`), learnt when the router is built.
    let allowedMethods = AllowedMethods()
    /// Ingest's group commit: concurrent requests share one transaction.
    let ingest: GroupCommitter<NewEvent, AppendedEvent>
    /// Document writes' group commit: concurrent writes share one transaction, each MVCC-checked on its own.
    let documentWrites: GroupCommitter<PendingDocumentWrite, Result<Document, any Error>>
    /// API tokens checked recently.
    let tokens: TokenCache
    /// The latest committed `seq`, for long changes feeds.
    let commits = CommitSignal()
    /// Long-lived changes feeds open per token.
    let feeds: FeedLimiter
    /// Refuses writes past the backlog bound.
    let backpressure: Backpressure
    /// Password guessing at the sign-in form slows down per account and per address.
    let signIns: SignInThrottle
    /// Requests per API token (nil: unlimited).
    let rateLimiter: RateLimiter?
    /// Requests per team, across its tokens (nil: unlimited).
    let teamRateLimiter: RateLimiter?
    /// The client connections open, and their cap.
    let connections: ConnectionCap
    /// What one client address may hold of the connections, and how fast a request must arrive.
    let pacing: RequestPacing
    /// This node, as the overview of a cluster lists it.
    let node: NodeInfo
    /// Runs the checks and trials of scripts people submit (forms, API), apart from the engine's
    /// workers so a burst of them cannot slow fan-out.
    let trialScripts: ScriptRunner

    public init(store: any HeraldStore, secretBox: SecretBox, configuration: HeraldConfiguration, logger: Logger) {
        // The metrics system first: the engine makes its counters and timers as it is made, and
        // made before the bootstrap they would count into nothing.
        _ = MetricsRegistry.shared
        self.store = store
        let host = ProcessInfo.processInfo.hostName
        self.node = NodeInfo(
            id: "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))", role: configuration.role.rawValue, host: host,
            startedAt: Date(), heartbeatAt: Date()
        )
        self.connections = ConnectionCap(limit: configuration.maxConnections)
        self.pacing = RequestPacing(configuration: configuration, connections: connections, logger: logger)
        self.rateLimiter = configuration.requestsPerToken > 0
            ? RateLimiter(rate: configuration.requestsPerToken, burst: configuration.requestBurstPerToken ?? configuration.requestsPerToken * 2) : nil
        let perTeam = configuration.requestsPerTeam ?? configuration.requestsPerToken * 2
        self.teamRateLimiter = perTeam > 0 ? RateLimiter(rate: perTeam, burst: perTeam * 2) : nil
        self.signIns = SignInThrottle(
            freeFailures: configuration.signInFreeFailures, firstWait: configuration.signInFirstWait, lockout: configuration.signInLockout
        )
        self.secretBox = secretBox
        self.configuration = configuration
        self.engine = DeliveryEngine(store: store, secretBox: secretBox, configuration: configuration.engine, logger: logger)
        self.catalog = EventTypeCatalog(store: store, logger: logger)
        self.ingest = GroupCommitter { [store] events in try await store.append(events) }
        self.tokens = TokenCache(store: store)
        self.documentWrites = GroupCommitter(maxBatch: 1000) { [store] writes in try await store.writeDocuments(writes) }
        self.feeds = FeedLimiter(perToken: configuration.maxFeedsPerToken, perTeam: configuration.maxFeedsPerTeam)
        self.backpressure = Backpressure(
            store: store, bound: configuration.maxBacklog, perTeam: configuration.teamBacklogShare, dataDirectory: configuration.dataDirectory, minimumFreeBytes: configuration.minimumFreeDiskBytes
        )
        var trialLimits = configuration.engine.scriptLimits
        trialLimits.workers = 1
        // What a script makes of the example is the question here, not its speed: a busy server
        // must not turn the verdict into "timed out" (fan-out keeps its own, tighter limit).
        trialLimits.timeout = max(trialLimits.timeout, .seconds(2))
        self.trialScripts = ScriptRunner(limits: trialLimits)
    }

    /// Revokes a token: it stops working on the next request.
    func revokeToken(id: Int64) async throws -> Bool {
        let token = try await store.tokens(teamID: nil).first { $0.id == id }
        let deleted = try await store.deleteToken(id: id)
        tokens.removeAll()
        if deleted, let token { try await store.audit("token.revoked", target: "token \(id) (\(token.name))", teamID: token.teamID) }
        return deleted
    }

    /// Resolves the team a request acts for: a team token's own team, or the `team` an admin names.
    func team(for principal: Principal, named reference: JSONValue?) async throws -> Team {
        if principal.scope == .team, let teamID = principal.teamID, let team = try await store.team(id: teamID) {
            return team
        }
        guard principal.scope == .admin else { throw Problem.forbidden("This needs a team or admin token.") }
        let team: Team?
        switch reference {
        case .string(let slug)?: team = try await store.team(slug: slug)
        case .int(let id)?: team = try await store.team(id: id)
        default: throw Problem.validation([.init(field: "/team", message: "an admin token must name the team (slug or id)")])
        }
        guard let team else { throw Problem.validation([.init(field: "/team", message: "no such team")]) }
        return team
    }

    /// The hook if the caller may see it; another team's hook is a 404, never a 403.
    func visibleHook(_ id: String?, for principal: Principal) async throws -> Hook {
        // Providers read every log; changing a hook also needs a team or admin scope (checked by the route).
        guard let id, let hookID = Int64(id), let hook = try await store.hook(id: hookID),
            principal.scope == .provider || principal.canAccess(team: hook.teamID)
        else { throw Problem.notFound("No such hook.") }
        return hook
    }

    /// A hook the principal may change: hooks from the config file change only with the file.
    func editableHook(_ id: String?, for principal: Principal) async throws -> Hook {
        let hook = try await visibleHook(id, for: principal)
        if let key = hook.managedKey { throw Problem.conflict(Self.managedMessage(key)) }
        return hook
    }

    static func managedMessage(_ key: String) -> String {
        "This hook is managed by the config file (\(key)): edit the file and restart Herald to change it."
    }
}

extension HeraldServices {
    /// The client's address for limits per address: the connection's, or — when the connection
    /// comes from a trusted proxy — the nearest address in `X-Forwarded-For` that is not a proxy.
    func clientAddress(_ request: Request, _ context: HeraldRequestContext) -> String {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        let proxies = configuration.trustedProxies
        guard !proxies.isEmpty, proxies.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = request.headers[values: Self.forwardedFor].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard IPNetwork(hop) != nil else { return peer }  // a hop that is not an address: trust nothing before it
            if !proxies.contains(where: { $0.contains(hop) }) { return hop }
        }
        return hops.first ?? peer
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}
