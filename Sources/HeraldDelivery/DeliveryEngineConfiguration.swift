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
    /// The longest the engine sleeps before looking for due work again.
    public var idleInterval: Duration = .seconds(1)
    /// Allow targets on loopback and private networks (tests, local demos).
    public var allowPrivateTargets: Bool = false
    /// Networks accepted as targets though not public (`--allow-target CIDR`), private targets
    /// being refused otherwise.
    public var allowedTargets: [IPNetwork] = []

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
