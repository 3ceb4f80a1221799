import Foundation
import GRDB
import HeraldCore

extension SQLiteStore {
    public func prune(before cutoff: Date, limit: Int) async throws -> PruneResult {
        var result = PruneResult()
        let before = cutoff.unixSeconds
        // Three short transactions: a writer never waits long behind retention.
        result.deliveries = try await pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM deliveries WHERE pk IN (
                        SELECT pk FROM deliveries WHERE status IN ('succeeded', 'skipped') AND created_at < ? LIMIT ?)
                    """,
                arguments: [before, limit]
            )
            return db.changesCount
        }
        result.attemptBodies = try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE attempts SET request_body = '', response_body = NULL
                    WHERE id IN (SELECT id FROM attempts WHERE started_at < ? AND (request_body != '' OR response_body IS NOT NULL) LIMIT ?)
                    """,
                arguments: [before, limit]
            )
            return db.changesCount
        }
        result.events = try await pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM events WHERE seq IN (
                        SELECT e.seq FROM events e
                        WHERE e.created_at < ? AND e.seq <= (SELECT value FROM meta WHERE key = 'fanout_seq')
                          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)
                        LIMIT ?)
                    """,
                arguments: [before, limit]
            )
            return db.changesCount
        }
        return result
    }
}
