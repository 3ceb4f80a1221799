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
                    exact[pattern, default: []].append(hook.id)
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
