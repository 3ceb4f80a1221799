import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: DocumentStore {
    public func createDatabase(_ name: String, now: Date) async throws -> DatabaseInfo {
        do {
            try await write { db in try await db.run("INSERT INTO databases (name, created_at) VALUES (\(name), \(now.unixSeconds))") }
        } catch where error.isUniqueViolation {
            throw StoreError.conflict("a database named \(name) exists")
        }
        return DatabaseInfo(name: name, documentCount: 0, updateSeq: 0, createdAt: now)
    }

    public func database(_ name: String) async throws -> DatabaseInfo? {
        try await read { db in
            guard let created = try await db.value("SELECT created_at FROM databases WHERE name = \(name)", as: Double.self) else { return nil }
            let row = try await db.one(
                "SELECT COUNT(*) FILTER (WHERE NOT deleted) AS n, COALESCE(MAX(seq), 0) AS seq FROM documents WHERE database = \(name)"
            )
            return DatabaseInfo(
                name: name, documentCount: try row?("n", as: Int.self) ?? 0, updateSeq: try row?("seq", as: Int64.self) ?? 0,
                createdAt: Date(timeIntervalSince1970: created)
            )
        }
    }

    public func databaseNames() async throws -> [String] {
        try await read { db in try await db.all("SELECT name FROM databases ORDER BY name").map { try $0("name", as: String.self) } }
    }

    public func deleteDatabase(_ name: String) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM databases WHERE name = \(name) RETURNING name") > 0 }
    }

    public func document(database: String, id: String) async throws -> Document? {
        try await read { db in try await Self.document(database: database, id: id, in: db) }
    }

    public func writeDocument(database: String, id: String, _ write: @Sendable (Document?) throws -> DocumentWrite) async throws -> Document {
        try await self.write { db in try await Self.writeDocument(database: database, id: id, write, in: db) }
    }

    public func writeDocuments(_ writes: [PendingDocumentWrite]) async throws -> [Result<Document, any Error>] {
        guard !writes.isEmpty else { return [] }
        let outcomes: [Outcome] = try await write { db in
            var results: [Outcome] = []
            results.reserveCapacity(writes.count)
            for pending in writes {
                // Each write in its own savepoint: a refused one leaves nothing behind.
                var outcome = Outcome.failure(StoreError.notFound("document"))
                do {
                    try await db.savepoint {
                        do {
                            outcome = .success(try await Self.writeDocument(database: pending.database, id: pending.id, pending.write, in: db))
                        } catch let error as DocumentWriteError {
                            outcome = .failure(error)
                            throw error
                        } catch let error as StoreError {
                            outcome = .failure(error)
                            throw error
                        }
                    }
                } catch is DocumentWriteError {
                } catch is StoreError {
                }
                results.append(outcome)
            }
            return results
        }
        return outcomes.map { outcome in
            switch outcome {
            case .success(let document): .success(document)
            case .failure(let error): .failure(error)
            }
        }
    }

    /// A write's result that can leave the transaction (the errors are the store's own, all Sendable).
    enum Outcome: Sendable {
        case success(Document)
        case failure(any Error & Sendable)
    }

    static func writeDocument(database: String, id: String, _ write: (Document?) throws -> DocumentWrite, in db: SQL) async throws -> Document {
        guard try await db.value("SELECT 1 FROM databases WHERE name = \(database) FOR SHARE", as: Int32.self) != nil else {
            throw StoreError.notFound("database \(database)")
        }
        // The counter first (it orders every writer), then the document's row, locked: two nodes
        // writing one document take turns and the second sees the first's revision.
        _ = try await db.value("SELECT value FROM meta WHERE key = 'event_seq' FOR UPDATE", as: Int64.self)
        let current = try await db.one("SELECT * FROM documents WHERE database = \(database) AND id = \(id) FOR UPDATE").map(document)
        let next = try write(current)
        let appended = try await Self.append([next.event], targetHookID: nil, in: db)
        var document = next.document
        document.seq = appended[0].event.seq
        try await db.run(
            """
            INSERT INTO documents (database, id, rev, body, deleted, seq, channels, history)
            VALUES (\(database), \(id), \(document.revision.description), \(document.body), \(document.deleted), \(document.seq),
                \(encodeStringArray(document.channels)), \(encodeStringArray(document.history.map(\.description))))
            ON CONFLICT (database, id) DO UPDATE SET rev = excluded.rev, body = excluded.body, deleted = excluded.deleted,
                seq = excluded.seq, channels = excluded.channels, history = excluded.history
            """
        )
        return document
    }

    public func changes(database: String, since: Int64, limit: Int, descending: Bool, bodies: Bool) async throws -> [Document] {
        try await read { db in
            let order = descending ? "DESC" : "ASC"
            let columns = bodies ? "*" : "database, id, rev, '{}' AS body, deleted, seq, channels, '[]' AS history"
            return try await db.all(
                "SELECT \(unescaped: columns) FROM documents WHERE database = \(database) AND seq > \(since) ORDER BY seq \(unescaped: order) LIMIT \(limit)"
            ).map(Self.document)
        }
    }

    public func documents(database: String, keys: [String]?, startKey: String?, endKey: String?, limit: Int) async throws -> [Document] {
        try await read { db in
            if let keys {
                var found: [Document] = []
                for key in keys.prefix(limit) {
                    if let document = try await Self.document(database: database, id: key, in: db), !document.deleted { found.append(document) }
                }
                return found
            }
            // Byte order of ids, as the SQLite store and CouchDB's raw collation give.
            return try await db.all(
                """
                SELECT * FROM documents WHERE database = \(database) AND NOT deleted AND id COLLATE "C" >= \(startKey ?? "")
                    AND (\(endKey)::text IS NULL OR id COLLATE "C" <= \(endKey)) ORDER BY id COLLATE "C" LIMIT \(limit)
                """
            ).map(Self.document)
        }
    }

    public func localDocument(database: String, id: String) async throws -> LocalDocument? {
        try await read { db in try await Self.localDocument(database: database, id: id, in: db) }
    }

    public func localDocumentCount(database: String, idPrefix: String) async throws -> Int {
        try await read { db in
            try await db.value(
                "SELECT COUNT(*) FROM local_documents WHERE database = \(database) AND substr(id, 1, \(Int32(idPrefix.count))) = \(idPrefix)", as: Int.self
            ) ?? 0
        }
    }

    public func writeLocalDocument(
        database: String, id: String, _ write: @Sendable (LocalDocument?) throws -> LocalDocument?
    ) async throws -> LocalDocument? {
        try await self.write { db in
            guard try await db.value("SELECT 1 FROM databases WHERE name = \(database) FOR SHARE", as: Int32.self) != nil else {
                throw StoreError.notFound("database \(database)")
            }
            let current = try await db.one("SELECT id, rev, body FROM local_documents WHERE database = \(database) AND id = \(id) FOR UPDATE")
            guard let next = try write(try current.map(Self.localDocument)) else {
                try await db.run("DELETE FROM local_documents WHERE database = \(database) AND id = \(id)")
                return nil
            }
            try await db.run(
                """
                INSERT INTO local_documents (database, id, rev, body) VALUES (\(database), \(id), \(next.revision), \(next.body))
                ON CONFLICT (database, id) DO UPDATE SET rev = excluded.rev, body = excluded.body
                """
            )
            return next
        }
    }

    static func localDocument(database: String, id: String, in db: SQL) async throws -> LocalDocument? {
        try await db.one("SELECT id, rev, body FROM local_documents WHERE database = \(database) AND id = \(id)").map(localDocument)
    }

    static func localDocument(_ row: PGRow) throws -> LocalDocument {
        LocalDocument(id: try row("id"), revision: try row("rev"), body: try row("body"))
    }

    static func document(database: String, id: String, in db: SQL) async throws -> Document? {
        try await db.one("SELECT * FROM documents WHERE database = \(database) AND id = \(id)").map(document)
    }

    static func document(_ row: PGRow) throws -> Document {
        Document(
            database: try row("database"), id: try row("id"), revision: Revision(try row("rev", as: String.self)) ?? Revision(generation: 1, digest: "0"),
            body: try row("body"), deleted: try row("deleted"), seq: try row("seq"), channels: try row.stringArray("channels"),
            history: try row.stringArray("history").compactMap(Revision.init)
        )
    }
}

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

