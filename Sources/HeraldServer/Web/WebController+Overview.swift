import Foundation
import HeraldCore
import Hummingbird
import ServiceLifecycle

/// The administrator's overview page; it updates itself from a Server-Sent Events stream of its
/// own body, rendered here (the page works without JavaScript, on reload).
extension WebController {
    /// How often the live overview is sent again.
    static let overviewInterval: Duration = .seconds(2)
    /// How long one live overview stream lasts; the browser reconnects after.
    static let overviewStreamLifetime: Duration = .seconds(3600)

    func addOverviewRoutes(to web: RouterGroup<HeraldRequestContext>) {
        web.get("/admin/overview", use: overviewPage)
        web.get("/admin/overview/events", use: overviewEvents)
        web.get("/admin/audit-log", use: auditLogPage)
    }

    func overviewValues(_ overview: Overview) -> [String: Any] {
        func rate(_ value: Double) -> String { String(format: value < 10 ? "%.2f" : "%.0f", value) }
        func hook(_ line: Overview.HookLine) -> [String: Any] {
            [
                "id": line.hook.id, "url": line.hook.url, "team": line.team?.name ?? "—", "backlog": line.backlog,
                "since": line.hook.failingSince.map(Self.readableTime) ?? "", "code": line.hook.lastResponse.code.map(String.init) ?? "—",
                "error": line.hook.lastResponse.message ?? line.hook.disabledReason ?? "",
                "circuit": line.hook.circuit.openUntil.map { $0 > Date() ? "breaker open until \(Self.readableTime($0))" : "breaker probing" } ?? "",
                "hasCircuit": line.hook.circuit.openUntil != nil,
            ]
        }
        let age = overview.oldestPendingAge.map { age -> String in
            age < 120 ? "\(Int(age)) s" : age < 7200 ? "\(Int(age / 60)) min" : "\(Int(age / 3600)) h"
        }
        return [
            "generated": Self.readableTime(overview.generatedAt), "backlog": overview.backlog, "oldest": age ?? "—",
            "minuteRate": rate(overview.lastMinute.attemptsPerSecond), "minuteFailures": rate(overview.lastMinute.failuresPerSecond),
            "hourRate": rate(overview.lastHour.attemptsPerSecond), "hourFailures": rate(overview.lastHour.failuresPerSecond),
            "failing": overview.failing.map(hook), "noFailing": overview.failing.isEmpty,
            "disabled": overview.disabled.map(hook), "noDisabled": overview.disabled.isEmpty,
            "teams": overview.teamsByBacklog.map { ["name": $0.team.name, "slug": $0.team.slug, "backlog": $0.backlog] as [String: Any] },
            "noTeams": overview.teamsByBacklog.isEmpty, "openFeeds": overview.openFeeds, "replays": overview.replaysRunning,
            "disk": overview.diskFreeBytes.map { ByteCountFormatter.string(fromByteCount: $0, countStyle: .binary) } ?? "—",
            "retentionDays": overview.retention.components.seconds / 86_400, "horizon": Self.readableTime(overview.retentionHorizon),
            "role": overview.role.rawValue, "hasNodes": overview.nodes != nil,
            "nodes": (overview.nodes ?? []).map { node in
                [
                    "host": node.host, "role": node.role, "thisNode": node.id == overview.thisNode,
                    "heartbeat": "\(max(0, Int(overview.generatedAt.timeIntervalSince(node.heartbeatAt)))) s ago", "started": Self.readableTime(node.startedAt),
                ] as [String: Any]
            },
        ]
    }

    @Sendable func overviewPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        return renderer.render("overview", page(signIn, title: "Overview", overviewValues(try await services.overview())))
    }

    /// `text/event-stream`: the page's body, rendered again every ``overviewInterval`` until the
    /// browser leaves, the stream's lifetime is up or the server stops.
    @Sendable func overviewEvents(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let slot = try liveSlot(signIn, team: nil)
        let end = FeedEnd()
        (services.pacing.clientGone(context.connection) ?? context.connectionClosed).whenComplete { _ in end.end() }
        let (services, renderer) = (self.services, self.renderer)
        let body = ResponseBody { writer in
            defer { slot.release() }
            let deadline = ContinuousClock.now + Self.overviewStreamLifetime
            try await withGracefulShutdownHandler {
                while !end.hasEnded, ContinuousClock.now < deadline {
                    let html = renderer.render("overview-body", self.page(signIn, title: "Overview", self.overviewValues(try await services.overview()))).body
                    let event = html.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)" }.joined(separator: "\n") + "\n\n"
                    try await writer.write(ByteBuffer(string: event))
                    // No commit comes after Int64.max: this waits the interval, or less when the stream ends.
                    await services.commits.wait(after: .max, timeout: Self.overviewInterval, end: end)
                }
            } onGracefulShutdown: {
                end.end()
            }
            try await writer.write(ByteBuffer(string: "event: end\ndata: {}\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

}
