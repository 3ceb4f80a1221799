/// Decides which hooks receive an event: event-name patterns and channels.
public enum EventMatcher {
    /// Whether `pattern` (`lead.created`, `lead.created@2`, `lead.*`, `*`) matches an event of
    /// `eventType` (at `version`, for a type with versions).
    ///
    /// `*` matches every event except `ping`, which only goes to the hook it was made for, and
    /// Herald's own `herald.…` events, which go to hooks that name them.
    /// `prefix.*` matches any event whose name starts with `prefix.` (at any depth).
    /// `name@N` matches events of that type at version N only; a name alone, every version.
    public static func matches(pattern: String, eventType: String, version: Int? = nil) -> Bool {
        if pattern == eventType { return true }
        if let (name, number) = versioned(pattern) { return version != nil && name == eventType && number == version }
        if eventType == PingPayload.eventType { return false }
        // Herald's own events reach only hooks that name them (`herald.*`, or one by name).
        if OperationalEvents.isOperational(eventType) && !pattern.hasPrefix(OperationalEvents.prefix) { return false }
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") {
            return eventType.hasPrefix(pattern.dropLast())
        }
        return false
    }

    /// Whether `pattern` is well-formed: `*`, an event name (with `@N` for one of its versions), or
    /// an event-name prefix followed by `.*`.
    public static func isValidPattern(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        if let (name, version) = versioned(pattern) { return EventType.isValidName(name) && version >= 1 }
        if pattern.hasSuffix(".*") { return EventType.isValidName(String(pattern.dropLast(2))) }
        return EventType.isValidName(pattern)
    }

    /// `lead.created@2` as its name and version; nil for a pattern that names no version.
    /// The version must be written as one is counted (`@2`, not `@02` or `@+2`); anything else is
    /// version 0, which no type has.
    public static func versioned(_ pattern: String) -> (name: String, version: Int)? {
        guard let at = pattern.lastIndex(of: "@") else { return nil }
        let digits = pattern[pattern.index(after: at)...]
        guard let first = digits.first, first != "0", digits.count <= 7, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let version = Int(digits) else {
            return (String(pattern[..<at]), 0)
        }
        return (String(pattern[..<at]), version)
    }
}

extension EventMatcher {
    /// Whether `hook`, owned by a team granted `grantedChannels`, receives `event`. A channel on the
    /// hook counts only while its team is granted it, so a revoked grant stops the routing at once.
    public static func routes(_ event: Event, to hook: Hook, grantedChannels: Set<String>) -> Bool {
        // A sync hook pulls its pages; fan-out makes no deliveries for it.
        guard event.seq > hook.createdAfterSeq, hook.mode == .push else { return false }
        return listens(hook, to: event, grantedChannels: grantedChannels)
    }

    /// Whether `hook` subscribes to `event`, by its event patterns and the channels it listens on,
    /// whatever its state: the one rule of fan-out, the pull feed, replay and HTTP Sync pages.
    ///
    /// A hook that names channels listens on those its team is granted. A hook that names none
    /// listens on every channel its team may read (its slug and its grants), as a GitHub hook
    /// receives all its repository's events. An event without channels reaches every hook whose
    /// patterns match; a hook of the config file is the operator's, like a Sync Gateway handler,
    /// and gets every event its patterns match, whatever the channels.
    public static func listens(_ hook: Hook, to event: Event, grantedChannels: Set<String>) -> Bool {
        guard hook.events.contains(where: { matches(pattern: $0, eventType: event.type, version: event.version) }) else { return false }
        if event.channels.isEmpty || hook.managedKey != nil { return true }
        if hook.channels.isEmpty { return event.channels.contains(where: grantedChannels.contains) }
        return hook.channels.contains { grantedChannels.contains($0) && event.channels.contains($0) }
    }

    /// Whether a team may read `event` in the pull feed: when one of its hooks could receive it.
    public static func isVisible(_ event: Event, toTeamWith hooks: [Hook], grantedChannels: Set<String>) -> Bool {
        hooks.contains { listens($0, to: event, grantedChannels: grantedChannels) }
    }
}
