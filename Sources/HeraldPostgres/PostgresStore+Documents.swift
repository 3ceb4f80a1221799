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
            guard let info = try await db.one("SELECT created_at, version_field FROM databases WHERE name = \(name)") else { return nil }
            let row = try await db.one(
                "SELECT COUNT(*) FILTER (WHERE NOT deleted) AS n, COALESCE(MAX(seq), 0) AS seq FROM documents WHERE database = \(name)"
            )
            return DatabaseInfo(
                name: name, documentCount: try row?("n", as: Int.self) ?? 0, updateSeq: try row?("seq", as: Int64.self) ?? 0,
                createdAt: Date(timeIntervalSince1970: try info("created_at", as: Double.self)), versionField: try info("version_field", as: String?.self)
            )
        }
    }

    public func setVersionField(_ field: String?, database: String) async throws -> Bool {
        try await write { db in try await db.run("UPDATE databases SET version_field = \(field) WHERE name = \(database) RETURNING name") > 0 }
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

    /// A batch in a few statements, whatever its size: the databases, the counter, the documents
    /// (locked, in key order) and the events are each read or written once.
    public func writeDocuments(_ writes: [PendingDocumentWrite]) async throws -> [Result<Document, any Error>] {
        guard !writes.isEmpty else { return [] }
        return try await write { db in
            var options: [String: DatabaseInfo.Options] = [:]
            let names = Array(Set(writes.map(\.database))).sorted()
            for row in try await db.all("SELECT name, version_field FROM databases WHERE name = ANY(\(names)::text[]) ORDER BY name FOR SHARE") {
                options[try row("name")] = DatabaseInfo.Options(versionField: try row("version_field", as: String?.self))
            }
            // The counter first (it orders every writer), then the documents' rows, locked: two nodes
            // writing one document take turns and the second sees the first's revision.
            _ = try await db.value("SELECT value FROM meta WHERE key = 'event_seq' FOR UPDATE", as: Int64.self)
            let keys = DocumentBatch.keys(of: writes).filter { options[$0.database] != nil }
            var current: [DocumentBatch.Key: Document] = [:]
            if !keys.isEmpty {
                let rows = try await db.all(
                    """
                    SELECT d.* FROM documents d JOIN unnest(\(keys.map(\.database))::text[], \(keys.map(\.id))::text[]) AS k(database, id)
                        ON d.database = k.database AND d.id = k.id ORDER BY d.database, d.id FOR UPDATE OF d
                    """
                )
                for row in rows {
                    let document = try Self.document(row)
                    current[DocumentBatch.Key(database: document.database, id: document.id)] = document
                }
            }
            let batch = try DocumentBatch(writes, options: options, current: current)
            let results = try batch.results(seqs: try await Self.append(batch.events, targetHookID: nil, in: db).map(\.event.seq))
            // One array per column in PostgreSQL's binary form (a body travels as its own bytes).
            let written = DocumentBatch.rows(results)
            if !written.isEmpty {
                try await db.run(
                    """
                    INSERT INTO documents (database, id, rev, body, deleted, seq, channels, history)
                    SELECT * FROM unnest(\(written.map(\.database))::text[], \(written.map(\.id))::text[],
                        \(written.map(\.revision.description))::text[], \(written.map(\.body))::text[], \(written.map(\.deleted))::boolean[],
                        \(written.map(\.seq))::bigint[], \(written.map { encodeStringArray($0.channels) })::text[],
                        \(written.map { encodeStringArray($0.history.map(\.description)) })::text[])
                    ON CONFLICT (database, id) DO UPDATE SET rev = excluded.rev, body = excluded.body, deleted = excluded.deleted,
                        seq = excluded.seq, channels = excluded.channels, history = excluded.history
                    """
                )
            }
            return results
        }
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

    public func documents(database: String, range: DocumentRange) async throws -> [Document] {
        try await read { db in
            if let keys = range.orderedKeys {
                var found: [Document] = []
                for key in keys {
                    if let document = try await Self.document(database: database, id: key, in: db), !document.deleted { found.append(document) }
                }
                return found
            }
            // Byte order of ids, as the SQLite store and CouchDB's raw collation give.
            let (lower, upper) = range.bounds
            var sql = "SELECT * FROM documents WHERE database = $1 AND NOT deleted"
            var binds = PostgresBindings()
            binds.append(database)
            if let lower {
                binds.append(lower.id)
                sql += " AND id COLLATE \"C\" \(lower.inclusive ? ">=" : ">") $\(binds.count)"
            }
            if let upper {
                binds.append(upper.id)
                sql += " AND id COLLATE \"C\" \(upper.inclusive ? "<=" : "<") $\(binds.count)"
            }
            binds.append(range.limit)
            binds.append(range.skip)
            sql += " ORDER BY id COLLATE \"C\"\(range.descending ? " DESC" : "") LIMIT $\(binds.count - 1) OFFSET $\(binds.count)"
            return try await db.all(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.document)
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

