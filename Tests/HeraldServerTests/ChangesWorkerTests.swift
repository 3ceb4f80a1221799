import Foundation
import HeraldCore
import Testing

/// The changes worker shown in README.md (Examples/worker/approval_worker.py), run against a real
/// Herald: it follows a channel, moves each document to its next state and keeps a checkpoint.
@Suite struct ChangesWorkerTests {
    static let worker = ExternalTools.packageRoot.appendingPathComponent("Examples/worker/approval_worker.py")

    @Test func theReadmeShowsTheWorkerAsTested() throws {
        let readme = try String(contentsOf: ExternalTools.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let snippet = try String(contentsOf: Self.worker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(readme.contains(snippet), "README.md must show Examples/worker/approval_worker.py as it is")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("json")), "needs Python 3"))
    func theWorkerApprovesLeadsAndResumesFromItsCheckpoint() async throws {
        let python = try await ExternalTools.requirePython(importing: "json")
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
            for id in ["l1", "l2"] {
                _ = try await herald.call(.PUT, "/db/leads/\(id)", token: provider, body: #"{"status":"needs-approval","channels":["needs-approval"]}"#)
            }
            _ = try await herald.call(.PUT, "/db/leads/l3", token: provider, body: #"{"status":"draft","channels":["drafts"]}"#)
            let base = herald.baseURL + "/db/leads"
            let first = try await ExternalTools.run(python, [Self.worker.path, base, provider, "200", "once"])
            #expect(first.status == 0, "\(first.output)")
            for id in ["l1", "l2"] {
                let doc = try await herald.call(.GET, "/db/leads/\(id)", token: provider).json
                #expect(doc["status"]?.stringValue == "approved" && doc["_rev"]?.stringValue?.hasPrefix("2-") == true)
            }
            #expect(try await herald.call(.GET, "/db/leads/l3", token: provider).json["status"]?.stringValue == "draft")
            let checkpoint = try await herald.call(.GET, "/db/leads/_local/approval-worker", token: provider).json
            let saved = try #require(checkpoint["last_seq"]?.stringValue.flatMap { Int64($0) })
            #expect(saved == (try await herald.store.lastSeq()))
            // A restart resumes from the checkpoint: it handles the new lead and touches no old one again.
            _ = try await herald.call(.PUT, "/db/leads/l4", token: provider, body: #"{"status":"needs-approval","channels":["needs-approval"]}"#)
            let second = try await ExternalTools.run(python, [Self.worker.path, base, provider, "200", "once"])
            #expect(second.status == 0, "\(second.output)")
            #expect(try await herald.call(.GET, "/db/leads/l4", token: provider).json["status"]?.stringValue == "approved")
            #expect(try await herald.call(.GET, "/db/leads/l1", token: provider).json["_rev"]?.stringValue?.hasPrefix("2-") == true)
        }
    }
}
