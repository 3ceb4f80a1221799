import Foundation
import Tracing
import HeraldDelivery
import HeraldCore

/// Document databases, shared by the `/db/` API and (later) the web UI.
extension HeraldServices {
    /// Creates a database and its change event type (``HeraldStore/createDocumentDatabase(_:now:)``).
    func createDatabase(_ name: String) async throws -> DatabaseInfo {
        let info = try await store.createDocumentDatabase(name)
        catalog.invalidate()
        try await raiseStateChange(databases: [name], state: .online, reason: "created")
        return info
    }

    /// Deletes a database (its documents and local documents); raises its `db_state_changed` offline.
    func deleteDatabase(_ name: String) async throws -> Bool {
        guard try await store.deleteDatabase(name) else { return false }
        catalog.invalidate()
        try await raiseStateChange(databases: [name], state: .offline, reason: "deleted")
        return true
    }

    /// Appends a `<db>.db_state_changed` event per database that a `db_state_changed` handler of
    /// the config file listens to, as Sync Gateway raises the event for its handlers when a database
    /// goes online or offline. Routed as a document in no channel: to the file's hooks, providers
    /// and admins. Returns the appended `seq`s.
    @discardableResult
    func raiseStateChange(databases: [String], state: DatabaseState, reason: String) async throws -> [Int64] {
        let listened = Set(try await store.hooks(teamID: nil).filter { $0.active && $0.managedKey != nil }.flatMap(\.events))
        let events = databases.filter { listened.contains(DatabaseInfo.stateEventType($0)) }.map { name in
            NewEvent(
                type: DatabaseInfo.stateEventType(name),
                data: DatabaseState.eventData(database: name, state: state, reason: reason, adminInterface: configuration.adminInterface, now: Date()),
                channels: [DocumentMVCC.unroutedChannel]
            )
        }
        guard !events.isEmpty else { return [] }
        return try await store.append(events).map(\.event.seq)
    }

    /// Writes a document through MVCC; its `document_changed` event is appended in the same
    /// transaction and fanned out by the engine.
    func writeDocument(database: String, id: String, _ input: DocumentInput) async throws -> Document {
        let trace = EventTracing.carrier(of: ServiceContext.current ?? .topLevel)
        let pending = PendingDocumentWrite(database: database, id: id) { current, options in
            let next = try DocumentMVCC.apply(input, to: current, database: database, id: id, seq: 0, versionGuard: options.versionGuard)
            let event = NewEvent(
                type: DatabaseInfo.changeEventType(database), data: DocumentMVCC.eventData(next, previous: current), channels: DocumentMVCC.eventChannels(next),
                traceContext: trace
            )
            return DocumentWrite(document: next, event: event)
        }
        return try await documentWrites.submit([pending])[0].get()
    }

    /// Whether `principal` may read `document`: providers and admins read all; a team reads the
    /// documents in a channel granted to it.
    func canRead(_ document: Document, _ principal: Principal, team: Team?) -> Bool {
        principal.readsEveryDocument || (team.map { team in document.channels.contains(where: team.channels.contains) } ?? false)
    }
}

extension Principal {
    /// Admin and provider tokens read every document; a team's reads only those in its channels.
    var readsEveryDocument: Bool {
        switch scope {
        case .admin, .provider: true
        case .team: false
        }
    }
}

extension HeraldServices {
    /// One page of changes the caller may see, and the last `seq` scanned (it moves past the rest).
    func changesPage(
        database: String, since: Int64, limit: Int, query: DocumentsController.ChangesQuery, principal: Principal, team: Team?
    ) async throws -> (results: [JSONValue], lastSeq: Int64, complete: Bool) {
        var lastSeq = since
        // The page is decided without bodies (what a caller may not read costs no body read);
        // with include_docs, only the bodies of the rows sent are read.
        let changed = try await store.changes(database: database, since: since, limit: limit, descending: query.descending, bodies: false)
        var sent: [Document] = []
        for document in changed {
            lastSeq = query.descending ? max(lastSeq, document.seq) : document.seq
            guard canRead(document, principal, team: team), !(query.activeOnly && document.deleted),
                query.channels.map({ document.channels.contains(where: $0.contains) }) ?? true, query.documentIDs?.contains(document.id) ?? true
            else { continue }
            sent.append(document)
        }
        var bodies: [String: Document] = [:]
        if query.includeDocs {
            let live = sent.filter { !$0.deleted }.map(\.id)
            for document in try await store.documents(database: database, keys: live, startKey: nil, endKey: nil, limit: live.count) {
                bodies[document.id] = document
            }
        }
        var results: [JSONValue] = []
        for document in sent {
            var pairs: [(key: String, value: JSONValue)] = [
                ("seq", .int(document.seq)), ("id", .string(document.id)), ("changes", .array([.object([("rev", .string(document.revision.description))])])),
            ]
            if document.deleted { pairs.append(("deleted", .bool(true))) }
            if query.includeDocs {
                // Changed again since the page was read: its newer revision comes at its later seq.
                if !document.deleted, bodies[document.id]?.revision != document.revision { continue }
                pairs.append(("doc", document.deleted ? document.json : bodies[document.id]!.json))
            }
            results.append(.object(pairs))
        }
        return (results, lastSeq, changed.count < limit && !query.descending)
    }
}
