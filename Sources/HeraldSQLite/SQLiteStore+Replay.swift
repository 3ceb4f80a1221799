import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: ReplayStore {
    public func createReplayJob(hookID: Int64, since: Date, until: Date?, onlyFailed: Bool, now: Date) async throws -> ReplayJob {
        try await pool.write { db in
            let from = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM events WHERE created_at >= ?", arguments: [since.unixSeconds])
            let to = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events WHERE created_at < ?", arguments: [(until ?? .distantFuture).unixSeconds])
            // An empty range is a job that is done at once.
            let fromSeq = from ?? 1
            let toSeq = max(to ?? 0, fromSeq - 1)
            let state: JobState = toSeq < fromSeq ? .done : .running
            try db.execute(
                sql: """
                    INSERT INTO replay_jobs (hook_id, since, until, only_failed, state, from_seq, to_seq, cursor, queued, created_at, finished_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
                    """,
                arguments: [
                    hookID, since.unixSeconds, until?.unixSeconds, onlyFailed, state.rawValue, fromSeq, toSeq, fromSeq - 1, now.unixSeconds,
                    state == .done ? now.unixSeconds : nil,
                ]
            )
            if state == .running { raise(.replays, in: db) }
            return try Self.replayJob(id: db.lastInsertedRowID, in: db)!
        }
    }

    public func replayJob(id: Int64) async throws -> ReplayJob? {
        try await pool.read { db in try Self.replayJob(id: id, in: db) }
    }

    public func replayJobs(state: JobState) async throws -> [ReplayJob] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM replay_jobs WHERE state = ? ORDER BY id", arguments: [state.rawValue]).map(Self.replayJob)
        }
    }

    public func cancelReplayJob(id: Int64, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE replay_jobs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'running'", arguments: [now.unixSeconds, id]
            )
            return db.changesCount > 0
        }
    }

    public func replayEvents(for job: ReplayJob, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(Self.eventColumns) FROM events WHERE seq > ? AND seq <= ? AND target_hook_id IS NULL ORDER BY seq LIMIT ?"
                ),
                arguments: [job.cursor, job.toSeq, limit]
            ).map(Self.indexedEvent)
        }
    }

    public func commitReplay(_ job: ReplayJob, seqs: [Int64], through: Int64, now: Date) async throws -> Int? {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE replay_jobs SET cursor = ? WHERE id = ? AND state = 'running' AND cursor = ?", arguments: [through, job.id, job.cursor]
            )
            guard db.changesCount == 1, let teamID = try Int64.fetchOne(db, sql: "SELECT team_id FROM hooks WHERE id = ?", arguments: [job.hookID])
            else { return nil }
            let existing = try db.cachedStatement(sql: "SELECT * FROM deliveries WHERE hook_id = ? AND event_seq = ? ORDER BY pk DESC LIMIT 1")
            let update = try db.cachedStatement(sql: "UPDATE deliveries SET status = ?, attempts_in_run = ?, redelivery = ?, next_attempt_at = ? WHERE pk = ?")
            var queued = 0
            for seq in seqs {
                if let row = try Row.fetchOne(existing, arguments: [job.hookID, seq]) {
                    let stored = Self.stored(row)
                    if job.onlyFailed && stored.status != .failed { continue }
                    guard let next = Requeue.replay.apply(to: stored, now: now) else { continue }  // in flight: already being sent
                    try update.execute(arguments: [next.status.rawValue, next.attemptsInRun, next.redelivery, next.nextAttemptAt?.unixSeconds, row["pk"] as Int64])
                } else {
                    if job.onlyFailed { continue }
                    try Self.insert(.event(hookID: job.hookID, teamID: teamID, eventSeq: seq, now: now), now: now, in: db)
                }
                queued += 1
            }
            if queued > 0 { raise(.deliveries, in: db) }
            let finished = through >= job.toSeq
            try db.execute(
                sql: "UPDATE replay_jobs SET queued = queued + ?, state = ?, finished_at = ? WHERE id = ?",
                arguments: [queued, finished ? JobState.done.rawValue : JobState.running.rawValue, finished ? now.unixSeconds : nil, job.id]
            )
            return queued
        }
    }

    static func replayJob(id: Int64, in db: Database) throws -> ReplayJob? {
        try Row.fetchOne(db, sql: "SELECT * FROM replay_jobs WHERE id = ?", arguments: [id]).map(replayJob)
    }

    static func replayJob(_ row: Row) -> ReplayJob {
        ReplayJob(
            id: row["id"], hookID: row["hook_id"], since: row.date("since"), until: row.optionalDate("until"), onlyFailed: row.bool("only_failed"),
            state: JobState(rawValue: row["state"]) ?? .done, fromSeq: row["from_seq"], toSeq: row["to_seq"], cursor: row["cursor"],
            queued: row["queued"], createdAt: row.date("created_at"), finishedAt: row.optionalDate("finished_at")
        )
    }
}
