import Foundation

/// The `data` of a `ping` event: a zen line, the hook's id, and the hook's public settings.
public enum PingPayload {
    /// The built-in event type of pings: never matched by a hook's events or channels, never
    /// transformed, replayed or counted as a hook's failure.
    public static let eventType = "ping"

    static let zen = [
        "Design for failure.",
        "Deliver at least once; dedupe by delivery id.",
        "Keep it logically awesome.",
        "Slow receivers never hold others back.",
        "Sign the bytes you send.",
        "Nothing accepted is ever lost.",
    ]

    public static func data(hook: Hook) -> String {
        JSONValue.object([
            ("zen", .string(zen.randomElement()!)),
            ("hook_id", .int(hook.id)),
            (
                "hook",
                .object([
                    ("id", .int(hook.id)),
                    ("type", .string("Team")),
                    ("active", .bool(hook.active)),
                    ("events", .array(hook.events.map(JSONValue.string))),
                    ("config", .object([
                        ("url", .string(hook.url)),
                        ("content_type", .string(hook.contentType.rawValue)),
                        ("insecure_ssl", .string(hook.insecureSSL ? "1" : "0")),
                    ])),
                    ("created_at", .string(Timestamp.string(hook.createdAt))),
                ])
            ),
        ]).jsonString
    }
}

extension PingPayload {
    /// The `ping` event for `hook`, addressed to it alone.
    public static func event(for hook: Hook, now: Date) -> NewEvent {
        NewEvent(type: eventType, data: data(hook: hook), timestamp: now)
    }

    /// A ping's delivery: one attempt, due now, never retried on the schedule.
    public static func lifecycle(now: Date) -> DeliveryLifecycle {
        .new(now: now, retries: false)
    }
}
