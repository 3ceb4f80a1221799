import Foundation
import HeraldCore
import Testing

/// Sync Gateway's and CouchDB's revision rules, without a store.
@Suite struct DocumentMVCCTests {
    func input(_ json: String) throws -> DocumentInput { try DocumentInput(try JSONValue(parsing: json)) }

    func write(_ json: String, over current: Document?, seq: Int64 = 1) throws(DocumentWriteError) -> Document {
        let value = try! JSONValue(parsing: json)
        return try DocumentMVCC.apply(try DocumentInput(value), to: current, database: "leads", id: "a", seq: seq)
    }

    @Test func aNewDocumentGetsGenerationOneAndNeedsNoRevision() throws {
        let created = try write(#"{"name":"Ana","channels":["bde"]}"#, over: nil)
        #expect(created.revision.generation == 1)
        #expect(created.channels == ["bde"])
        #expect(created.history == [created.revision])
        #expect(throws: DocumentWriteError.revisionConflict) { try write(#"{"_rev":"1-abc","name":"Ana"}"#, over: nil) }
    }

    @Test func anUpdateNeedsTheCurrentRevision() throws {
        let first = try write(#"{"name":"Ana"}"#, over: nil)
        #expect(throws: DocumentWriteError.exists) { try write(#"{"name":"Eva"}"#, over: first) }
        #expect(throws: DocumentWriteError.revisionConflict) { try write(#"{"_rev":"1-0000","name":"Eva"}"#, over: first) }
        let second = try write(#"{"_rev":"\#(first.revision)","name":"Eva"}"#, over: first)
        #expect(second.revision.generation == 2)
        #expect(second.history == [second.revision, first.revision])
        #expect(second.json["_rev"]?.stringValue == second.revision.description)
        #expect(second.json["name"]?.stringValue == "Eva")
    }

    @Test func deletingLeavesATombstoneThatCanBeWrittenAgain() throws {
        let first = try write(#"{"name":"Ana","channels":"bde"}"#, over: nil)
        #expect(throws: DocumentWriteError.revisionConflict) {
            try DocumentMVCC.apply(.deletion(revision: nil), to: first, database: "leads", id: "a", seq: 2)
        }
        let tombstone = try DocumentMVCC.apply(.deletion(revision: first.revision.description), to: first, database: "leads", id: "a", seq: 2)
        #expect(tombstone.deleted && tombstone.revision.generation == 2 && tombstone.body == "{}")
        #expect(tombstone.channels == ["bde"], "a tombstone keeps its channels so channel feeds see the deletion")
        #expect(throws: DocumentWriteError.notFound(reason: "deleted")) {
            try DocumentMVCC.apply(.deletion(revision: tombstone.revision.description), to: tombstone, database: "leads", id: "a", seq: 3)
        }
        let back = try write(#"{"name":"Ana again"}"#, over: tombstone)
        #expect(!back.deleted && back.revision.generation == 3)
        #expect(throws: DocumentWriteError.notFound(reason: "missing")) {
            try DocumentMVCC.apply(.deletion(revision: nil), to: nil, database: "leads", id: "b", seq: 1)
        }
    }

    /// The event reaches the teams of the new channels: the previous revision goes with it only
    /// when each of those teams could read it.
    @Test(arguments: [
        (#"["bde"]"#, #"["bde"]"#, true),
        (#"["bde","cce"]"#, #"["bde"]"#, true),  // taken from cce: bde read the old one
        (#"["bde"]"#, #"["bde","cce"]"#, false),  // shared with cce: cce never read the old one
        (#"[]"#, #"["cce"]"#, false),  // a provider-only document given to cce
        (#"["bde"]"#, #"["cce"]"#, false),  // moved
        (#"["bde"]"#, #"[]"#, true),  // withdrawn: only providers and admins read it now
    ])
    func theOldRevisionTravelsOnlyToTeamsThatCouldReadIt(old: String, new: String, carried: Bool) throws {
        let first = try write(#"{"ssn":"SECRET","channels":\#(old)}"#, over: nil)
        let second = try write(#"{"_rev":"\#(first.revision)","channels":\#(new)}"#, over: first, seq: 2)
        let data = try JSONValue(parsing: DocumentMVCC.eventData(second, previous: first))
        #expect((data["old_doc"]?["ssn"]?.stringValue == "SECRET") == carried, "\(old) → \(new)")
        if !carried { #expect(data["old_doc"] == .null) }
    }

    @Test func theRevisionDependsOnParentBodyAndDeletion() {
        let a = Revision.next(after: nil, deleted: false, body: #"{"x":1}"#)
        #expect(a == Revision.next(after: nil, deleted: false, body: #"{"x":1}"#))
        #expect(a != Revision.next(after: nil, deleted: false, body: #"{"x":2}"#))
        #expect(Revision.next(after: a, deleted: false, body: "{}") != Revision.next(after: a, deleted: true, body: "{}"))
        #expect(Revision(a.description) == a)
        #expect(Revision("x-1") == nil && Revision("0-ab") == nil && Revision("1-XYZ") == nil)
    }

    @Test func specialMembersAreTakenOutAndUnknownOnesRefused() throws {
        let parsed = try input(#"{"_id":"a","_rev":"1-ab","_deleted":false,"name":"Ana"}"#)
        #expect(parsed.id == "a" && parsed.revision == "1-ab" && !parsed.deleted)
        #expect(parsed.body == #"{"name":"Ana"}"#)
        #expect(throws: DocumentWriteError.self) { try input(#"{"_attachments2":{}}"#) }
        #expect(throws: DocumentWriteError.self) { try input(#"[1,2]"#) }
        #expect(throws: DocumentWriteError.self) { try input(#"{"_rev":5}"#) }
    }

    @Test(arguments: [("leads", true), ("lead-db_2", true), ("Leads", false), ("1leads", false), ("", false), ("a.b", false)])
    func databaseNames(_ name: String, _ valid: Bool) {
        #expect(DatabaseInfo.isValidName(name) == valid)
    }

    @Test func aVersionFieldOrdersNumbersInstantsAndStrings() {
        let guardian = VersionGuard(field: "updated_at")
        #expect(guardian.verdict(#"{"updated_at":10}"#, over: #"{"updated_at":9.5}"#) == .newer)
        #expect(guardian.verdict(#"{"updated_at":9}"#, over: #"{"updated_at":9}"#) != .newer)
        // Instants, whatever their offsets: 02:00+02:00 is midnight UTC, before 01:00Z.
        #expect(guardian.verdict(#"{"updated_at":"2026-01-01T02:00:00+02:00"}"#, over: #"{"updated_at":"2026-01-01T01:00:00Z"}"#) != .newer)
        #expect(guardian.verdict(#"{"updated_at":"2026-01-01T01:00:01Z"}"#, over: #"{"updated_at":"2026-01-01T01:00:00Z"}"#) == .newer)
        #expect(guardian.verdict(#"{"updated_at":"b"}"#, over: #"{"updated_at":"a"}"#) == .newer)
        // Either side without the field: revisions decide.
        #expect(guardian.verdict(#"{"v":1}"#, over: #"{"updated_at":"a"}"#) == .unversioned)
        #expect(guardian.verdict(#"{"updated_at":"a"}"#, over: #"{"v":1}"#) == .unversioned)
        #expect(guardian.verdict(#"{"updated_at":1}"#, over: #"{"updated_at":"a"}"#) == .unversioned)
    }
}
