import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: ReplayStore {
    public func createReplayJob(hookID: Int64, since: Date, until: Date?, onlyFailed: Bool, now: Date) async throws -> ReplayJob {
        try await write { db in
            let from = try await db.value("SELECT MIN(seq) FROM events WHERE created_at >= \(since.unixSeconds)", as: Int64.self)
            let to = try await db.value("SELECT MAX(seq) FROM events WHERE created_at < \((until ?? .distantFuture).unixSeconds)", as: Int64.self)
            // An empty range is a job that is done at once.
            let fromSeq = from ?? 1
            let toSeq = max(to ?? 0, fromSeq - 1)
            let state: JobState = toSeq < fromSeq ? .done : .running
            let row = try await db.one(
                """
                INSERT INTO replay_jobs (hook_id, since, until, only_failed, state, from_seq, to_seq, cursor, queued, created_at, finished_at)
                VALUES (\(hookID), \(since.unixSeconds), \(until?.unixSeconds), \(onlyFailed), \(state.rawValue), \(fromSeq), \(toSeq), \(fromSeq - 1), 0,
                    \(now.unixSeconds), \(state == .done ? now.unixSeconds : nil))
                RETURNING *
                """
            )!
            if state == .running { try await db.notify(.replays) }
            return try Self.replayJob(row)
        }
    }

    public func replayJob(id: Int64) async throws -> ReplayJob? {
        try await read { db in try await db.one("SELECT * FROM replay_jobs WHERE id = \(id)").map(Self.replayJob) }
    }

    public func replayJobs(state: JobState) async throws -> [ReplayJob] {
        try await read { db in try await db.all("SELECT * FROM replay_jobs WHERE state = \(state.rawValue) ORDER BY id").map(Self.replayJob) }
    }

    public func cancelReplayJob(id: Int64, now: Date) async throws -> Bool {
        try await write { db in
            try await db.run(
                "UPDATE replay_jobs SET state = 'cancelled', finished_at = \(now.unixSeconds) WHERE id = \(id) AND state = 'running' RETURNING id"
            ) > 0
        }
    }

    public func replayEvents(for job: ReplayJob, limit: Int) async throws -> [Event] {
        try await read { db in
            try await db.all(
                "SELECT * FROM events WHERE seq > \(job.cursor) AND seq <= \(job.toSeq) AND target_hook_id IS NULL ORDER BY seq LIMIT \(limit)"
            ).map(Self.event)
        }
    }

    /// A step is taken once, whichever node takes it: the job's cursor moves by compare-and-set.
    public func commitReplay(_ job: ReplayJob, seqs: [Int64], through: Int64, now: Date) async throws -> Int? {
        try await write { db in
            guard
                try await db.run(
                    "UPDATE replay_jobs SET cursor = \(through) WHERE id = \(job.id) AND state = 'running' AND cursor = \(job.cursor) RETURNING id"
                ) == 1,
                let teamID = try await db.value("SELECT team_id FROM hooks WHERE id = \(job.hookID)", as: Int64.self)
            else { return nil }
            var queued = 0
            for seq in seqs {
                if let row = try await db.one(
                    "SELECT * FROM deliveries WHERE hook_id = \(job.hookID) AND event_seq = \(seq) ORDER BY pk DESC LIMIT 1 FOR UPDATE"
                ) {
                    let stored = try Self.stored(row)
                    if job.onlyFailed && stored.status != .failed { continue }
                    guard let next = Requeue.replay.apply(to: stored, now: now) else { continue }  // in flight: already being sent
                    try await db.run(
                        """
                        UPDATE deliveries SET status = \(next.status.rawValue), attempts_in_run = \(next.attemptsInRun),
                            redelivery = \(next.redelivery), next_attempt_at = \(next.nextAttemptAt?.unixSeconds) WHERE pk = \(try row("pk", as: Int64.self))
                        """
                    )
                } else {
                    if job.onlyFailed { continue }
                    try await Self.insert(.event(hookID: job.hookID, teamID: teamID, eventSeq: seq, now: now), now: now, in: db)
                }
                queued += 1
            }
            let finished = through >= job.toSeq
            try await db.run(
                """
                UPDATE replay_jobs SET queued = queued + \(queued), state = \(finished ? JobState.done.rawValue : JobState.running.rawValue),
                    finished_at = \(finished ? now.unixSeconds : nil) WHERE id = \(job.id)
                """
            )
            if queued > 0 { try await db.notify(.deliveries) }
            return queued
        }
    }

    static func replayJob(_ row: PGRow) throws -> ReplayJob {
        ReplayJob(
            id: try row("id"), hookID: try row("hook_id"), since: try row.date("since"), until: try row.optionalDate("until"),
            onlyFailed: try row("only_failed"), state: JobState(rawValue: try row("state")) ?? .done, fromSeq: try row("from_seq"),
            toSeq: try row("to_seq"), cursor: try row("cursor"), queued: try row("queued"), createdAt: try row.date("created_at"),
            finishedAt: try row.optionalDate("finished_at")
        )
    }
}
