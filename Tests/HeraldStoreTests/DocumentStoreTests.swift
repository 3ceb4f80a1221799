import Foundation
import HeraldCore
import Testing

/// One conformance suite for document databases, run on every backend.
@Suite struct DocumentStoreTests {
    func put(_ store: any HeraldStore, _ id: String, _ json: String, database: String = "leads") async throws -> Document {
        let input = try DocumentInput(try JSONValue(parsing: json))
        return try await store.writeDocument(database: database, id: id) { current, _ in
            let document = try DocumentMVCC.apply(input, to: current, database: database, id: id, seq: 0)
            let event = NewEvent(
                type: DatabaseInfo.changeEventType(database), data: DocumentMVCC.eventData(document, previous: current), channels: document.channels
            )
            return DocumentWrite(document: document, event: event)
        }
    }

    @Test(arguments: FullBackend.all)
    func databasesAreCreatedOnceListedAndDeleted(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        _ = try await store.createDatabase("grants", now: Date())
        await #expect(throws: StoreError.self) { try await store.createDatabase("leads", now: Date()) }
        #expect(try await store.databaseNames() == ["grants", "leads"])
        #expect(try await store.deleteDatabase("grants"))
        #expect(try await store.database("grants") == nil)
        #expect(try await !store.deleteDatabase("grants"))
    }

