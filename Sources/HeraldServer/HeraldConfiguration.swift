import Foundation
import HeraldCore
import HeraldDelivery

/// Everything `herald serve` can be told.
public struct HeraldConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Where the SQLite database and the master key live.
    public var dataDirectory: URL = URL(fileURLWithPath: "herald-data")
    /// The largest accepted event (or batch) body.
    public var maxEventBodyBytes: Int = 256 * 1024
    /// The most events in one batch.
    public var maxBatchSize: Int = 1000
    /// How long the schema checks of one request's events may take together.
    public var validationBudget: Duration = .seconds(1)
    /// Long-lived changes feeds (longpoll, continuous, eventsource) one token may hold open at once.
    public var maxFeedsPerToken: Int = 20
    /// Long-lived changes feeds one team may hold open at once across its tokens.
    public var maxFeedsPerTeam: Int = 50
    /// `_local` documents (client checkpoints) one team may keep in one database.
    public var maxLocalDocumentsPerTeam: Int = 1000
    /// API tokens one team may have: a member cannot escape the per-token limits by minting more.
    public var maxTokensPerTeam: Int = 50
    /// The public base URL used in `deliveries_url` and `ping_url`; defaults to `http://host:port`.
    public var publicBaseURL: String?
    public var engine = DeliveryEngineConfiguration()
    /// Mustache pages for the web UI.
    public var templatesDirectory: URL = URL(fileURLWithPath: "Templates")
    /// CSS and JavaScript for the web UI.
    public var publicDirectory: URL = URL(fileURLWithPath: "Public")
    /// Accepted work not yet done (pending deliveries and events not yet fanned out) past which
    /// document writes wait, then are refused with 503: Herald refuses loudly rather than drop.
    public var maxBacklog: Int = 100_000
    /// The most of ``maxBacklog`` one team's deliveries may take (in flight or due; a retry waiting
    /// for its time does not count). A team past it — a hanging receiver, a large replay — holds its
    /// own work back (its replays pause) but cannot make everybody's writes 503. Nil: a quarter of
    /// ``maxBacklog``.
    public var maxBacklogPerTeam: Int?
    /// The share of ``maxBacklog`` one team may take.
    public var teamBacklogShare: Int { max(1, maxBacklogPerTeam ?? maxBacklog / 4) }
    /// Writes are refused the same way while the data directory's disk has less free space than this.
    public var minimumFreeDiskBytes: Int64 = 256 * 1_048_576
    /// How long a document write waits for the backlog to fall below ``maxBacklog`` when its
    /// database sets no `wait_for_process` (Sync Gateway's default, 5 ms).
    public var defaultWaitForBacklog: Duration = .milliseconds(5)
    /// A Sync Gateway config file's databases and webhook handlers (`herald serve --config`).
    public var syncGateway: SyncGatewayConfig?
    /// `postgres://user:password@host:5432/database`: the shared store for many nodes. Nil: the
    /// embedded SQLite file in ``dataDirectory``.
    public var databaseURL: String?
    /// How long a start waits to reach PostgreSQL before it fails.
    public var databaseConnectTimeout: Duration = .seconds(30)
    /// Most connections one node opens to PostgreSQL.
    public var databasePoolSize: Int = 20
    /// How long an SQLite write waits for a lock another process holds on the database file
    /// before the request is answered 503.
    public var databaseBusyTimeout: Duration = .seconds(10)
    /// With PostgreSQL: how long past a hook's timeout a claimed delivery stays with the node that
    /// claimed it; after that another node takes it as the work of a node that died.
    public var claimLeaseMargin: Double = 60
    /// A client connection that sends nothing for this long (no request, or a request's head or
    /// body stalled) is closed; responses being written (long changes feeds) are not cut.
    public var idleTimeout: Duration = .seconds(60)
    /// Most client connections open at once; one more is closed as soon as it is accepted.
    public var maxConnections: Int = 2048
    /// Connections kept for authenticated traffic: once fewer than this are free, a request that
    /// carries neither a bearer token nor a session cookie is answered 503 and its connection closed.
    /// Nil: an eighth of ``maxConnections``.
    public var connectionsReservedForAuthenticated: Int?
    /// Most connections one client address may hold open at once; 0: no limit. A trusted proxy
    /// (``trustedProxies``), whose address every client behind it shares, is not held to it.
    public var maxConnectionsPerClient: Int = 256
    /// The longest a request's head and body may take to arrive, whatever their pace.
    public var requestDeadline: Duration = .seconds(60)
    /// After the first ``requestGrace`` of a request, its body must have arrived at this many bytes
    /// a second on average, or the connection is closed (a body trickled a byte at a time).
    public var minimumRequestBytesPerSecond: Int = 1024
    /// How long a request may take before ``minimumRequestBytesPerSecond`` applies.
    public var requestGrace: Duration = .seconds(10)
    /// Requests a second one API token may make on average; 0: unlimited.
    public var requestsPerToken: Double = 0
    /// The most requests a token may make at once before its rate applies; nil: twice the rate.
    public var requestBurstPerToken: Double?
    /// Requests a second one team's tokens may make together on average (bursts of twice that);
    /// nil: twice ``requestsPerToken``; 0: unlimited.
    public var requestsPerTeam: Double?
    /// Reverse proxies in front of Herald: a request from one of these networks is taken to come
    /// from the address its `X-Forwarded-For` names (the nearest one not itself a proxy), for the
    /// limits per client address. Empty: every request comes from its connection's address.
    public var trustedProxies: [IPNetwork] = []
    /// Sign-in: failures per account or address that cost nothing, the wait after the next one
    /// (doubling with each further failure) and the longest wait.
    public var signInFreeFailures = 5
    public var signInFirstWait: TimeInterval = 1
    public var signInLockout: TimeInterval = 900
    /// Replay jobs one team may run at once; one more is refused with 429.
    public var maxReplaysPerTeam: Int = 3
    /// Hooks one team may have (the config file's managed hooks aside).
    public var maxHooksPerTeam: Int = 100
    /// What this node does: serve the API, run the delivery engine, or both.
    public var role: NodeRole = .all
    /// Origins (`https://crm.example.org`) whose pages may frame what a portal link opens; no
    /// other page of Herald's may be framed by anyone.
    public var portalFrameAncestors: [String] = []

    public init() {}

    var baseURL: String { publicBaseURL ?? "http://\(host):\(port)" }
    /// Sync Gateway's `admininterface` in `db_state_changed`: where this server listens.
    var adminInterface: String { "\(host):\(port)" }
}

/// What one Herald node does. Nodes on one PostgreSQL database can split the work: API nodes
/// accept events and documents, workers fan out and deliver.
public enum NodeRole: String, Sendable, CaseIterable {
    /// The HTTP API and web UI, and the delivery engine.
    case all
    /// The HTTP API and web UI only: no fan-out, deliveries, replays, syncs or pruning here.
    case api
    /// The delivery engine; its HTTP server answers too (`/healthz`, `/metrics`, the API).
    case worker

    var runsEngine: Bool { self != .api }
}
