import Foundation
import HeraldCore
import Testing

/// HTTP Sync pages, as pure logic: order, page size, a document once per page at its latest revision.
@Suite struct SyncPageTests {
    func hook(events: [String], pageSize: Int) -> Hook {
        var hook = Hook(
            id: 7, teamID: 1, url: "https://example.org/sync", contentType: .json, encryptedSecret: Data(), events: events, channels: [], active: true,
            insecureSSL: false, timeoutSeconds: 10, ordering: .ordered, signature: .hmac, createdAt: Date(), updatedAt: Date(),
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil
        )
        hook.mode = .sync
        hook.sync.pageSize = pageSize
        hook.channels = ["bde"]
        return hook
    }

    func change(_ seq: Int64, id: String, rev: String) -> Event {
        let doc = #"{"_id":"\#(id)","_rev":"\#(rev)","n":\#(seq)}"#
        return Event(
            seq: seq, id: "evt_\(seq)", type: "leads.document_changed",
            data: #"{"database":"leads","id":"\#(id)","rev":"\#(rev)","deleted":false,"channels":[],"doc":\#(doc),"old_doc":null}"#,
            channels: ["bde"], idempotencyKey: nil, timestamp: Date()
        )
    }

    @Test func aDocumentChangedTwiceInAPageAppearsOnceAtItsLatestRevision() throws {
        let events = [change(1, id: "a", rev: "1-x"), change(2, id: "b", rev: "1-y"), change(3, id: "a", rev: "2-z"), change(4, id: "c", rev: "1-w")]
        let page = SyncPage.build(events: events, hook: hook(events: ["leads.document_changed"], pageSize: 2), grantedChannels: ["bde"], after: 0)
        #expect(page.rows.map { $0["_id"]?.stringValue } == ["a", "b"])
        #expect(page.rows[0]["_rev"]?.stringValue == "2-z")
        #expect(page.through == 3, "the page ends where it filled: c starts the next one")
        let body = try JSONValue(parsing: page.body(hook: hook(events: ["leads.document_changed"], pageSize: 2), now: Date()))
        #expect(body["table"]?.stringValue == "leads")
        #expect(body["cursor"]?.stringValue == "3")
        #expect(body["hook_id"] == .int(7))
        // WebhookDB's names for the hook and what it syncs.
        #expect(body["integration_id"]?.stringValue == "7")
        #expect(body["integration_service"]?.stringValue == "leads")
        #expect(body["sync_timestamp"]?.stringValue != nil)
    }

    @Test func theVerificationPageIsWebhookDBs() throws {
        let body = try JSONValue(parsing: SyncPage.verificationBody())
        #expect(body == .object([("rows", .array([])), ("integration_id", .string("0")), ("integration_service", .string("httpsync_test")), ("table", .string("test"))]))
    }

    @Test func eventsTheHookDoesNotMatchAreSkippedButCovered() {
        let events = [
            Event(seq: 5, id: "e5", type: "lead.updated", data: "{}", channels: [], idempotencyKey: nil, timestamp: Date()),
            Event(seq: 6, id: "e6", type: "lead.created", data: #"{"lead_id":"x"}"#, channels: [], idempotencyKey: nil, timestamp: Date()),
        ]
        let page = SyncPage.build(events: events, hook: hook(events: ["lead.created"], pageSize: 10), grantedChannels: ["bde"], after: 4)
        #expect(page.rows.map { $0["seq"] } == [.int(6)])
        #expect(page.through == 6)
    }

    /// A page is bounded in bytes as well as rows: large documents go a few a page, a document
    /// larger than the bound alone, and none is skipped.
    @Test func aPageEndsBeforeItPassesItsSizeInBytes() {
        func large(_ seq: Int64, kilobytes: Int) -> Event {
            let doc = #"{"_id":"d\#(seq)","_rev":"1-x","blob":"\#(String(repeating: "x", count: kilobytes * 1024))"}"#
            return Event(
                seq: seq, id: "evt_\(seq)", type: "leads.document_changed",
                data: #"{"database":"leads","id":"d\#(seq)","rev":"1-x","deleted":false,"channels":[],"doc":\#(doc),"old_doc":null}"#,
                channels: ["bde"], idempotencyKey: nil, timestamp: Date()
            )
        }
        let sync = hook(events: ["leads.document_changed"], pageSize: 100)
        let events = (1...5).map { large($0, kilobytes: 400) }
        let first = SyncPage.build(events: events, hook: sync, grantedChannels: ["bde"], after: 0)
        #expect(first.rows.count == 2 && first.through == 2)
        let next = SyncPage.build(events: Array(events.dropFirst(2)), hook: sync, grantedChannels: ["bde"], after: 2)
        #expect(next.rows.count == 2 && next.through == 4)
        let huge = SyncPage.build(events: [large(6, kilobytes: 1500), large(7, kilobytes: 1)], hook: sync, grantedChannels: ["bde"], after: 5)
        #expect(huge.rows.count == 1 && huge.through == 6)
    }
}
