import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: HookStore {
    public func createHook(teamID: Int64, settings: HookSettings, keys: HookKeys, now: Date) async throws -> (hook: Hook, pingDeliveryID: String?) {
        try await pool.write { db in
            let lastSeq = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'event_seq'") ?? 0
            try db.execute(
                sql: """
                    INSERT INTO hooks (team_id, url, content_type, secret, events, channels, active, insecure_ssl, timeout_seconds, ordering,
                        signature, created_at, updated_at, last_response_status, created_after_seq, signing_key, public_key,
                        filter, transform, payload_format, max_in_flight, managed_key, credentials, mode, sync_page_size, sync_period, sync_cursor,
                        github_headers, delivery_policy)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unused', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    teamID, settings.url, settings.contentType.rawValue, keys.encryptedSecret, encodeStringArray(settings.events),
                    encodeStringArray(settings.channels), settings.active, settings.insecureSSL, settings.timeoutSeconds,
                    settings.ordering.rawValue, settings.signature.rawValue, now.unixSeconds, now.unixSeconds, lastSeq,
                    keys.encryptedSigningKey, keys.publicKey, settings.filter, settings.transform, settings.payloadFormat.rawValue,
                    settings.maxInFlight, settings.managedKey, keys.encryptedCredentials, settings.mode.rawValue, settings.sync.pageSize,
                    settings.sync.periodSeconds, settings.sync.cursor, settings.githubHeaders, settings.policy.stored,
                ]
            )
            let id = db.lastInsertedRowID
            try Self.hooksChanged(db)
            // A hook from the config file stands for a Sync Gateway handler: its receiver expects documents only.
            let pingID = settings.managedKey == nil && settings.mode == .push ? try Self.queuePing(hookID: id, teamID: teamID, now: now, in: db) : nil
            if pingID != nil { raise(.deliveries, in: db) }
            let hook = try Row.fetchOne(db, sql: "SELECT * FROM hooks WHERE id = ?", arguments: [id]).map(Self.hook)!
            return (hook, pingID)
        }
    }

    public func hook(id: Int64) async throws -> Hook? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM hooks WHERE id = ?", arguments: [id]).map(Self.hook) }
    }

    public func hooks(teamID: Int64?) async throws -> [Hook] {
        try await pool.read { db in
            if let teamID {
                return try Row.fetchAll(db, sql: "SELECT * FROM hooks WHERE team_id = ? ORDER BY id", arguments: [teamID]).map(Self.hook)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM hooks ORDER BY id").map(Self.hook)
        }
    }

    public func updateHook(_ hook: Hook, now: Date) async throws -> Hook {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE hooks SET url = ?, content_type = ?, secret = ?, events = ?, channels = ?, active = ?, insecure_ssl = ?,
                        timeout_seconds = ?, ordering = ?, signature = ?, disabled_reason = ?, failing_since = ?, updated_at = ?,
                        signing_key = ?, public_key = ?, previous_secret = ?, previous_secret_expires_at = ?, filter = ?, transform = ?,
                        payload_format = ?, max_in_flight = ?, credentials = ?, sync_page_size = ?, sync_period = ?, github_headers = ?,
                        delivery_policy = ?, breaker_failures = ?, breaker_open_until = ?, breaker_cooldown = ?
                    WHERE id = ?
                    """,
                arguments: [
                    hook.url, hook.contentType.rawValue, hook.encryptedSecret, encodeStringArray(hook.events), encodeStringArray(hook.channels),
                    hook.active, hook.insecureSSL, hook.timeoutSeconds, hook.ordering.rawValue, hook.signature.rawValue, hook.disabledReason,
                    hook.failingSince?.unixSeconds, now.unixSeconds, hook.encryptedSigningKey, hook.publicKey, hook.encryptedPreviousSecret,
                    hook.previousSecretExpiresAt?.unixSeconds, hook.filter, hook.transform, hook.payloadFormat.rawValue, hook.maxInFlight, hook.encryptedCredentials, hook.sync.pageSize, hook.sync.periodSeconds, hook.githubHeaders, hook.policy.stored,
                    hook.circuit.failures, hook.circuit.openUntil?.unixSeconds, hook.circuit.cooldownSeconds, hook.id,
                ]
            )
            try Self.hooksChanged(db)
            // Turned on (or changed while on): its waiting deliveries may go.
            if hook.active { raise(.deliveries, in: db) }
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM hooks WHERE id = ?", arguments: [hook.id]) else {
                throw StoreError.notFound("hook \(hook.id)")
            }
            return Self.hook(row)
        }
    }

    public func deleteHook(id: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM hooks WHERE id = ?", arguments: [id])
            let deleted = db.changesCount > 0
            if deleted { try Self.hooksChanged(db) }
            return deleted
        }
    }

    static func hook(_ row: Row) -> Hook {
        var hook = Hook(
            id: row["id"], teamID: row["team_id"], url: row["url"], contentType: ContentType(rawValue: row["content_type"]) ?? .json,
            encryptedSecret: row["secret"], events: row.stringArray("events"), channels: row.stringArray("channels"),
            active: row.bool("active"), insecureSSL: row.bool("insecure_ssl"), timeoutSeconds: row["timeout_seconds"],
            ordering: Ordering(rawValue: row["ordering"]) ?? .none, signature: SignatureScheme(rawValue: row["signature"]) ?? .hmac,
            createdAt: row.date("created_at"), updatedAt: row.date("updated_at"),
            lastResponse: LastResponse(code: row["last_response_code"], status: row["last_response_status"], message: row["last_response_message"]),
            disabledReason: row["disabled_reason"], createdAfterSeq: row["created_after_seq"], failingSince: row.optionalDate("failing_since"),
            encryptedSigningKey: row["signing_key"], publicKey: row["public_key"], encryptedPreviousSecret: row["previous_secret"],
            previousSecretExpiresAt: row.optionalDate("previous_secret_expires_at"), filter: row["filter"], transform: row["transform"],
            payloadFormat: PayloadFormat(rawValue: row["payload_format"]) ?? .event, maxInFlight: row["max_in_flight"], managedKey: row["managed_key"],
            encryptedCredentials: row["credentials"]
        )
        hook.mode = HookMode(rawValue: row["mode"]) ?? .push
        hook.sync.pageSize = row["sync_page_size"]
        hook.sync.periodSeconds = row["sync_period"]
        hook.sync.cursor = row["sync_cursor"]
        hook.sync.requestedAt = row.optionalDate("sync_requested_at")
        hook.sync.lastSyncedAt = row.optionalDate("last_synced_at")
        hook.githubHeaders = row.bool("github_headers")
        hook.policy = DeliveryPolicy(stored: row["delivery_policy"])
        hook.circuit = CircuitState(failures: row["breaker_failures"], openUntil: row.optionalDate("breaker_open_until"), cooldownSeconds: row["breaker_cooldown"])
        return hook
    }
}
