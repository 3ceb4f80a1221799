import Foundation

/// Why a hook received none of the recent events its team could read: the hook page says so
/// plainly instead of leaving an empty log to be puzzled over.
public struct MatchReport: Sendable {
    /// Events the team could read, since the hook was made, among those looked at.
    public var readable: Int
    /// Of those, how many the hook subscribes to.
    public var matched: Int
    /// Other event types, with how many of each.
    public var otherTypes: [(type: String, count: Int)]
    /// Events on channels the hook does not listen on, by channel.
    public var otherChannels: [(channel: String, count: Int)]

    /// Sorts `events` (the newest of the log) for `hook`, whose team reads `grantedChannels`.
    public init(hook: Hook, events: [Event], grantedChannels: Set<String>) {
        var readable = 0
        var matched = 0
        var types: [String: Int] = [:]
        var channels: [String: Int] = [:]
        for event in events where event.seq > hook.createdAfterSeq && event.type != PingPayload.eventType && !OperationalEvents.isOperational(event.type) {
            // What the team could read: an event without channels, or on one of its channels.
            guard event.channels.isEmpty || event.channels.contains(where: grantedChannels.contains) else { continue }
            readable += 1
            if EventMatcher.listens(hook, to: event, grantedChannels: grantedChannels) {
                matched += 1
            } else if !hook.events.contains(where: { EventMatcher.matches(pattern: $0, eventType: event.type, version: event.version) }) {
                types[event.type, default: 0] += 1
            } else {
                for channel in event.channels where grantedChannels.contains(channel) { channels[channel, default: 0] += 1 }
            }
        }
        self.readable = readable
        self.matched = matched
        otherTypes = types.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        otherChannels = channels.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// A plain sentence when the hook matched none of the events its team could read, else nil.
    public var explanation: String? {
        guard readable > 0, matched == 0 else { return nil }
        var reasons: [String] = []
        let typeCount = otherTypes.reduce(0) { $0 + $1.count }
        if typeCount > 0 {
            let names = otherTypes.prefix(4).map { "\($0.type) ×\($0.count)" }.joined(separator: ", ")
            reasons.append("\(typeCount) \(typeCount == 1 ? "was an event type" : "were event types") it does not subscribe to (\(names))")
        }
        let channelCount = readable - typeCount
        if channelCount > 0 {
            let names = otherChannels.prefix(4).map { "\($0.channel) ×\($0.count)" }.joined(separator: ", ")
            reasons.append("\(channelCount) \(channelCount == 1 ? "was" : "were") on channels it does not listen on (\(names))")
        }
        let events = readable == 1 ? "the last event" : "the last \(readable) events"
        return "This webhook received none of \(events) its team could read: " + reasons.joined(separator: "; ") + "."
    }
}
