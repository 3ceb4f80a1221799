import Foundation
import Logging
import HeraldCore
import NIOHTTP1
import Testing

/// Document databases at `/db/`, as CouchDB and Sync Gateway clients use them, over real HTTP.
@Suite struct DocumentAPITests {
    @Test func anAdminCreatesDatabasesThatAClientSees() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let welcome = try await herald.call(.GET, "/db/", token: nil)
            #expect(welcome.status == 200 && welcome.json["couchdb"]?.stringValue == "Welcome")
            #expect(welcome.json["vendor"]?["version"]?.stringValue == HeraldVersion.current, "the version herald --version prints")
            #expect(try await herald.call(.PUT, "/db/leads", token: provider).status == 403)
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            let again = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            #expect(again.status == 412 && again.json["error"]?.stringValue == "file_exists")
            #expect(try await herald.call(.PUT, "/db/Bad.Name", token: herald.adminToken).status == 400)
            #expect(try await herald.call(.GET, "/db/_all_dbs", token: provider).json.arrayValue?.compactMap(\.stringValue) == ["leads"])
            let info = try await herald.call(.GET, "/db/leads", token: provider)
            #expect(info.json["db_name"]?.stringValue == "leads" && info.json["doc_count"] == .int(0))
            let missing = try await herald.call(.GET, "/db/nope", token: provider)
            #expect(missing.status == 404 && missing.json["error"]?.stringValue == "not_found")
            // A write to a database that does not exist is refused by its transaction, as a 404.
            for (method, path) in [(HTTPMethod.PUT, "/db/nope/doc"), (.POST, "/db/nope"), (.PUT, "/db/nope/_local/cp"), (.POST, "/db/nope/_bulk_docs")] {
                let refused = try await herald.call(method, path, token: provider, body: #"{"docs":[]}"#)
                #expect(refused.status == 404 && refused.json["reason"]?.stringValue == "no_db_file", "\(method) \(path)")
            }
            // Hooks can subscribe to the database's changes like to any event type.
            #expect(try await herald.call(.GET, "/api/event-types", token: provider).text.contains("leads.document_changed"))
        }
    }

    @Test func writesFollowMVCCAsCouchDBDoes() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            let created = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Ana","channels":["bde"]}"#)
            #expect(created.status == 201 && created.json["ok"] == .bool(true) && created.json["id"]?.stringValue == "lead-1")
            let rev1 = try #require(created.json["rev"]?.stringValue)
            #expect(rev1.hasPrefix("1-") && created.header("ETag") == "\"\(rev1)\"")
            let exists = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Eva"}"#)
            #expect(exists.status == 409 && exists.json["reason"]?.stringValue == "Document exists")
            let stale = try await herald.call(.PUT, "/db/leads/lead-1?rev=1-00", token: provider, body: #"{"name":"Eva"}"#)
            #expect(stale.status == 409 && stale.json["reason"]?.stringValue == "Document revision conflict")
            let updated = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"_rev":"\#(rev1)","name":"Eva","channels":["bde"]}"#)
            let rev2 = try #require(updated.json["rev"]?.stringValue)
            #expect(updated.status == 201 && rev2.hasPrefix("2-"))
            let ifMatch = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Eve","channels":["bde"]}"#, headers: ["If-Match": "\"\(rev2)\""])
            let rev3 = try #require(ifMatch.json["rev"]?.stringValue)
            #expect(ifMatch.status == 201 && rev3.hasPrefix("3-"))
            let read = try await herald.call(.GET, "/db/leads/lead-1?revs=true", token: provider)
            #expect(read.json["_id"]?.stringValue == "lead-1" && read.json["_rev"]?.stringValue == rev3 && read.json["name"]?.stringValue == "Eve")
            #expect(read.json["_revisions"]?["start"] == .int(3) && read.json["_revisions"]?["ids"]?.arrayValue?.count == 3)
            #expect(try await herald.call(.DELETE, "/db/leads/lead-1", token: provider).status == 409)
            let deleted = try await herald.call(.DELETE, "/db/leads/lead-1?rev=\(rev3)", token: provider)
            #expect(deleted.status == 200 && deleted.json["rev"]?.stringValue?.hasPrefix("4-") == true)
            let gone = try await herald.call(.GET, "/db/leads/lead-1", token: provider)
            #expect(gone.status == 404 && gone.json["reason"]?.stringValue == "deleted")
            let back = try await herald.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Ana"}"#)
            #expect(back.status == 201 && back.json["rev"]?.stringValue?.hasPrefix("5-") == true)
            let posted = try await herald.call(.POST, "/db/leads", token: provider, body: #"{"name":"Generated"}"#)
            #expect(posted.status == 201 && (posted.json["id"]?.stringValue?.count ?? 0) == 32)
            #expect(try await herald.call(.PUT, "/db/leads/x", token: provider, body: "{nope").json["error"]?.stringValue == "bad_request")
            #expect(try await herald.call(.PUT, "/db/leads/x", token: provider, body: #"{"_secret":1}"#).status == 400)
            #expect(try await herald.call(.GET, "/db/leads/never", token: provider).json["reason"]?.stringValue == "missing")
            #expect(try await herald.call(.GET, "/db/leads", token: provider).json["doc_count"] == .int(2))
        }
    }

    @Test func aWriteIsDeliveredOnceToASubscribedHook() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["leads.document_changed"],"channels":["bde"]}"#)
                let provider = try await herald.providerToken()
                let created = try await herald.call(.PUT, "/db/leads/lead-7", token: provider, body: #"{"name":"Ana","channels":["bde"]}"#)
                _ = try await herald.call(.PUT, "/db/leads/other", token: provider, body: #"{"name":"Not for BDE","channels":["cce"]}"#)
                _ = try await herald.call(.PUT, "/db/leads/lead-8", token: provider, body: #"{"name":"Eva","channels":["bde"]}"#)
                try await eventually("the later document arrives") { receiver.received.contains { $0.bodyString.contains("lead-8") } }
                let changes = receiver.received.filter { $0.header("X-Herald-Event") == "leads.document_changed" }
                let data = try changes.map { try JSONValue(parsing: $0.body)["data"] ?? .null }
                #expect(data.compactMap { $0["id"]?.stringValue } == ["lead-7", "lead-8"])
                #expect(data[0]["doc"]?["_id"]?.stringValue == "lead-7" && data[0]["doc"]?["_rev"] == created.json["rev"])
                #expect(data[0]["database"]?.stringValue == "leads" && data[0]["old_doc"] == .null)
            }
        }
    }

    @Test func bulkDocsGiveOneResultPerDocumentAndAllDocsListsTheLiveOnes() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            let first = try await herald.call(.PUT, "/db/leads/b", token: provider, body: #"{"n":0}"#)
            let bulk = #"{"docs":[{"_id":"a","n":1},{"_id":"b","n":2},{"_id":"c","n":3},{"_id":"d","_bad":1}]}"#
            let results = try await herald.call(.POST, "/db/leads/_bulk_docs", token: provider, body: bulk)
            #expect(results.status == 201)
            let rows = try #require(results.json.arrayValue)
            #expect(rows.map { $0["id"]?.stringValue } == ["a", "b", "c", "d"])
            #expect(rows[0]["rev"]?.stringValue?.hasPrefix("1-") == true && rows[2]["rev"] != nil)
            #expect(rows[1]["error"]?.stringValue == "conflict" && rows[3]["error"]?.stringValue == "bad_request")
            let rev = try #require(first.json["rev"]?.stringValue)
            _ = try await herald.call(.DELETE, "/db/leads/c?rev=\(try #require(rows[2]["rev"]?.stringValue))", token: provider)
            let all = try await herald.call(.GET, "/db/leads/_all_docs?include_docs=true", token: provider).json
            #expect(all["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["a", "b"])
            #expect(all["rows"]?.arrayValue?[1]["value"]?["rev"]?.stringValue == rev)
            #expect(all["rows"]?.arrayValue?[0]["doc"]?["n"] == .int(1))
            let ranged = try await herald.call(.GET, #"/db/leads/_all_docs?startkey=%22b%22&endkey=%22z%22"#, token: provider).json
            #expect(ranged["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["b"])
            let keyed = try await herald.call(.POST, "/db/leads/_all_docs", token: provider, body: #"{"keys":["b","a","zz"]}"#).json
            #expect(keyed["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["b", "a"])
        }
    }

    @Test func localDocumentsKeepCheckpointsOutOfTheFeedAndPerTeam() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            let saved = try await herald.call(.PUT, "/db/leads/_local/worker", token: bde.token, body: #"{"last_seq":"12"}"#)
            #expect(saved.status == 201 && saved.json["rev"]?.stringValue == "0-1" && saved.json["id"]?.stringValue == "_local/worker")
            #expect(try await herald.call(.PUT, "/db/leads/_local/worker", token: bde.token, body: #"{"last_seq":"13"}"#).status == 409)
            let next = try await herald.call(.PUT, "/db/leads/_local/worker", token: bde.token, body: #"{"_rev":"0-1","last_seq":"13"}"#)
            #expect(next.json["rev"]?.stringValue == "0-2")
            let read = try await herald.call(.GET, "/db/leads/_local/worker", token: bde.token)
            #expect(read.json["_id"]?.stringValue == "_local/worker" && read.json["last_seq"]?.stringValue == "13")
            // Another team, and the provider, have their own checkpoints under the same name.
            #expect(try await herald.call(.GET, "/db/leads/_local/worker", token: cce.token).status == 404)
            #expect(try await herald.call(.GET, "/db/leads/_local/worker", token: provider).status == 404)
            // Checkpoints are not documents: no change, no event.
            #expect(try await herald.call(.GET, "/db/leads/_changes", token: provider).json["results"]?.arrayValue?.isEmpty == true)
            #expect(try await herald.store.lastSeq() == 0)
            #expect(try await herald.call(.DELETE, "/db/leads/_local/worker?rev=0-2", token: bde.token).status == 200)
            #expect(try await herald.call(.GET, "/db/leads/_local/worker", token: bde.token).status == 404)
        }
    }

    @Test func aDocumentInNoChannelOrLeavingOneDoesNotLeakThroughEvents() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.call(.PUT, "/api/teams/bde/channels", token: herald.adminToken, body: #"{"channels":["shared"]}"#)
                _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["leads.document_changed"],"channels":["bde","shared"]}"#)
                let provider = try await herald.providerToken()
                // In no channel: for providers and admins only, as in Sync Gateway.
                _ = try await herald.call(.PUT, "/db/leads/unrouted", token: provider, body: #"{"secret":"s1"}"#)
                // Moved from a channel BDE may not see into one it may: its old body must not follow it.
                let hidden = try await herald.call(.PUT, "/db/leads/moved", token: provider, body: #"{"secret":"s2","channels":["cce"]}"#)
                let rev = try #require(hidden.json["rev"]?.stringValue)
                _ = try await herald.call(.PUT, "/db/leads/moved?rev=\(rev)", token: provider, body: #"{"public":"p","channels":["shared"]}"#)
                _ = try await herald.call(.PUT, "/db/leads/last", token: provider, body: #"{"channels":["bde"]}"#)
                try await eventually("the last document arrives") { receiver.received.contains { $0.bodyString.contains(#""id":"last""#) } }
                let bodies = receiver.received.filter { $0.header("X-Herald-Event") == "leads.document_changed" }.map(\.bodyString)
                #expect(bodies.count == 2, "the moved document and the last one")
                #expect(!bodies.contains { $0.contains("s1") || $0.contains("s2") })
                let feed = try await herald.call(.GET, "/api/events?since=0", token: bde.token).text
                #expect(!feed.contains("s1") && !feed.contains("s2"))
                #expect(try await herald.call(.PUT, "/api/teams/bde/channels", token: herald.adminToken, body: #"{"channels":["_unrouted"]}"#).status == 422)
            }
        }
    }

    @Test func reservedIdsAreRefused() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            let reserved = try await herald.call(.PUT, "/db/leads/_design", token: provider, body: "{}")
            #expect(reserved.status == 400 && reserved.json["error"]?.stringValue == "bad_request")
            #expect(try await herald.call(.POST, "/db/leads", token: provider, body: #"{"_id":"_x"}"#).status == 400)
            let bulk = try await herald.call(.POST, "/db/leads/_bulk_docs", token: provider, body: #"{"docs":[{"_id":"_y"},{"_id":"ok"}]}"#)
            #expect(bulk.json.arrayValue?.map { $0["error"]?.stringValue } == ["bad_request", nil])
        }
    }

    @Test func aTeamReadsOnlyItsChannelsAndWritesNothing() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            _ = try await herald.call(.PUT, "/db/leads/ours", token: provider, body: #"{"channels":["bde"]}"#)
            _ = try await herald.call(.PUT, "/db/leads/theirs", token: provider, body: #"{"channels":["cce"]}"#)
            _ = try await herald.call(.PUT, "/db/leads/nobodys", token: provider, body: #"{"n":1}"#)
            #expect(try await herald.call(.GET, "/db/leads/ours", token: bde.token).status == 200)
            #expect(try await herald.call(.GET, "/db/leads/theirs", token: bde.token).status == 403)
            #expect(try await herald.call(.GET, "/db/leads/nobodys", token: bde.token).status == 403)
            #expect(try await herald.call(.PUT, "/db/leads/mine", token: bde.token, body: "{}").status == 403)
            let listed = try await herald.call(.GET, "/db/leads/_all_docs?include_docs=true", token: bde.token).json
            #expect(listed["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["ours"])
            // Neither the database's info nor _all_docs tells a team how many documents it cannot see.
            #expect(listed["total_rows"] == .int(1))
            let info = try await herald.call(.GET, "/db/leads", token: bde.token).json
            #expect(info["db_name"]?.stringValue == "leads" && info["doc_count"] == nil)
            #expect(try await herald.call(.GET, "/db/leads", token: provider).json["doc_count"] == .int(3))
            #expect(try await herald.call(.GET, "/db/leads/_all_docs", token: provider).json["total_rows"] == .int(3))
            let feed = try await herald.call(.GET, "/db/leads/_changes?include_docs=true", token: bde.token).json
            #expect(feed["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["ours"])
            #expect(feed["last_seq"]?.stringValue == String(try await herald.store.lastSeq()), "last_seq moves past what the team may not see")
            let all = try await herald.call(.GET, "/db/leads/_changes?since=1&limit=1", token: provider).json
            #expect(all["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["theirs"])
            // CouchDB clients send the token as the password of HTTP Basic.
            let basic = "Basic " + Data("bde:\(bde.token)".utf8).base64EncodedString()
            #expect(try await herald.call(.GET, "/db/leads/ours", token: nil, headers: ["Authorization": basic]).status == 200)
            let noAuth = try await herald.call(.GET, "/db/leads/ours", token: nil)
            #expect(noAuth.status == 401 && noAuth.json["error"]?.stringValue == "unauthorized")
        }
    }
}

@Suite struct StaleWriteTests {
    /// WebhookDB's conditional upsert: a database that names a version field discards a write whose
    /// version is not newer than the stored one, and takes a newer one without a revision.
    @Test func anOlderVersionIsDiscardedAndANewerOneWinsWithoutARevision() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let created = try await herald.call(.PUT, "/db/rows", token: herald.adminToken, body: #"{"version_field":"updated_at"}"#)
            #expect(created.status == 201, "\(created.text)")
            #expect(try await herald.call(.GET, "/db/rows", token: provider).json["version_field"]?.stringValue == "updated_at")
            let first = try await herald.call(.PUT, "/db/rows/r1", token: provider, body: #"{"updated_at":"2026-01-02T00:00:00Z","v":2}"#)
            #expect(first.status == 201)
            let rev = try #require(first.json["rev"]?.stringValue)
            let seq = try await herald.store.lastSeq()

            // Older, without a revision (as WebhookDB upserts): discarded, said so, nothing raised.
            let older = try await herald.call(.PUT, "/db/rows/r1", token: provider, body: #"{"updated_at":"2026-01-01T00:00:00Z","v":1}"#)
            #expect(older.status == 200 && older.json["stale"] == .bool(true) && older.json["rev"]?.stringValue == rev, "\(older.text)")
            #expect(try await herald.call(.GET, "/db/rows/r1", token: provider).json["v"] == .int(2))
            #expect(try await herald.store.lastSeq() == seq, "a discarded write appends no event")
            // The same version is not newer either; in a bulk write it is reported per document.
            let bulk = try await herald.call(
                .POST, "/db/rows/_bulk_docs", token: provider,
                body: #"{"docs":[{"_id":"r1","updated_at":"2026-01-02T00:00:00Z","v":9},{"_id":"r2","updated_at":"2026-01-01T00:00:00Z"}]}"#
            )
            #expect(bulk.json.arrayValue?.first?["stale"] == .bool(true), "\(bulk.text)")
            #expect(bulk.json.arrayValue?.last?["rev"]?.stringValue?.hasPrefix("1-") == true)

            // Newer, without a revision: written on top of the stored one.
            let newer = try await herald.call(.PUT, "/db/rows/r1", token: provider, body: #"{"updated_at":"2026-01-03T00:00:00Z","v":3}"#)
            #expect(newer.status == 201 && newer.json["rev"]?.stringValue?.hasPrefix("2-") == true, "\(newer.text)")
            // A stale revision is still a conflict, whatever the version.
            let conflict = try await herald.call(.PUT, "/db/rows/r1", token: provider, body: #"{"_rev":"\#(rev)","updated_at":"2026-01-04T00:00:00Z"}"#)
            #expect(conflict.status == 409)

            // Without a version field, revisions alone decide (CouchDB's rule).
            #expect(try await herald.call(.PUT, "/db/rows", token: herald.adminToken, body: #"{"version_field":null}"#).status == 200)
            #expect(try await herald.call(.PUT, "/db/rows/r1", token: provider, body: #"{"updated_at":"2027-01-01T00:00:00Z"}"#).status == 409)
            #expect(try await herald.call(.PUT, "/db/rows", token: herald.adminToken).status == 412)
            #expect(try await herald.call(.PUT, "/db/rows", token: herald.adminToken, body: #"{"version_field":"_rev"}"#).status == 400)
        }
    }
}

extension StaleWriteTests {
    @Test func theConfigFileNamesADatabasesVersionFieldAndTakesItBack() async throws {
        try await HeraldHarness.run { herald in
            let logger = Logger(label: "config")
            _ = try await herald.services.applyConfigFile(try SyncGatewayConfig(text: #"{"databases":{"rows":{"version_field":"updated_at"}}}"#), logger: logger)
            #expect(try await herald.store.database("rows")?.versionField == "updated_at")
            _ = try await herald.services.applyConfigFile(try SyncGatewayConfig(text: #"{"databases":{"rows":{}}}"#), logger: logger)
            #expect(try await herald.store.database("rows")?.versionField == nil)
        }
    }
}

@Suite struct DatabaseCommandTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theCLICreatesAndListsDatabases() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-db-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let created = try await ExternalTools.run(binary.path, ["db", "create", "leads", "--data-dir", directory.path])
        #expect(created.status == 0 && created.output.contains("leads.document_changed"), "\(created.output)")
        #expect(try await ExternalTools.run(binary.path, ["db", "create", "leads", "--data-dir", directory.path]).status != 0)
        #expect(try await ExternalTools.run(binary.path, ["db", "create", "Bad.Name", "--data-dir", directory.path]).status != 0)
        let listed = try await ExternalTools.run(binary.path, ["db", "list", "--data-dir", directory.path])
        #expect(listed.output.split(separator: "\n") == ["leads"])
    }
}