extension PostgresStore {
    /// One node prunes at a time (a try-lock per step; a node that finds it held prunes nothing
    /// this turn), in short transactions so writers never wait long behind retention.
    public func prune(before cutoff: Date, limit: Int) async throws -> PruneResult {
        var result = PruneResult()
        let before = cutoff.unixSeconds
        result.deliveries = try await write { db in
            guard try await db.tryLock("prune") else { return 0 }
            return try await db.run(
                """
                DELETE FROM deliveries WHERE pk IN (
                    SELECT pk FROM deliveries WHERE status IN ('succeeded', 'skipped') AND created_at < \(before) LIMIT \(limit))
                RETURNING pk
                """
            )
        }
        result.attemptBodies = try await write { db in
            guard try await db.tryLock("prune") else { return 0 }
            return try await db.run(
                """
                UPDATE attempts SET request_body = '', response_body = NULL
                WHERE id IN (SELECT id FROM attempts WHERE started_at < \(before) AND (request_body != '' OR response_body IS NOT NULL) LIMIT \(limit))
                RETURNING id
                """
            )
        }
        result.events = try await write { db in
            guard try await db.tryLock("prune") else { return 0 }
            return try await db.run(
                """
                DELETE FROM events WHERE seq IN (
                    SELECT e.seq FROM events e
                    WHERE e.created_at < \(before) AND e.seq <= (SELECT value FROM meta WHERE key = 'fanout_seq')
                      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)
                    LIMIT \(limit))
                RETURNING seq
                """
            )
        }
        return result
    }
}