    @Test(arguments: FullBackend.all)
    func aWriteStoresTheRevisionAndAppendsItsEventAtTheSameSeq(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        let first = try await put(store, "a", #"{"name":"Ana","channels":["bde"]}"#)
        #expect(first.seq == 1)
        let second = try await put(store, "a", #"{"_rev":"\#(first.revision)","name":"Eva","channels":["bde"]}"#)
        #expect(second.seq == 2 && second.revision.generation == 2)
        let stored = try #require(try await store.document(database: "leads", id: "a"))
        #expect(stored == second)
        let events = try await store.events(since: 0, limit: 10)
        #expect(events.map(\.seq) == [1, 2])
        #expect(events.map(\.type) == ["leads.document_changed", "leads.document_changed"])
        #expect(events[1].channels == ["bde"])
        let data = try JSONValue(parsing: events[1].data)
        #expect(data["doc"]?["name"]?.stringValue == "Eva" && data["old_doc"]?["name"]?.stringValue == "Ana")
        let info = try #require(try await store.database("leads"))
        #expect(info.documentCount == 1 && info.updateSeq == 2)
    }

    @Test(arguments: FullBackend.all)
    func aRefusedWriteStoresNothing(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        let first = try await put(store, "a", #"{"name":"Ana"}"#)
        await #expect(throws: DocumentWriteError.exists) { try await put(store, "a", #"{"name":"Eva"}"#) }
        #expect(try await store.document(database: "leads", id: "a") == first)
        #expect(try await store.lastSeq() == 1)
        await #expect(throws: StoreError.self) { try await put(store, "a", #"{"name":"Ana"}"#, database: "nope") }
    }

    @Test(arguments: FullBackend.all)
    func theChangesHoldEachDocumentOnceAtItsLatestSeq(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        _ = try await store.createDatabase("other", now: Date())
        let a = try await put(store, "a", #"{"n":1}"#)
        _ = try await put(store, "b", #"{"n":1}"#)
        _ = try await put(store, "x", #"{"n":1}"#, database: "other")
        _ = try await put(store, "a", #"{"_rev":"\#(a.revision)","n":2}"#)
        let changes = try await store.changes(database: "leads", since: 0, limit: 10, descending: false, bodies: true)
        #expect(changes.map(\.id) == ["b", "a"])
        #expect(changes.map(\.seq) == [2, 4])
        #expect(try await store.changes(database: "leads", since: 2, limit: 10, descending: false, bodies: true).map(\.id) == ["a"])
        #expect(try await store.changes(database: "leads", since: 0, limit: 1, descending: false, bodies: true).map(\.id) == ["b"])
        #expect(try await store.changes(database: "leads", since: 0, limit: 10, descending: true, bodies: true).map(\.id) == ["a", "b"])
        #expect(changes.last?.body == #"{"n":2}"#)
        // Without bodies: everything a page decides on, and no body read.
        let summaries = try await store.changes(database: "leads", since: 0, limit: 10, descending: false, bodies: false)
        #expect(summaries.map(\.id) == ["b", "a"] && summaries.map(\.seq) == [2, 4])
        #expect(summaries.map(\.revision) == changes.map(\.revision) && summaries.allSatisfy { $0.body == "{}" })
    }

    @Test(arguments: FullBackend.all)
    func liveDocumentsAreListedByIdRangeOrKeys(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        for id in ["c", "a", "b"] { _ = try await put(store, id, #"{"n":1}"#) }
        let b = try #require(try await store.document(database: "leads", id: "b"))
        _ = try await store.writeDocument(database: "leads", id: "b") { current, _ in
            let tombstone = try DocumentMVCC.apply(.deletion(revision: b.revision.description), to: current, database: "leads", id: "b", seq: 0)
            return DocumentWrite(document: tombstone, event: NewEvent(type: "leads.document_changed", data: "{}"))
        }
        #expect(try await store.documents(database: "leads", keys: nil, startKey: nil, endKey: nil, limit: 10).map(\.id) == ["a", "c"])
        #expect(try await store.documents(database: "leads", keys: nil, startKey: "b", endKey: "c", limit: 10).map(\.id) == ["c"])
        #expect(try await store.documents(database: "leads", keys: ["c", "x", "a"], startKey: nil, endKey: nil, limit: 10).map(\.id) == ["c", "a"])
        #expect(try await store.documents(database: "leads", keys: nil, startKey: nil, endKey: nil, limit: 1).map(\.id) == ["a"])
        // CouchDB's reading of a range: descending from startKey down to endKey, skip, inclusive_end.
        for id in ["d", "e"] { _ = try await put(store, id, #"{"n":1}"#) }
        func ids(_ configure: (inout DocumentRange) -> Void) async throws -> [String] {
            var range = DocumentRange(limit: 10)
            configure(&range)
            return try await store.documents(database: "leads", range: range).map(\.id)
        }
        #expect(try await ids { $0.descending = true } == ["e", "d", "c", "a"])
        #expect(try await ids { $0.descending = true; $0.startKey = "d"; $0.endKey = "a" } == ["d", "c", "a"])
        #expect(try await ids { $0.descending = true; $0.startKey = "d"; $0.endKey = "a"; $0.inclusiveEnd = false } == ["d", "c"])
        #expect(try await ids { $0.startKey = "a"; $0.endKey = "d"; $0.inclusiveEnd = false } == ["a", "c"])
        #expect(try await ids { $0.skip = 1; $0.limit = 2 } == ["c", "d"])
        #expect(try await ids { $0.keys = ["a", "d", "e"]; $0.descending = true; $0.skip = 1 } == ["d", "a"])
    }

    @Test(arguments: FullBackend.all)
    func localDocumentsAreWrittenReadAndDeletedWithoutEvents(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        let input = try DocumentInput(try JSONValue(parsing: #"{"last_seq":"5"}"#))
        let saved = try await store.writeLocalDocument(database: "leads", id: "cp") { try LocalDocument.apply(input, to: $0, id: "cp") }
        #expect(saved?.revision == "0-1")
        #expect(try await store.localDocument(database: "leads", id: "cp") == saved)
        _ = try await store.writeLocalDocument(database: "leads", id: "cp") { try LocalDocument.apply(.deletion(revision: "0-1"), to: $0, id: "cp") }
        #expect(try await store.localDocument(database: "leads", id: "cp") == nil)
        #expect(try await store.lastSeq() == 0)
        // Counted by namespace (a team's ids share a prefix).
        for id in ["team-1:a", "team-1:b", "team-12:a", "other"] {
            _ = try await store.writeLocalDocument(database: "leads", id: id) { try LocalDocument.apply(input, to: $0, id: id) }
        }
        #expect(try await store.localDocumentCount(database: "leads", idPrefix: "team-1:") == 2)
        #expect(try await store.localDocumentCount(database: "leads", idPrefix: "team-12:") == 1)
    }

    @Test(arguments: FullBackend.all)
    func aGroupOfWritesCommitsEachOnItsOwn(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        _ = try await put(store, "taken", #"{"n":0}"#)
        func pending(_ id: String, database: String = "leads") throws -> PendingDocumentWrite {
            let input = try DocumentInput(try JSONValue(parsing: #"{"n":1}"#))
            return PendingDocumentWrite(database: database, id: id) { current, _ in
                let document = try DocumentMVCC.apply(input, to: current, database: database, id: id, seq: 0)
                return DocumentWrite(document: document, event: NewEvent(type: "leads.document_changed", data: "{}"))
            }
        }
        let results = try await store.writeDocuments([try pending("a"), try pending("taken"), try pending("x", database: "nope"), try pending("b")])
        #expect(results.map { (try? $0.get())?.seq } == [2, nil, nil, 3])
        #expect(throws: DocumentWriteError.exists) { try results[1].get() }
        #expect(try await store.lastSeq() == 3, "the refused writes appended no event")
        #expect(try await store.changes(database: "leads", since: 0, limit: 10, descending: false, bodies: true).map(\.id) == ["taken", "a", "b"])
    }
    /// A group commit is its writes one after the other: a write sees the batch's earlier writes
    /// to its document, each appends its own event, and the document is stored once, as the last
    /// write left it.
    @Test(arguments: FullBackend.all)
    func writesToOneDocumentInOneGroupSeeEachOther(_ backend: FullBackend) async throws {
        let store = try await backend.make()
        _ = try await store.createDatabase("leads", now: Date())
        func bump(_ id: String) -> PendingDocumentWrite {
            PendingDocumentWrite(database: "leads", id: id) { current, _ in
                let n = current.flatMap { try? JSONValue(parsing: $0.body)["n"]?.intValue } ?? 0
                var members: [(key: String, value: JSONValue)] = [("n", .int(n + 1))]
                if let current { members.append(("_rev", .string(current.revision.description))) }
                let document = try DocumentMVCC.apply(try DocumentInput(.object(members)), to: current, database: "leads", id: id, seq: 0)
                return DocumentWrite(document: document, event: NewEvent(type: "leads.document_changed", data: #"{"n":\#(n + 1)}"#))
            }
        }
        let results = try await store.writeDocuments([bump("c"), bump("c"), bump("d"), bump("c")])
        let written = try results.map { try $0.get() }
        #expect(written.map(\.seq) == [1, 2, 3, 4])
        #expect(written.map(\.revision.generation) == [1, 2, 1, 3])
        let stored = try #require(try await store.document(database: "leads", id: "c"))
        #expect(stored == written[3])
        #expect(try JSONValue(parsing: stored.body)["n"]?.intValue == 3)
        #expect(stored.history.count == 3, "each revision of the batch is in the document's history")
        #expect(try await store.events(since: 0, limit: 10).map(\.data) == [#"{"n":1}"#, #"{"n":2}"#, #"{"n":1}"#, #"{"n":3}"#])
        #expect(try await store.changes(database: "leads", since: 0, limit: 10, descending: false, bodies: false).map(\.id) == ["d", "c"])
        // A stale revision in the same batch is refused on its own, after the write it lost to.
        let stale = PendingDocumentWrite(database: "leads", id: "c") { current, _ in
            let input = try DocumentInput(.object([("n", .int(0)), ("_rev", .string(written[0].revision.description))]))
            return DocumentWrite(document: try DocumentMVCC.apply(input, to: current, database: "leads", id: "c", seq: 0), event: NewEvent(type: "leads.document_changed", data: "{}"))
        }
        let second = try await store.writeDocuments([bump("c"), stale, bump("d")])
        #expect(second.map { (try? $0.get())?.seq } == [5, nil, 6])
        #expect(try await store.document(database: "leads", id: "c")?.revision.generation == 4)
    }
}
