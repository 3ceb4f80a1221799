import Foundation
import GRDB
import HeraldCore

extension SQLiteStore: DocumentStore {
    public func createDatabase(_ name: String, now: Date) async throws -> DatabaseInfo {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO databases (name, created_at) VALUES (?, ?)", arguments: [name, now.unixSeconds])
            }
        } catch let error as DatabaseError where error.isUniqueViolation {
            throw StoreError.conflict("a database named \(name) exists")
        }
        return DatabaseInfo(name: name, documentCount: 0, updateSeq: 0, createdAt: now)
    }

    public func database(_ name: String) async throws -> DatabaseInfo? {
        try await pool.read { db in
            guard let info = try Row.fetchOne(db, sql: "SELECT created_at, version_field FROM databases WHERE name = ?", arguments: [name]) else { return nil }
            let row = try Row.fetchOne(
                db, sql: "SELECT COUNT(*) FILTER (WHERE deleted = 0), COALESCE(MAX(seq), 0) FROM documents WHERE database = ?", arguments: [name]
            )
            return DatabaseInfo(
                name: name, documentCount: row?[0] ?? 0, updateSeq: row?[1] ?? 0, createdAt: Date(unixSeconds: info[0]), versionField: info[1]
            )
        }
    }

    public func setVersionField(_ field: String?, database: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE databases SET version_field = ? WHERE name = ?", arguments: [field, database])
            return db.changesCount > 0
        }
    }

    public func databaseNames() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM databases ORDER BY name") }
    }

    public func deleteDatabase(_ name: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM databases WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func document(database: String, id: String) async throws -> Document? {
        try await pool.read { db in try Self.document(database: database, id: id, in: db) }
    }

    public func writeDocuments(_ writes: [PendingDocumentWrite]) async throws -> [Result<Document, any Error>] {
        guard !writes.isEmpty else { return [] }
        return try await pool.write { db in
            raise(.events, in: db)
            var options: [String: DatabaseInfo.Options] = [:]
            for name in Set(writes.map(\.database)) {
                if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT version_field FROM databases WHERE name = ?"), arguments: [name]) {
                    options[name] = DatabaseInfo.Options(versionField: row[0])
                }
            }
            var current: [DocumentBatch.Key: Document] = [:]
            for key in DocumentBatch.keys(of: writes) where options[key.database] != nil {
                current[key] = try Self.document(database: key.database, id: key.id, in: db)
            }
            let batch = try DocumentBatch(writes, options: options, current: current)
            let results = try batch.results(seqs: try Self.append(batch.events, targetHookID: nil, in: db).map(\.event.seq))
            let upsert = try db.cachedStatement(
                sql: """
                    INSERT INTO documents (database, id, rev, body, deleted, seq, channels, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (database, id) DO UPDATE SET rev = excluded.rev, body = excluded.body, deleted = excluded.deleted,
                        seq = excluded.seq, channels = excluded.channels, history = excluded.history
                    """
            )
            for document in DocumentBatch.rows(results) {
                try upsert.execute(arguments: [
                    document.database, document.id, document.revision.description, document.body, document.deleted, document.seq,
                    encodeStringArray(document.channels), encodeStringArray(document.history.map(\.description)),
                ])
            }
            return results
        }
    }

    public func changes(database: String, since: Int64, limit: Int, descending: Bool, bodies: Bool) async throws -> [Document] {
        let columns = bodies ? "*" : "database, id, rev, '{}' AS body, deleted, seq, channels, '[]' AS history"
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(columns) FROM documents WHERE database = ? AND seq > ? ORDER BY seq \(descending ? "DESC" : "ASC") LIMIT ?",
                arguments: [database, since, limit]
            ).map(Self.document)
        }
    }

    public func documents(database: String, range: DocumentRange) async throws -> [Document] {
        try await pool.read { db in
            if let keys = range.orderedKeys {
                return try keys.compactMap { key in try Self.document(database: database, id: key, in: db).flatMap { $0.deleted ? nil : $0 } }
            }
            let (lower, upper) = range.bounds
            var sql = "SELECT * FROM documents WHERE database = ? AND deleted = 0"
            var arguments: StatementArguments = [database]
            if let lower { sql += lower.inclusive ? " AND id >= ?" : " AND id > ?"; arguments += [lower.id] }
            if let upper { sql += upper.inclusive ? " AND id <= ?" : " AND id < ?"; arguments += [upper.id] }
            sql += range.descending ? " ORDER BY id DESC" : " ORDER BY id"
            sql += " LIMIT ? OFFSET ?"
            arguments += [range.limit, range.skip]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.document)
        }
    }

    public func localDocument(database: String, id: String) async throws -> LocalDocument? {
        try await pool.read { db in try Self.localDocument(database: database, id: id, in: db) }
    }

    public func localDocumentCount(database: String, idPrefix: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM local_documents WHERE database = ? AND substr(id, 1, ?) = ?",
                arguments: [database, idPrefix.count, idPrefix]
            ) ?? 0
        }
    }

    public func writeLocalDocument(
        database: String, id: String, _ write: @Sendable (LocalDocument?) throws -> LocalDocument?
    ) async throws -> LocalDocument? {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM databases WHERE name = ?", arguments: [database]) != nil else {
                throw StoreError.notFound("database \(database)")
            }
            guard let next = try write(try Self.localDocument(database: database, id: id, in: db)) else {
                try db.execute(sql: "DELETE FROM local_documents WHERE database = ? AND id = ?", arguments: [database, id])
                return nil
            }
            try db.execute(
                sql: """
                    INSERT INTO local_documents (database, id, rev, body) VALUES (?, ?, ?, ?)
                    ON CONFLICT (database, id) DO UPDATE SET rev = excluded.rev, body = excluded.body
                    """,
                arguments: [database, id, next.revision, next.body]
            )
            return next
        }
    }

    static func localDocument(database: String, id: String, in db: Database) throws -> LocalDocument? {
        try Row.fetchOne(db, sql: "SELECT id, rev, body FROM local_documents WHERE database = ? AND id = ?", arguments: [database, id]).map {
            LocalDocument(id: $0[0], revision: $0[1], body: $0[2])
        }
    }

    static func document(database: String, id: String, in db: Database) throws -> Document? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM documents WHERE database = ? AND id = ?"), arguments: [database, id]).map(document)
    }

    static func document(_ row: Row) -> Document {
        Document(
            database: row["database"], id: row["id"], revision: Revision(row["rev"]) ?? Revision(generation: 1, digest: "0"), body: row["body"],
            deleted: row.bool("deleted"), seq: row["seq"], channels: row.stringArray("channels"),
            history: row.stringArray("history").compactMap(Revision.init)
        )
    }
}
