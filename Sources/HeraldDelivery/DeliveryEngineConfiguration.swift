import AsyncHTTPClient
import Foundation
import Logging
import HeraldCore

/// Limits and policies of the delivery engine.
public struct DeliveryEngineConfiguration: Sendable {
    /// Attempts in flight across all hooks (Sync Gateway's `max_processes`).
    public var maxInFlight: Int = 256
    /// Attempts in flight for one unordered hook.
    public var maxInFlightPerHook: Int = 32
    /// Attempts in flight across one team's hooks, so one team's slow receivers cannot take
    /// every slot from the others.
    public var maxInFlightPerTeam: Int = 128
    public var retrySchedule: RetrySchedule = .default
    public var hookHealth: HookHealth = HookHealth()
    /// Response bodies are kept up to this many bytes.
    public var responseBodyLimit: Int = 64 * 1024
    /// Events fanned out per transaction.
    public var fanOutBatch: Int = 500
    /// Events a replay job scans per step (its jobs take turns step by step).
    public var replayStep: Int = 500
    /// Unfinished deliveries (pending, retrying or in flight) a hook may hold before its replays
    /// pause until some finish.
    public var replayHoldPerHook: Int = 1_000
    /// How long a graceful stop lets the attempts in flight finish. Past it they are cut and not
    /// recorded: their deliveries stay in flight in the store and are sent again at the next start
    /// (at least once), so a receiver that never answers cannot hold a stop for its hook's timeout.
    public var stopGrace: Duration = .seconds(5)
    /// The longest a graceful stop with events to deliver first (Sync Gateway's `db_state_changed`
    /// offline events) waits for their deliveries before it stops dispatching.
    public var stopDrainLimit: Duration = .seconds(5)
    /// The longest the engine sleeps before looking for due work again.
    public var idleInterval: Duration = .seconds(1)
    /// Allow targets on loopback and private networks (tests, local demos).
    public var allowPrivateTargets: Bool = false
    /// Networks accepted as targets though not public (`--allow-target CIDR`), private targets
    /// being refused otherwise.
    public var allowedTargets: [IPNetwork] = []

    /// Every outgoing request goes through this proxy when set (``EgressProxy``).
    public var egressProxy: EgressProxy?
    /// The SSRF guard these settings make.
    public var targetGuard: TargetGuard { TargetGuard(allowPrivateTargets: allowPrivateTargets, allowedNetworks: allowedTargets) }
    /// How long the delivery log keeps what is finished: attempt bodies, succeeded and skipped
    /// deliveries, and events nothing refers to any more, older than this, are pruned.
    public var retention: Duration = .seconds(30 * 86_400)
    /// How often retention looks for work when the last look found none.
    public var pruneInterval: Duration = .seconds(600)
    /// Bounds on hook filters and transforms.
    public var scriptLimits = ScriptLimits()
    /// How much the engine says about event handling (fan-out, filters): Sync Gateway's log keys
    /// `Event` (info) and `Events+` (debug). Nil: warnings only.
    public var eventLogLevel: Logger.Level?

    /// The level for Sync Gateway log keys (`Event`, `Events+`, `Events`, `Event+`), if any asks for event logging.
    public static func eventLogLevel(forLogKeys keys: [String]) -> Logger.Level? {
        let keys = Set(keys.map { $0.lowercased() })
        if keys.contains("events+") || keys.contains("event+") { return .debug }
        if keys.contains("event") || keys.contains("events") || keys.contains("*") { return .info }
        return nil
    }

    public init() {}
}

/// Where every outgoing request — deliveries, HTTP Sync pages, OAuth2 token requests — goes on its
/// way out (`--egress-proxy`), so that receivers see one address to allow: an HTTP proxy (`CONNECT`
/// for https targets, an absolute URL for http ones) or a SOCKS5 proxy. The target guard still judges
/// each request's own URL (its host resolved and checked) before it is sent; the proxy then resolves
/// the name itself, so a deployment that relies on the guard against DNS rebinding should also keep
/// its proxy from reaching private networks.
public struct EgressProxy: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case http
        case socks5
    }

    public var kind: Kind
    public var host: String
    public var port: Int
    /// Basic credentials for an HTTP proxy (`http://user:password@host:port`).
    public var username: String?
    public var password: String?

    /// Reads `http://[user:password@]host:port` or `socks5://host:port`; nil when it is neither.
    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let kind = Kind(rawValue: scheme),
            let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/", components.query == nil
        else { return nil }
        if kind == .socks5 && (components.user != nil || components.password != nil) { return nil }
        self.kind = kind
        self.host = host
        self.port = components.port ?? (kind == .http ? 3128 : 1080)
        self.username = components.user?.removingPercentEncoding
        self.password = components.password?.removingPercentEncoding
    }

    /// The proxy as the HTTP client takes it.
    var clientProxy: HTTPClient.Configuration.Proxy {
        switch kind {
        case .http:
            let authorization = username.map { HTTPClient.Authorization.basic(username: $0, password: password ?? "") }
            return .server(host: host, port: port, authorization: authorization)
        case .socks5:
            return .socksServer(host: host, port: port)
        }
    }

    /// The proxy as logs and the overview show it: no credentials.
    public var description: String { "\(kind.rawValue)://\(host):\(port)" }
}
