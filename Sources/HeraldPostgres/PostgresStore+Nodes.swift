import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: NodeRegistry {
    public func heartbeat(_ node: NodeInfo) async throws {
        try await write { db in
            // Nodes silent for a day are forgotten.
            try await db.run("DELETE FROM nodes WHERE heartbeat_at < \(node.heartbeatAt.unixSeconds - 86_400)")
            try await db.run(
                """
                INSERT INTO nodes (id, role, host, started_at, heartbeat_at)
                VALUES (\(node.id), \(node.role), \(node.host), \(node.startedAt.unixSeconds), \(node.heartbeatAt.unixSeconds))
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, role = excluded.role
                """
            )
        }
    }

    public func nodes(since: Date) async throws -> [NodeInfo] {
        try await read { db in
            try await db.all("SELECT * FROM nodes WHERE heartbeat_at >= \(since.unixSeconds) ORDER BY heartbeat_at DESC").map { row in
                NodeInfo(
                    id: try row("id"), role: try row("role"), host: try row("host"), startedAt: try row.date("started_at"),
                    heartbeatAt: try row.date("heartbeat_at")
                )
            }
        }
    }
}
