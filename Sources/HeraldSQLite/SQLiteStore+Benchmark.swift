import Foundation
import GRDB
import HeraldCore

extension SQLiteStore {
    /// Writes `events` old events, each with a delivered delivery to `hookID` and its attempt, as
    /// a store that has run for a while holds them (`herald bench --prefill`). Plain bulk inserts
    /// in large transactions; the fan-out cursor ends past them.
    public func prefillForBenchmark(events: Int, hookID: Int64, teamID: Int64, now: Date = Date()) async throws {
        let chunk = 50_000
        var done = 0
        while done < events {
            let (count, first) = (min(chunk, events - done), done)
            try await pool.write { db in
                var seq = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'event_seq'") ?? 0
                let event = try db.cachedStatement(
                    sql: "INSERT INTO events (seq, id, type, data, channels, target_hook_id, created_at) VALUES (?, ?, 'bench.old', ?, '[]', NULL, ?)"
                )
                let delivery = try db.cachedStatement(
                    sql: """
                        INSERT INTO deliveries (id, hook_id, team_id, event_seq, status, attempts_in_run, redelivery, retries, next_attempt_at,
                            total_attempts, last_status_code, last_duration_ms, delivered_at, created_at)
                        VALUES (?, ?, ?, ?, 'succeeded', 1, 0, 1, NULL, 1, 200, 2, ?, ?)
                        """
                )
                let attempt = try db.cachedStatement(
                    sql: """
                        INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, url, request_headers, request_body,
                            response_status, response_headers, response_body)
                        VALUES (?, 1, 'first', ?, 2, 'http://127.0.0.1/old', '[["Content-Type","application/json"]]', ?, 200, '[]', 'ok')
                        """
                )
                let time = now.addingTimeInterval(-86_400).unixSeconds
                for index in 0..<count {
                    seq += 1
                    let data = #"{"n":\#(first + index),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#
                    try event.execute(arguments: [seq, "evt_old\(seq)", data, time])
                    let id = Identifier.deliveryID()
                    try delivery.execute(arguments: [id, hookID, teamID, seq, time, time])
                    try attempt.execute(arguments: [id, time, data])
                }
                try db.execute(sql: "UPDATE meta SET value = ? WHERE key IN ('event_seq', 'fanout_seq')", arguments: [seq])
            }
            done += count
        }
    }
}

extension SQLiteStore {
    /// For each delivery's first attempt, the seconds from the delivery's creation (fan-out) to the
    /// attempt's start: how long work waited to be claimed (`herald bench --nodes`).
    public func firstAttemptWaits() async throws -> [Double] {
        try await pool.read { db in
            try Double.fetchAll(
                db, sql: "SELECT a.started_at - d.created_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.number = 1"
            )
        }
    }
}
