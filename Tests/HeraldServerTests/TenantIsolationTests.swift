import Foundation
import HeraldCore
import Testing

/// What one tenant can do to another: read nothing the other was not given, and neither stall, skip
/// nor refuse the other's work. Scaled-down versions of the loads that once did.
@Suite struct TenantIsolationTests {
    /// A document shared with a second team after its first revision: that team never gets the
    /// revision it could not read, not in its hook's payload, its filter's `oldDoc` or its feed.
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func aTeamGivenADocumentNeverReceivesTheRevisionBeforeIt() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                _ = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
                // The filter passes only events without an old revision: a leak would skip the delivery.
                let filter = "function (doc, oldDoc) { return oldDoc === null; }"
                _ = try await herald.makeHook(
                    cce, #"{"url":"\#(receiver.url("/filtered"))","events":["leads.document_changed"],"channels":["cce"],"filter":\#(JSONValue.string(filter).jsonString)}"#
                )
                _ = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/plain"))","events":["leads.document_changed"],"channels":["cce"]}"#)
                let provider = try await herald.providerToken()
                let first = try await herald.call(.PUT, "/db/leads/d-move", token: provider, body: #"{"ssn":"MOVE-SECRET","channels":["bde"]}"#)
                let rev = try #require(first.json["rev"]?.stringValue)
                let shared = try await herald.call(.PUT, "/db/leads/d-move?rev=\(rev)", token: provider, body: #"{"name":"shared","channels":["bde","cce"]}"#)
                #expect(shared.status == 201)
                let changes: @Sendable () -> [TestReceiver.Received] = { receiver.received.filter { $0.header("X-Herald-Event") == "leads.document_changed" } }
                try await eventually("both hooks get the shared revision") { Set(changes().map(\.path)) == ["/filtered", "/plain"] }
                #expect(changes().count == 2)
                for delivery in changes() {
                    #expect(!delivery.bodyString.contains("MOVE-SECRET"), "\(delivery.path): \(delivery.bodyString)")
                    #expect(try JSONValue(parsing: delivery.body)["data"]?["old_doc"] == .null)
                }
                let feed = try await herald.call(.GET, "/api/events?since=0", token: cce.token)
                #expect(feed.status == 200 && feed.json["results"]?.arrayValue?.count == 1)
                #expect(!feed.text.contains("MOVE-SECRET"), "\(feed.text)")
            }
        }
    }
}
