import Foundation

/// Herald's own events about its hooks, as Svix's operational webhooks: a hook that starts failing,
/// a hook disabled, a delivery whose retries are spent. They are events in the log like any other,
/// on the hook's team channel and on ``adminChannel``, so a team or an administrator can subscribe
/// a hook (a chat room, a pager) to them by naming them (`herald.*`): `*` does not match them.
/// The deliveries of operational events never make operational events, so none triggers itself.
public enum OperationalEvents {
    public static let prefix = "herald."
    public static let hookFailing = "herald.hook.failing"
    public static let hookDisabled = "herald.hook.disabled"
    public static let deliveryExhausted = "herald.delivery.exhausted"
    /// The channel every operational event is also sent on; an administrator grants it to the team
    /// whose hook should hear about everyone's hooks.
    public static let adminChannel = "herald-admin"

    public static func isOperational(_ type: String) -> Bool { type.hasPrefix(prefix) }

    /// The catalog's entries for them.
    public static let catalog: [EventType] = [
        EventType(
            name: hookFailing, description: "A hook's delivery failed after its last success: the hook is failing (sent once per run of failures).",
            example: .object([
                ("hook_id", .int(12)), ("url", .string("https://crm.example.org/herald")), ("team", .string("bde")),
                ("failing_since", .string("2026-12-06T10:00:00Z")), ("last_status_code", .int(503)), ("last_error", .string("HTTP 503")),
            ])
        ),
        EventType(
            name: hookDisabled, description: "Herald disabled a hook: it answered 410 Gone, or every delivery failed for the disable window.",
            example: .object([
                ("hook_id", .int(12)), ("url", .string("https://crm.example.org/herald")), ("team", .string("bde")),
                ("reason", .string("Every delivery has failed since 2026-12-01T10:00:00Z.")),
            ])
        ),
        EventType(
            name: deliveryExhausted, description: "A delivery failed and no retry follows: its schedule is used up.",
            example: .object([
                ("hook_id", .int(12)), ("url", .string("https://crm.example.org/herald")), ("team", .string("bde")),
                ("delivery_id", .string("01939e6c-…")), ("event_id", .string("evt_…")), ("event_type", .string("lead.created")),
                ("attempts", .int(9)), ("last_status_code", .int(500)), ("last_error", .string("HTTP 500")),
            ])
        ),
    ]

    /// The operational events a record turn causes: for each hook, its health before the turn
    /// (`failingSince` and `active` as claimed) against the results, oldest first.
    public static func caused(
        by results: [(hook: Hook, result: AttemptResult, deliveryID: String, event: Event)], health: HookHealth, teamSlugs: [Int64: String]
    ) -> [NewEvent] {
        var events: [NewEvent] = []
        // Every attempt counts for the hook's health (a failed ping starts a failing run too); a
        // delivery of an operational event counts for nothing, so none causes another.
        let relevant = results.filter { !isOperational($0.event.type) }
        func new(_ type: String, hook: Hook, _ fields: [(String, JSONValue)]) -> NewEvent {
            let team = teamSlugs[hook.teamID]
            let data = JSONValue.object([("hook_id", .int(hook.id)), ("url", .string(hook.url)), ("team", team.map(JSONValue.string) ?? .null)] + fields)
            return NewEvent(type: type, data: data.jsonString, channels: (team.map { [$0] } ?? []) + [adminChannel])
        }
        var byHook: [Int64: [(hook: Hook, result: AttemptResult, deliveryID: String, event: Event)]] = [:]
        var order: [Int64] = []
        for item in relevant {
            if byHook[item.hook.id] == nil { order.append(item.hook.id) }
            byHook[item.hook.id, default: []].append(item)
        }
        for id in order {
            // By the hook's own disable window where it has one, as the store decided.
            guard let items = byHook[id], let hook = items.first?.hook,
                let update = (items.last?.result.hookHealth ?? health).update(after: items.map(\.result), failingSince: hook.failingSince)
            else { continue }
            let last = items.last!.result.attempt
            let lastError: JSONValue = last.responseStatus.map { .string("HTTP \($0)") } ?? last.errorMessage.map(JSONValue.string) ?? .null
            if hook.failingSince == nil, let since = update.failingSince {
                events.append(new(hookFailing, hook: hook, [
                    ("failing_since", .string(Timestamp.string(since))), ("last_status_code", last.responseStatus.map { .int(Int64($0)) } ?? .null),
                    ("last_error", lastError),
                ]))
            }
            for item in items where item.result.action == .failed && item.event.type != PingPayload.eventType && item.result.syncThrough == nil {
                let attempt = item.result.attempt
                events.append(new(deliveryExhausted, hook: hook, [
                    ("delivery_id", .string(item.deliveryID)), ("event_id", .string(item.event.id)), ("event_type", .string(item.event.type)),
                    ("attempts", .int(Int64(item.result.lifecycle.attemptsInRun))),
                    ("last_status_code", attempt.responseStatus.map { .int(Int64($0)) } ?? .null),
                    ("last_error", attempt.responseStatus.map { .string("HTTP \($0)") } ?? attempt.errorMessage.map(JSONValue.string) ?? .null),
                ]))
            }
            if hook.active, let reason = update.disableReason {
                events.append(new(hookDisabled, hook: hook, [("reason", .string(reason))]))
            }
        }
        return events
    }
}
