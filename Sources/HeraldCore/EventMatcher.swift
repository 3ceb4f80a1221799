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
