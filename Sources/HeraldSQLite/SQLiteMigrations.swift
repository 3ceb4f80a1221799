import GRDB

/// The schema, as append-only numbered migrations. Never edit a shipped migration: add one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001_core") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (
                        key TEXT PRIMARY KEY,
                        value INTEGER NOT NULL
                    );
                    INSERT INTO meta (key, value) VALUES ('event_seq', 0), ('fanout_seq', 0);

                    CREATE TABLE teams (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        slug TEXT NOT NULL UNIQUE,
                        created_at REAL NOT NULL
                    );

                    CREATE TABLE tokens (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
                        hash TEXT NOT NULL UNIQUE,
                        prefix TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        last_used_at REAL
                    );

                    CREATE TABLE event_types (
                        name TEXT PRIMARY KEY,
                        description TEXT NOT NULL,
                        schema TEXT,
                        example TEXT
                    );

                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        type TEXT NOT NULL,
                        data TEXT NOT NULL,
                        channels TEXT NOT NULL,
                        idempotency_key TEXT UNIQUE,
                        target_hook_id INTEGER,
                        created_at REAL NOT NULL
                    );

                    CREATE TABLE hooks (
                        id INTEGER PRIMARY KEY,
                        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                        url TEXT NOT NULL,
                        content_type TEXT NOT NULL,
                        secret BLOB NOT NULL,
                        events TEXT NOT NULL,
                        channels TEXT NOT NULL,
                        active INTEGER NOT NULL,
                        insecure_ssl INTEGER NOT NULL,
                        timeout_seconds INTEGER NOT NULL,
                        ordering TEXT NOT NULL,
                        signature TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        last_response_code INTEGER,
                        last_response_status TEXT NOT NULL,
                        last_response_message TEXT,
                        disabled_reason TEXT,
                        created_after_seq INTEGER NOT NULL,
                        failing_since REAL
                    );
                    CREATE INDEX hooks_team ON hooks(team_id);

                    CREATE TABLE deliveries (
                        pk INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        hook_id INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
                        team_id INTEGER NOT NULL,
                        event_seq INTEGER NOT NULL REFERENCES events(seq),
                        status TEXT NOT NULL,
                        attempts_in_run INTEGER NOT NULL,
                        redelivery INTEGER NOT NULL,
                        retries INTEGER NOT NULL,
                        next_attempt_at REAL,
                        total_attempts INTEGER NOT NULL,
                        last_status_code INTEGER,
                        last_duration_ms INTEGER,
                        delivered_at REAL,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
                    CREATE INDEX deliveries_hook ON deliveries(hook_id, pk);
                    CREATE INDEX deliveries_unfinished ON deliveries(hook_id, event_seq) WHERE status IN ('pending', 'in_flight');
                    CREATE INDEX deliveries_in_flight ON deliveries(status) WHERE status = 'in_flight';

                    CREATE TABLE attempts (
                        id INTEGER PRIMARY KEY,
                        delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                        number INTEGER NOT NULL,
                        trigger TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        duration_ms INTEGER NOT NULL,
                        url TEXT NOT NULL,
                        request_headers TEXT NOT NULL,
                        request_body TEXT NOT NULL,
                        response_status INTEGER,
                        response_headers TEXT NOT NULL,
                        response_body TEXT,
                        error_class TEXT,
                        error_message TEXT
                    );
                    CREATE INDEX attempts_delivery ON attempts(delivery_id, number);
                    """
            )
        }
        migrator.registerMigration("002_hook_keys") { db in
            try db.execute(
                sql: """
                    ALTER TABLE hooks ADD COLUMN signing_key BLOB;
                    ALTER TABLE hooks ADD COLUMN public_key TEXT;
                    ALTER TABLE hooks ADD COLUMN previous_secret BLOB;
                    ALTER TABLE hooks ADD COLUMN previous_secret_expires_at REAL;
                    """
            )
        }
        migrator.registerMigration("003_users_sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        id INTEGER PRIMARY KEY,
                        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                        password_hash TEXT NOT NULL,
                        role TEXT NOT NULL,
                        team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE sessions (
                        token_hash TEXT PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        csrf_token TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("004_fair_claims_channel_grants_scoped_keys") { db in
            // Idempotency keys belong to the token that used them: the events table is rebuilt with
            // a (scope, key) uniqueness in place of the global one. Keys stored before are scoped ''.
            try db.execute(
                sql: """
                    ALTER TABLE teams ADD COLUMN extra_channels TEXT NOT NULL DEFAULT '[]';

                    CREATE TABLE events_new (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        type TEXT NOT NULL,
                        data TEXT NOT NULL,
                        channels TEXT NOT NULL,
                        idempotency_scope TEXT,
                        idempotency_key TEXT,
                        target_hook_id INTEGER,
                        created_at REAL NOT NULL,
                        UNIQUE (idempotency_scope, idempotency_key)
                    );
                    INSERT INTO events_new (seq, id, type, data, channels, idempotency_scope, idempotency_key, target_hook_id, created_at)
                        SELECT seq, id, type, data, channels, CASE WHEN idempotency_key IS NULL THEN NULL ELSE '' END, idempotency_key,
                            target_hook_id, created_at
                        FROM events;
                    DROP TABLE events;
                    ALTER TABLE events_new RENAME TO events;

                    CREATE INDEX deliveries_pending ON deliveries(hook_id, next_attempt_at, event_seq) WHERE status = 'pending';
                    """
            )
        }
        migrator.registerMigration("005_session_flash") { db in
            // A one-time message for the page a form redirects to (Post/Redirect/Get), sealed.
            try db.execute(sql: "ALTER TABLE sessions ADD COLUMN flash BLOB")
        }
        migrator.registerMigration("006_documents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE databases (
                        name TEXT PRIMARY KEY,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE documents (
                        database TEXT NOT NULL REFERENCES databases(name) ON DELETE CASCADE,
                        id TEXT NOT NULL,
                        rev TEXT NOT NULL,
                        body TEXT NOT NULL,
                        deleted INTEGER NOT NULL,
                        seq INTEGER NOT NULL,
                        channels TEXT NOT NULL,
                        history TEXT NOT NULL,
                        PRIMARY KEY (database, id)
                    );
                    CREATE INDEX documents_changes ON documents(database, seq);
                    """
            )
        }
        migrator.registerMigration("007_local_documents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE local_documents (
                        database TEXT NOT NULL REFERENCES databases(name) ON DELETE CASCADE,
                        id TEXT NOT NULL,
                        rev TEXT NOT NULL,
                        body TEXT NOT NULL,
                        PRIMARY KEY (database, id)
                    );
                    """
            )
        }
        migrator.registerMigration("008_hook_scripts_managed_hooks") { db in
            try db.execute(
                sql: """
                    ALTER TABLE hooks ADD COLUMN filter TEXT;
                    ALTER TABLE hooks ADD COLUMN transform TEXT;
                    ALTER TABLE hooks ADD COLUMN payload_format TEXT NOT NULL DEFAULT 'event';
                    ALTER TABLE hooks ADD COLUMN max_in_flight INTEGER;
                    ALTER TABLE hooks ADD COLUMN managed_key TEXT;
                    CREATE UNIQUE INDEX hooks_managed_key ON hooks(managed_key) WHERE managed_key IS NOT NULL;
                    ALTER TABLE deliveries ADD COLUMN note TEXT;
                    """
            )
        }
        migrator.registerMigration("009_hook_credentials") { db in
            try db.execute(sql: "ALTER TABLE hooks ADD COLUMN credentials BLOB")
        }
        migrator.registerMigration("010_replay_jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE replay_jobs (
                        id INTEGER PRIMARY KEY,
                        hook_id INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
                        since REAL NOT NULL,
                        until REAL,
                        only_failed INTEGER NOT NULL,
                        state TEXT NOT NULL,
                        from_seq INTEGER NOT NULL,
                        to_seq INTEGER NOT NULL,
                        cursor INTEGER NOT NULL,
                        queued INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        finished_at REAL
                    );
                    CREATE INDEX replay_jobs_running ON replay_jobs(state) WHERE state = 'running';
                    CREATE INDEX events_created ON events(created_at);
                    CREATE INDEX deliveries_hook_event ON deliveries(hook_id, event_seq);
                    """
            )
        }
        migrator.registerMigration("011_retention") { db in
            try db.execute(
                sql: """
                    CREATE INDEX attempts_started ON attempts(started_at);
                    CREATE INDEX deliveries_finished ON deliveries(created_at) WHERE status IN ('succeeded', 'skipped');
                    CREATE INDEX deliveries_event ON deliveries(event_seq);
                    """
            )
        }
        migrator.registerMigration("012_http_sync") { db in
            try db.execute(
                sql: """
                    ALTER TABLE hooks ADD COLUMN mode TEXT NOT NULL DEFAULT 'push';
                    ALTER TABLE hooks ADD COLUMN sync_page_size INTEGER NOT NULL DEFAULT 200;
                    ALTER TABLE hooks ADD COLUMN sync_period INTEGER NOT NULL DEFAULT 3600;
                    ALTER TABLE hooks ADD COLUMN sync_cursor INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE hooks ADD COLUMN sync_requested_at REAL;
                    ALTER TABLE hooks ADD COLUMN last_synced_at REAL;
                    ALTER TABLE deliveries ADD COLUMN sync_through INTEGER;
                    """
            )
        }
        migrator.registerMigration("013_people") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE users ADD COLUMN last_sign_in_at REAL;
                    ALTER TABLE tokens ADD COLUMN created_by TEXT;
                    ALTER TABLE tokens ADD COLUMN created_by_user_id INTEGER;
                    CREATE INDEX sessions_user ON sessions(user_id);
                    """
            )
        }
        migrator.registerMigration("014_audit_log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_log (
                        id INTEGER PRIMARY KEY,
                        at REAL NOT NULL,
                        actor TEXT NOT NULL,
                        address TEXT,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        team_id INTEGER,
                        changes TEXT NOT NULL
                    );
                    CREATE INDEX audit_log_at ON audit_log(at);
                    """
            )
        }
        migrator.registerMigration("015_github_headers") { db in
            try db.execute(sql: "ALTER TABLE hooks ADD COLUMN github_headers INTEGER NOT NULL DEFAULT 1")
        }
        migrator.registerMigration("016_version_field") { db in
            try db.execute(sql: "ALTER TABLE databases ADD COLUMN version_field TEXT")
        }
        migrator.registerMigration("017_delivery_policy") { db in
            // A hook's own retry schedule, disable window and rate limit (JSON, ``DeliveryPolicy``),
            // its circuit breaker (``CircuitState``; the open ones indexed for the claim), and where
            // each rate-limited hook's next attempt may start.
            try db.execute(
                sql: """
                    ALTER TABLE hooks ADD COLUMN delivery_policy TEXT;
                    ALTER TABLE hooks ADD COLUMN breaker_failures INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE hooks ADD COLUMN breaker_open_until REAL;
                    ALTER TABLE hooks ADD COLUMN breaker_cooldown REAL NOT NULL DEFAULT 0;
                    CREATE INDEX hooks_breaker_open ON hooks(breaker_open_until) WHERE breaker_open_until IS NOT NULL;
                    CREATE TABLE hook_rates (
                        hook_id INTEGER PRIMARY KEY REFERENCES hooks(id) ON DELETE CASCADE,
                        next_at REAL NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("018_portal_links") { db in
            // Links a provider application mints for one team's hook pages, and the one session each
            // opens (its hash, form token and one-time message live on the link's row).
            try db.execute(
                sql: """
                    CREATE TABLE portal_links (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                        token_hash TEXT NOT NULL UNIQUE,
                        read_only INTEGER NOT NULL,
                        expires_at REAL NOT NULL,
                        session_lifetime REAL NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        opened_at REAL,
                        opened_from TEXT,
                        session_hash TEXT UNIQUE,
                        session_expires_at REAL,
                        csrf_token TEXT,
                        flash BLOB
                    );
                    CREATE INDEX portal_links_team ON portal_links(team_id);
                    """
            )
        }
        migrator.registerMigration("019_event_type_versions") { db in
            // An event type's flags and versions (JSON, ``EventType/lifecycleJSON``); the version of
            // each event's payload, for types that have versions; the trace it belongs to, when traced.
            try db.execute(
                sql: """
                    ALTER TABLE event_types ADD COLUMN lifecycle TEXT;
                    ALTER TABLE events ADD COLUMN version INTEGER;
                    ALTER TABLE events ADD COLUMN trace_context TEXT;
                    """
            )
        }
        return migrator
    }
}
