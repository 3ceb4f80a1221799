import Foundation
import HeraldCore

/// Document databases, shared by the `/db/` API and (later) the web UI.
extension HeraldServices {
    /// Creates a database and its change event type (``HeraldStore/createDocumentDatabase(_:now:)``).
    func createDatabase(_ name: String) async throws -> DatabaseInfo {
        let info = try await store.createDocumentDatabase(name)
        catalog.invalidate()
        return info
    }

    /// Writes a document through MVCC; its `document_changed` event is appended in the same
    /// transaction and fanned out by the engine.
    func writeDocument(database: String, id: String, _ input: DocumentInput) async throws -> Document {
        let pending = PendingDocumentWrite(database: database, id: id) { current in
            let next = try DocumentMVCC.apply(input, to: current, database: database, id: id, seq: 0)
            let event = NewEvent(type: DatabaseInfo.changeEventType(database), data: DocumentMVCC.eventData(next, previous: current), channels: DocumentMVCC.eventChannels(next))
            return DocumentWrite(document: next, event: event)
        }
        let document = try await documentWrites.submit([pending])[0].get()
        engine.eventsAppended()
        commits.committed(document.seq)
        return document
    }

    /// Whether `principal` may read `document`: providers and admins read all; a team reads the
    /// documents in a channel granted to it.
    func canRead(_ document: Document, _ principal: Principal, team: Team?) -> Bool {
        switch principal.scope {
        case .admin, .provider: true
        case .team: team.map { team in document.channels.contains(where: team.channels.contains) } ?? false
        }
    }
}
