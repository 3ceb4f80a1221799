/// Decides which hooks receive an event: event-name patterns and channels.
public enum EventMatcher {
    /// Whether `pattern` (`lead.created`, `lead.*`, `*`) matches `eventType`.
    ///
    /// `*` matches every event except `ping`, which only goes to the hook it was made for.
    /// `prefix.*` matches any event whose name starts with `prefix.` (at any depth).
    public static func matches(pattern: String, eventType: String) -> Bool {
        if pattern == eventType { return true }
        if eventType == "ping" { return false }
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") {
            return eventType.hasPrefix(pattern.dropLast())
        }
        return false
    }

    /// Whether a hook subscribed to `patterns` and `hookChannels` receives the event.
    ///
    /// An event without channels goes to every hook whose patterns match. An event with channels
    /// goes only to hooks that share at least one of them: that is how a provider routes a lead to
    /// some departments only.
    public static func matches(patterns: [String], hookChannels: [String], eventType: String, eventChannels: [String]) -> Bool {
        guard patterns.contains(where: { matches(pattern: $0, eventType: eventType) }) else { return false }
        if eventChannels.isEmpty { return true }
        return hookChannels.contains(where: eventChannels.contains)
    }

    /// Whether `pattern` is well-formed: `*`, an event name, or an event-name prefix followed by `.*`.
    public static func isValidPattern(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return EventType.isValidName(String(pattern.dropLast(2))) }
        return EventType.isValidName(pattern)
    }
}

extension EventMatcher {
    /// Whether `hook`, owned by a team granted `grantedChannels`, receives `event`. A channel on the
    /// hook counts only while its team is granted it, so a revoked grant stops the routing at once.
    public static func routes(_ event: Event, to hook: Hook, grantedChannels: Set<String>) -> Bool {
        // A sync hook pulls its pages; fan-out makes no deliveries for it.
        guard event.seq > hook.createdAfterSeq, hook.mode == .push else { return false }
        // A hook from the config file is the operator's, like a Sync Gateway handler: every
        // document of its database, whatever the channels.
        if hook.managedKey != nil { return hook.events.contains { matches(pattern: $0, eventType: event.type) } }
        let channels = hook.channels.filter(grantedChannels.contains)
        return matches(patterns: hook.events, hookChannels: channels, eventType: event.type, eventChannels: event.channels)
    }

    /// Whether a team may read `event` in the pull feed: when one of its hooks could receive it,
    /// by event pattern and by the hook's channels that the team is granted.
    public static func isVisible(_ event: Event, toTeamWith hooks: [Hook], grantedChannels: Set<String>) -> Bool {
        hooks.contains { hook in
            matches(patterns: hook.events, hookChannels: hook.channels.filter(grantedChannels.contains), eventType: event.type, eventChannels: event.channels)
        }
    }
}
