import Foundation
import HeraldCore
import HeraldDelivery
import Hummingbird

/// The system at a glance, for an administrator: the backlog and its oldest delivery, the rates of
/// the last minute and hour, the hooks failing now and the disabled ones, the teams with the most
/// waiting, open feeds, running replays, free disk and the retention horizon. Every part is read
/// from an index of unfinished work, the hook list or memory — never by scanning the delivery log —
/// so it answers as fast on a log of millions as on an empty one.
public struct Overview: Sendable {
    struct HookLine: Sendable {
        var hook: Hook
        var team: Team?
        var backlog: Int
    }

    var generatedAt: Date
    var backlog: Int
    var oldestPending: Date?
    var lastMinute: ThroughputWindow.Rates
    var lastHour: ThroughputWindow.Rates
    var failing: [HookLine]
    var disabled: [HookLine]
    var teamsByBacklog: [(team: Team, backlog: Int)]
    var openFeeds: Int
    var replaysRunning: Int
    var diskFreeBytes: Int64?
    var retention: Duration
    var role: NodeRole
    /// On a store nodes share: the nodes heard from in the last minute, and this one's id.
    var nodes: [NodeInfo]?
    var thisNode: String

    /// At most this many lines per list.
    static let listLimit = 20

    var oldestPendingAge: TimeInterval? { oldestPending.map { max(0, generatedAt.timeIntervalSince($0)) } }
    var retentionHorizon: Date { generatedAt.addingTimeInterval(-Double(retention.components.seconds)) }

    public var json: JSONValue {
        func rates(_ rates: ThroughputWindow.Rates) -> JSONValue {
            .object([("attempts_per_second", .double(rates.attemptsPerSecond)), ("failures_per_second", .double(rates.failuresPerSecond))])
        }
        func hook(_ line: HookLine) -> JSONValue {
            .object([
                ("id", .int(line.hook.id)), ("url", .string(line.hook.url)), ("team", line.team.map { .string($0.slug) } ?? .null),
                ("backlog", .int(Int64(line.backlog))), ("failing_since", line.hook.failingSince?.json ?? .null),
                ("last_status_code", line.hook.lastResponse.code.map { .int(Int64($0)) } ?? .null),
                ("last_error", line.hook.lastResponse.message.map(JSONValue.string) ?? .null),
                ("disabled_reason", line.hook.disabledReason.map(JSONValue.string) ?? .null),
                ("breaker_open_until", line.hook.circuit.openUntil?.json ?? .null),
            ])
        }
        let backlogPart: JSONValue = .object([
            ("deliveries", .int(Int64(backlog))), ("oldest_pending_age_seconds", oldestPendingAge.map { .double($0) } ?? .null),
        ])
        let throughput: JSONValue = .object([("scope", .string("this node")), ("last_minute", rates(lastMinute)), ("last_hour", rates(lastHour))])
        let teams: [JSONValue] = teamsByBacklog.map { line in
            .object([("team", .string(line.team.slug)), ("name", .string(line.team.name)), ("backlog", .int(Int64(line.backlog)))])
        }
        let retentionPart: JSONValue = .object([("days", .int(retention.components.seconds / 86_400)), ("horizon", retentionHorizon.json)])
        var fields: [(String, JSONValue)] = [("generated_at", generatedAt.json), ("role", .string(role.rawValue)), ("backlog", backlogPart)]
        fields.append(("throughput", throughput))
        fields.append(("failing_hooks", .array(failing.map(hook))))
        fields.append(("disabled_hooks", .array(disabled.map(hook))))
        fields.append(("teams_by_backlog", .array(teams)))
        fields.append(("open_feeds", .int(Int64(openFeeds))))
        fields.append(("replays_running", .int(Int64(replaysRunning))))
        fields.append(("disk_free_bytes", diskFreeBytes.map { .int($0) } ?? .null))
        fields.append(("retention", retentionPart))
        fields.append((
            "nodes",
            nodes.map { nodes in
                .array(nodes.map { node in
                    .object([
                        ("id", .string(node.id)), ("role", .string(node.role)), ("host", .string(node.host)), ("started_at", node.startedAt.json),
                        ("heartbeat_at", node.heartbeatAt.json), ("this_node", .bool(node.id == thisNode)),
                    ])
                })
            } ?? .null
        ))
        return .object(fields)
    }
}

extension HeraldServices {
    public func overview(now: Date = Date()) async throws -> Overview {
        let hooks = try await store.hooks(teamID: nil)
        let teams = Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0) })
        let unfinished = try await store.unfinishedByHook()
        var byTeam: [Int64: Int] = [:]
        for hook in hooks { byTeam[hook.teamID, default: 0] += unfinished[hook.id] ?? 0 }
        func line(_ hook: Hook) -> Overview.HookLine { .init(hook: hook, team: teams[hook.teamID], backlog: unfinished[hook.id] ?? 0) }
        let failing: [Overview.HookLine] = hooks.filter { $0.active && $0.failingSince != nil }
            .sorted { ($0.failingSince ?? now) < ($1.failingSince ?? now) }.prefix(Overview.listLimit).map(line)
        let disabled: [Overview.HookLine] = hooks.filter { !$0.active }.sorted { $0.updatedAt > $1.updatedAt }.prefix(Overview.listLimit).map(line)
        var waiting: [(team: Team, backlog: Int)] = []
        for (id, count) in byTeam where count > 0 {
            if let team = teams[id] { waiting.append((team, count)) }
        }
        waiting.sort { $0.backlog != $1.backlog ? $0.backlog > $1.backlog : $0.team.slug < $1.team.slug }
        return Overview(
            generatedAt: now, backlog: unfinished.values.reduce(0, +), oldestPending: try await store.oldestPendingDate(),
            lastMinute: engine.throughput.rates(over: 60), lastHour: engine.throughput.rates(over: 3599), failing: failing, disabled: disabled,
            teamsByBacklog: Array(waiting.prefix(5)), openFeeds: feeds.openFeeds, replaysRunning: try await store.replayJobs(state: .running).count,
            diskFreeBytes: backpressure.freeBytes(), retention: configuration.engine.retention, role: configuration.role,
            nodes: try await (store as? any NodeRegistry)?.nodes(since: now.addingTimeInterval(-60)), thisNode: node.id
        )
    }
}

/// `GET /api/overview` (admin).
struct OverviewController {
    let services: HeraldServices

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.get("/api/overview", use: show)
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        return try await services.overview().json
    }
}
