import Foundation
import PostgresNIO

extension PostgresStore {
    /// For each delivery's first attempt, the seconds from the delivery's creation (fan-out) to the
    /// attempt's start: how long work waited to be claimed (`herald bench --nodes`).
    public func firstAttemptWaits() async throws -> [Double] {
        try await read { db in
            try await db.all("SELECT a.started_at - d.created_at AS wait FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.number = 1")
                .map { try $0("wait", as: Double.self) }
        }
    }
}
