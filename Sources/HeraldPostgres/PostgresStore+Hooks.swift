import Foundation
import HeraldCore
import PostgresNIO

extension PostgresStore: HookStore {
    public func createHook(teamID: Int64, settings: HookSettings, keys: HookKeys, now: Date) async throws -> (hook: Hook, pingDeliveryID: String?) {
        let created: (Hook, String?) = try await write { db in
            // Under the counter's lock: no event can commit below this hook's starting point later.
            let lastSeq = try await db.value("SELECT value FROM meta WHERE key = 'event_seq' FOR UPDATE", as: Int64.self) ?? 0
            let id = try await db.value(
                """
                INSERT INTO hooks (team_id, url, content_type, secret, events, channels, active, insecure_ssl, timeout_seconds, ordering,
                    signature, created_at, updated_at, last_response_status, created_after_seq, signing_key, public_key,
                    filter, transform, payload_format, max_in_flight, managed_key, credentials, mode, sync_page_size, sync_period, sync_cursor,
                    github_headers, delivery_policy)
                VALUES (\(teamID), \(settings.url), \(settings.contentType.rawValue), \(keys.encryptedSecret), \(encodeStringArray(settings.events)),
                    \(encodeStringArray(settings.channels)), \(settings.active), \(settings.insecureSSL), \(settings.timeoutSeconds),
                    \(settings.ordering.rawValue), \(settings.signature.rawValue), \(now.unixSeconds), \(now.unixSeconds), 'unused', \(lastSeq),
                    \(keys.encryptedSigningKey), \(keys.publicKey), \(settings.filter), \(settings.transform), \(settings.payloadFormat.rawValue),
                    \(settings.maxInFlight), \(settings.managedKey), \(keys.encryptedCredentials), \(settings.mode.rawValue), \(settings.sync.pageSize),
                    \(settings.sync.periodSeconds), \(settings.sync.cursor), \(settings.githubHeaders), \(settings.policy.stored))
                RETURNING id
                """,
                as: Int64.self
            )!
            try await Self.hooksChanged(db)
            // A hook from the config file stands for a Sync Gateway handler: its receiver expects documents only.
            let pingID = settings.managedKey == nil && settings.mode == .push ? try await Self.queuePing(hookID: id, teamID: teamID, now: now, in: db) : nil
            let hook = try Self.hook(try await db.one("SELECT * FROM hooks WHERE id = \(id)")!)
            return (hook, pingID)
        }
        return (created.0, created.1)
    }

    public func hook(id: Int64) async throws -> Hook? {
        try await read { db in try await db.one("SELECT * FROM hooks WHERE id = \(id)").map(Self.hook) }
    }

    public func hooks(teamID: Int64?) async throws -> [Hook] {
        try await read { db in
            if let teamID { return try await db.all("SELECT * FROM hooks WHERE team_id = \(teamID) ORDER BY id").map(Self.hook) }
            return try await db.all("SELECT * FROM hooks ORDER BY id").map(Self.hook)
        }
    }

    public func updateHook(_ hook: Hook, now: Date) async throws -> Hook {
        try await write { db in
            guard
                let row = try await db.one(
                    """
                    UPDATE hooks SET url = \(hook.url), content_type = \(hook.contentType.rawValue), secret = \(hook.encryptedSecret),
                        events = \(encodeStringArray(hook.events)), channels = \(encodeStringArray(hook.channels)), active = \(hook.active),
                        insecure_ssl = \(hook.insecureSSL), timeout_seconds = \(hook.timeoutSeconds), ordering = \(hook.ordering.rawValue),
                        signature = \(hook.signature.rawValue), disabled_reason = \(hook.disabledReason), failing_since = \(hook.failingSince?.unixSeconds),
                        updated_at = \(now.unixSeconds), signing_key = \(hook.encryptedSigningKey), public_key = \(hook.publicKey),
                        previous_secret = \(hook.encryptedPreviousSecret), previous_secret_expires_at = \(hook.previousSecretExpiresAt?.unixSeconds),
                        filter = \(hook.filter), transform = \(hook.transform), payload_format = \(hook.payloadFormat.rawValue),
                        max_in_flight = \(hook.maxInFlight), credentials = \(hook.encryptedCredentials), sync_page_size = \(hook.sync.pageSize),
                        sync_period = \(hook.sync.periodSeconds), github_headers = \(hook.githubHeaders),
                        delivery_policy = \(hook.policy.stored), breaker_failures = \(hook.circuit.failures),
                        breaker_open_until = \(hook.circuit.openUntil?.unixSeconds), breaker_cooldown = \(hook.circuit.cooldownSeconds)
                    WHERE id = \(hook.id) RETURNING *
                    """
                )
            else { throw StoreError.notFound("hook \(hook.id)") }
            try await Self.hooksChanged(db)
            if hook.active { try await db.notify(.deliveries) }
            return try Self.hook(row)
        }
    }

    public func deleteHook(id: Int64) async throws -> Bool {
        try await write { db in
            let deleted = try await db.run("DELETE FROM hooks WHERE id = \(id) RETURNING id") > 0
            if deleted { try await Self.hooksChanged(db) }
            return deleted
        }
    }

    static func hook(_ row: PGRow) throws -> Hook {
        var hook = Hook(
            id: try row("id"), teamID: try row("team_id"), url: try row("url"), contentType: ContentType(rawValue: try row("content_type")) ?? .json,
            encryptedSecret: try row("secret"), events: try row.stringArray("events"), channels: try row.stringArray("channels"),
            active: try row("active"), insecureSSL: try row("insecure_ssl"), timeoutSeconds: try row("timeout_seconds"),
            ordering: Ordering(rawValue: try row("ordering")) ?? .none, signature: SignatureScheme(rawValue: try row("signature")) ?? .hmac,
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            lastResponse: LastResponse(
                code: try row("last_response_code"), status: try row("last_response_status"),
                message: try row("last_response_message")
            ),
            disabledReason: try row("disabled_reason"), createdAfterSeq: try row("created_after_seq"), failingSince: try row.optionalDate("failing_since"),
            encryptedSigningKey: try row("signing_key"), publicKey: try row("public_key"), encryptedPreviousSecret: try row("previous_secret"),
            previousSecretExpiresAt: try row.optionalDate("previous_secret_expires_at"), filter: try row("filter"), transform: try row("transform"),
            payloadFormat: PayloadFormat(rawValue: try row("payload_format")) ?? .event,
            maxInFlight: try row("max_in_flight"), managedKey: try row("managed_key"),
            encryptedCredentials: try row("credentials")
        )
        hook.mode = HookMode(rawValue: try row("mode")) ?? .push
        hook.sync.pageSize = try row("sync_page_size")
        hook.sync.periodSeconds = try row("sync_period")
        hook.sync.cursor = try row("sync_cursor")
        hook.sync.requestedAt = try row.optionalDate("sync_requested_at")
        hook.sync.lastSyncedAt = try row.optionalDate("last_synced_at")
        hook.githubHeaders = try row("github_headers")
        hook.policy = DeliveryPolicy(stored: try row("delivery_policy"))
        hook.circuit = CircuitState(
            failures: try row("breaker_failures"), openUntil: try row.optionalDate("breaker_open_until"), cooldownSeconds: try row("breaker_cooldown")
        )
        return hook
    }
}
