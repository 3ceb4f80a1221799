import Foundation
import HeraldCore
import PostgresNIO

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
