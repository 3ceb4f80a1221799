import Foundation
import HeraldCore
import Hummingbird

/// Replays: `POST /api/hooks/{id}/replay` queues again every event the hook matches in a time range,
/// as a job whose progress `GET /api/jobs/{id}` shows and `DELETE /api/jobs/{id}` cancels.
struct ReplayController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/hooks/{id}/replay", use: create)
        router.get("/api/jobs/{job}", use: show)
        router.delete("/api/jobs/{job}", use: cancel)
    }

    static func json(_ job: ReplayJob) -> JSONValue {
        .object([
            ("id", .int(job.id)), ("kind", .string("replay")), ("hook_id", .int(job.hookID)), ("state", .string(job.state.rawValue)),
            ("since", .string(Timestamp.string(job.since))), ("until", job.until.map { .string(Timestamp.string($0)) } ?? .null),
            ("status", .string(job.onlyFailed ? "failed" : "all")), ("total", .int(Int64(job.total))), ("done", .int(Int64(job.done))),
            ("percent", .int(Int64(job.percent))), ("queued", .int(Int64(job.queued))), ("created_at", .string(Timestamp.string(job.createdAt))),
            ("finished_at", job.finishedAt.map { .string(Timestamp.string($0)) } ?? .null), ("url", .string("/api/jobs/\(job.id)")),
        ])
    }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["since", "until", "status"])
        let since = Self.date(&reader, "since", required: true)
        let until = Self.date(&reader, "until", required: false)
        if let since, let until, until <= since { reader.fail("until", "must be after since") }
        var onlyFailed = false
        if let status = reader.string("status", maxLength: 16) {
            if !["failed", "all"].contains(status) { reader.fail("status", "must be failed (only failed deliveries) or all") }
            onlyFailed = status == "failed"
        }
        try reader.check()
        let job = try await services.startReplay(hookID: hook.id, since: since!, until: until, onlyFailed: onlyFailed)
        return JSONResponse(status: .accepted, body: Self.json(job), headers: [.location: "/api/jobs/\(job.id)"])
    }

    static func date(_ reader: inout FieldReader, _ key: String, required: Bool) -> Date? {
        guard let text = reader.string(key, required: required, maxLength: 64) else { return nil }
        guard let date = Timestamp.parse(text) else {
            reader.fail(key, "must be an RFC 3339 timestamp (2026-11-25T10:00:00Z)")
            return nil
        }
        return date
    }

    /// The job, if the caller may see its hook.
    func visibleJob(_ context: HeraldRequestContext) async throws -> ReplayJob {
        let principal = try context.require(.team, .admin)
        guard let id = context.parameters.get("job").flatMap(Int64.init), let job = try await store.replayJob(id: id) else {
            throw Problem.notFound("No such job.")
        }
        _ = try await services.visibleHook(String(job.hookID), for: principal)
        return job
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        Self.json(try await visibleJob(context))
    }

    @Sendable func cancel(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let job = try await visibleJob(context)
        _ = try await store.cancelReplayJob(id: job.id, now: Date())
        return Self.json(try await store.replayJob(id: job.id) ?? job)
    }
}

extension HeraldServices {
    /// Creates a replay job for the hook and starts it.
    /// Refuses (429) while the hook's team already runs ``HeraldConfiguration/maxReplaysPerTeam``
    /// replays: replays take turns, so one team's many replays would slow every other team's.
    func startReplay(hookID: Int64, since: Date, until: Date?, onlyFailed: Bool) async throws -> ReplayJob {
        if let hook = try await store.hook(id: hookID) {
            let teamHooks = Set(try await store.hooks(teamID: hook.teamID).map(\.id))
            let running = try await store.replayJobs(state: .running).filter { teamHooks.contains($0.hookID) }.count
            if running >= configuration.maxReplaysPerTeam {
                var problem = Problem(
                    status: .tooManyRequests, type: "/problems/replays-running", title: "Too many replays running",
                    detail: "The team already runs \(running) replays, the most it may run at once; start this one when one of them has finished."
                )
                problem.headers[.retryAfter] = "10"
                throw problem
            }
        }
        let job = try await store.createReplayJob(hookID: hookID, since: since, until: until, onlyFailed: onlyFailed, now: Date())
        try await store.audit(
            "hook.replay-started", target: "hook \(hookID)", teamID: try await store.hook(id: hookID)?.teamID,
            changes: .object([
                ("job", .int(job.id)), ("since", since.json), ("until", until?.json ?? .null), ("only_failed", .bool(onlyFailed)),
            ])
        )
        return job
    }
}
