import Synchronization

/// The active hooks, indexed by the event types they subscribe to: fan-out looks up an event's
/// hooks by its type (exact name, each `prefix.*`, and `*`) instead of testing every hook, so its
/// cost does not grow with hooks that do not match. The final say is ``EventMatcher/routes(_:to:grantedChannels:)``.
public struct HookRouter: Sendable {
    /// Every active hook, by id.
    public let hooks: [Int64: Hook]
    private let grantedChannels: [Int64: Set<String>]
    private var exact: [String: [Int64]] = [:]
    /// `lead.` for the pattern `lead.*`.
    private var prefixes: [String: [Int64]] = [:]
    private var wildcard: [Int64] = []

    /// - Parameters:
    ///   - hooks: the active hooks.
    ///   - grantedChannels: each team's channels (``Team/channels``), by team id.
    public init(hooks: [Hook], grantedChannels: [Int64: Set<String>]) {
        self.hooks = Dictionary(hooks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.grantedChannels = grantedChannels
        for hook in hooks.sorted(by: { $0.id < $1.id }) where hook.mode == .push {
            for pattern in Set(hook.events) {
                if pattern == "*" {
                    wildcard.append(hook.id)
                } else if pattern.hasSuffix(".*") {
                    prefixes[String(pattern.dropLast()), default: []].append(hook.id)
                } else {
                    // `name@N` is found under its name; the matcher decides on the version.
                    exact[EventMatcher.versioned(pattern)?.name ?? pattern, default: []].append(hook.id)
                }
            }
        }
    }

    /// Whether `event` still goes to the hook `id` (active, subscribed, its channels granted).
    public func routes(_ event: Event, toHook id: Int64) -> Bool {
        guard let hook = hooks[id] else { return false }
        return EventMatcher.routes(event, to: hook, grantedChannels: grantedChannels[hook.teamID] ?? [])
    }

    /// The hooks `event` goes to, by id order.
    public func hooks(for event: Event) -> [Hook] {
        var candidates = exact[event.type] ?? []
        if event.type != PingPayload.eventType { candidates += wildcard }
        var index = event.type.startIndex
        while let dot = event.type[index...].firstIndex(of: ".") {
            let next = event.type.index(after: dot)
            if let ids = prefixes[String(event.type[..<next])] { candidates += ids }
            index = next
        }
        var seen = Set<Int64>()
        return candidates.sorted().compactMap { id in
            guard seen.insert(id).inserted, let hook = hooks[id],
                EventMatcher.routes(event, to: hook, grantedChannels: grantedChannels[hook.teamID] ?? [])
            else { return nil }
            return hook
        }
    }
}

/// The active hooks as one transaction read them, with their teams' channels: the rows a store
/// hands over for fan-out to route with and claims to read hooks from. The routing itself
/// (``HookRouter``) is built here, not by the store.
public struct ActiveHooks: Sendable {
    let router: HookRouter

    /// - Parameters:
    ///   - hooks: the active hooks.
    ///   - teams: their teams (the channels each is granted).
    public init(hooks: [Hook], teams: [Team]) {
        router = HookRouter(hooks: hooks, grantedChannels: Dictionary(teams.map { ($0.id, $0.channels) }, uniquingKeysWith: { first, _ in first }))
    }

    public static let none = ActiveHooks(hooks: [], teams: [])

    /// Every active hook, by id.
    public var byID: [Int64: Hook] { router.hooks }

    /// Whether `event` still goes to the hook `id` (active, subscribed, its channels granted).
    public func routes(_ event: Event, toHook id: Int64) -> Bool { router.routes(event, toHook: id) }

    /// The hooks `event` goes to, by id order.
    public func hooks(for event: Event) -> [Hook] { router.hooks(for: event) }
}

/// A store's active hooks, read again only when the store's hooks version moves: fan-out and
/// claims do not read and decode every hook on every turn. Every transaction that changes what they
/// read of hooks (settings, keys, `active`) or a team's channels gives the version a new random
/// value, so a version a rolled-back transaction saw never matches a later committed one, and the
/// rows may be published from any transaction — one rule for every backend.
public final class HookIndexCache: Sendable {
    private let cached = Mutex<(version: Int64, hooks: ActiveHooks)?>(nil)

    public init() {}

    /// The active hooks at `version`: those held, or what `load` reads (then held as `version`'s).
    public func activeHooks(at version: Int64, load: () throws -> (hooks: [Hook], teams: [Team])) rethrows -> ActiveHooks {
        if let held = held(at: version) { return held }
        let loaded = try load()
        return publish(version, ActiveHooks(hooks: loaded.hooks, teams: loaded.teams))
    }

    /// ``activeHooks(at:load:)`` for a store whose reads are asynchronous.
    public func activeHooks(at version: Int64, load: () async throws -> (hooks: [Hook], teams: [Team])) async rethrows -> ActiveHooks {
        if let held = held(at: version) { return held }
        let loaded = try await load()
        return publish(version, ActiveHooks(hooks: loaded.hooks, teams: loaded.teams))
    }

    private func held(at version: Int64) -> ActiveHooks? {
        cached.withLock { cached in cached.flatMap { $0.version == version ? $0.hooks : nil } }
    }

    private func publish(_ version: Int64, _ hooks: ActiveHooks) -> ActiveHooks {
        cached.withLock { $0 = (version, hooks) }
        return hooks
    }
}
