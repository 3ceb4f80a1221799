import Foundation
import HeraldCore
import Synchronization
import Testing


/// Nothing accepted is lost: a Herald process killed with SIGKILL while deliveries are in flight
/// delivers all of them after it is started again on the same data directory.
@Suite struct CrashRecoveryTests {
    func serve(_ binary: URL, _ dataDirectory: URL) throws -> ChildProcess {
        try ChildProcess(
            binary: binary,
            arguments: ["serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--retry-schedule", "200ms,200ms,200ms"]
        )
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func deliveriesInFlightWhenKilledAreDeliveredAfterRestart() async throws {
        let binary = try ExternalTools.require(ExternalTools.heraldBinary, "the built herald executable")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-crash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory)
        let leadCount = 20

        try await TestReceiver.run { receiver in
            // Hold every lead for a long time so they are all in flight when the process dies.
            receiver.respond { _, request in
                request.header("X-Herald-Event") == "lead.created" ? .init(delay: .seconds(20)) : .init()
            }
            let first = try serve(binary, dataDirectory)
            defer { first.stop() }
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await first.waitForPort())")
            let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["lead.created"],"timeout_seconds":60}"#)
            #expect(hook.status == 201, "\(hook.text)")
            var eventIDs: Set<String> = []
            for index in 0..<leadCount {
                let response = try await api.call(.POST, "/api/events", token: providerToken, body: #"{"type":"lead.created","data":{"lead_id":"l\#(index)"}}"#)
                #expect(response.status == 202)
                if let id = response.json["id"]?.stringValue { eventIDs.insert(id) }
            }
            try await eventually("every lead is in flight at the receiver", timeout: .seconds(60)) {
                receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == leadCount
            }
            first.kill()

            // The receiver recovers; a new process on the same data directory resumes.
            receiver.respond { _, _ in .init() }
            let second = try serve(binary, dataDirectory)
            defer { second.stop() }
            let restarted = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await second.waitForPort())")
            try await eventually("every lead delivered successfully", timeout: .seconds(30)) {
                let log = try await restarted.call(.GET, "/api/hooks/1/deliveries?status=success&event=lead.created&per_page=100", token: teamToken)
                return log.json["deliveries"]?.arrayValue?.count == leadCount
            }
            let delivered = Set(
                receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.compactMap { try? JSONValue(parsing: $0.body)["id"]?.stringValue }
            )
            #expect(delivered == eventIDs)
            let pending = try await restarted.call(.GET, "/api/hooks/1/deliveries?status=pending", token: teamToken)
            #expect(pending.json["deliveries"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func documentsWrittenBeforeAKillAreKeptAndTheirEventsDelivered() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-crash-docs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory, databases: ["leads"])
        try await TestReceiver.run { receiver in
            let first = try serve(binary, dataDirectory)
            defer { first.stop() }
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await first.waitForPort())")
            let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["leads.document_changed"],"channels":["bde"]}"#)
            #expect(hook.status == 201, "\(hook.text)")
            // Four writers; the process is killed in the middle of their burst.
            let accepted = AcceptedDocuments()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<200 {
                            let id = "w\(writer)-\(index)"
                            guard let response = try? await api.call(.PUT, "/db/leads/\(id)", token: providerToken, body: #"{"channels":["bde"]}"#) else { return }
                            if response.status == 201, let rev = response.json["rev"]?.stringValue { accepted.revisions.withLock { $0[id] = rev } }
                        }
                    }
                }
                // A positive signal, however slow a loaded machine is to give it.
                try await eventually("a burst is under way", timeout: .seconds(60)) { accepted.revisions.withLock { $0.count } >= 100 }
                first.kill()
                try await group.waitForAll()
            }
            let written = accepted.revisions.withLock { $0 }
            #expect(written.count >= 100)

            let second = try serve(binary, dataDirectory)
            defer { second.stop() }
            let restarted = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await second.waitForPort())")
            for (id, rev) in written {
                let doc = try await restarted.call(.GET, "/db/leads/\(id)", token: providerToken)
                #expect(doc.status == 200 && doc.json["_rev"]?.stringValue == rev, "\(id) got its 201 before the kill")
            }
            try await eventually("every accepted document's change is delivered", timeout: .seconds(30)) {
                let ids = Set(receiver.received.compactMap { try? JSONValue(parsing: $0.body)["data"]?["id"]?.stringValue })
                return Set(written.keys).isSubset(of: ids)
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"), .timeLimit(.minutes(2)))
    func sigtermDuringABurstFinishesTheAttemptsInFlightAndTheRestIsDeliveredOnceAfterRestart() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-sigterm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory)
        let leadCount = 300
        try await TestReceiver.run { receiver in
            // Each lead takes the receiver half a second: the burst is far from done at the signal.
            receiver.respond { _, request in request.header("X-Herald-Event") == "lead.created" ? .init(delay: .milliseconds(500)) : .init() }
            let first = try serve(binary, dataDirectory)
            defer { first.stop() }
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await first.waitForPort())")
            let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
            #expect(hook.status == 201, "\(hook.text)")
            let batch = (0..<leadCount).map { #"{"type":"lead.created","data":{"lead_id":"l\#($0)"}}"# }.joined(separator: ",")
            #expect(try await api.call(.POST, "/api/events", token: providerToken, body: "[\(batch)]").status == 202)
            @Sendable func leads() -> [String] {
                receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.compactMap {
                    try? JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue
                }
            }
            try await eventually("attempts are in flight") { receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count >= 40 }
            first.process.send(SIGTERM)
            #expect(try await first.exited(timeout: .seconds(30)) == 0, "\(first.output.suffix(2000))")
            let beforeRestart = leads().count
            #expect(beforeRestart < leadCount, "the burst was over before the signal: nothing was tested")

            // Every attempt begun before the signal was finished and recorded: none is sent again.
            receiver.respond { _, _ in .init() }
            let second = try serve(binary, dataDirectory)
            defer { second.stop() }
            _ = try await second.waitForPort()
            try await eventually("every lead delivered", timeout: .seconds(60)) { Set(leads()).count == leadCount }
            let received = leads()
            let twice = Dictionary(grouping: received, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            #expect(twice.isEmpty, "sent twice: \(twice)")
        }
    }
}

/// Documents whose write got its 201, with their revision.
final class AcceptedDocuments: Sendable {
    let revisions = Mutex<[String: String]>([:])
}
