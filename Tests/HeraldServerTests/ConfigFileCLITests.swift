import Foundation
import HeraldCore
import Testing

/// `herald serve --config FILE`, as an operator runs it: the real executable, a real signal.
@Suite struct ConfigFileCLITests {
    static var ready: Bool { ExternalTools.runs(needing: ExternalTools.hasHeraldBinary && ExternalTools.jsWorkerBuilt) }

    func write(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sync-gateway-\(UUID().uuidString).json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test(.enabled(if: ready, "needs the built herald and herald-js executables"))
    func aConfigErrorStopsTheStartNamingThePath() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let file = try write(#"{"databases": {"leads": {"event_handlers": {"document_changed": [{"handler": "webhook", "url": "http://127.0.0.1:9/a"}, {"handler": "webhook"}]}}}}"#)
        defer { try? FileManager.default.removeItem(at: file) }
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let child = try ChildProcess(binary: binary, arguments: ["serve", "--data-dir", dataDirectory.path, "--port", "0", "--config", file.path])
        #expect(try await child.exited() != 0)
        #expect(child.output.contains("databases.leads.event_handlers.document_changed[1].url: is required"), "\(child.output)")
        child.stop()
    }

    @Test(.enabled(if: ready, "needs the built herald and herald-js executables"))
    func aGracefulStopByTheSignalPostsDbStateChangedOffline() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        try await TestReceiver.run { receiver in
            let file = try write("""
                {"adminInterface": "127.0.0.1:4985", "databases": {"leads": {"bucket": "leads", "event_handlers": {
                  "db_state_changed": [{"handler": "webhook", "url": "\(receiver.url("/state"))"}],
                  "document_changed": [{"handler": "webhook", "url": "\(receiver.url("/docs"))", "filter": `function(doc) {
                      return doc.type == "lead";
                  }`}]
                }}}}
                """)
            defer { try? FileManager.default.removeItem(at: file) }
            let child = try ChildProcess(
                binary: binary,
                arguments: ["serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--config", file.path, "--log", "Events+"]
            )
            defer { child.stop() }
            _ = try await child.waitForPort()
            try await eventually("online") { receiver.received.contains { $0.path == "/state" } }
            #expect(child.output.contains("setting not used by Herald, ignored"))
            #expect(child.output.contains("adminInterface") && child.output.contains("databases.leads.bucket"))
            child.process.send(SIGINT)
            _ = try await child.exited()
            let states = receiver.received.filter { $0.path == "/state" }.compactMap { try? JSONValue(parsing: $0.body)["state"]?.stringValue }
            #expect(states == ["online", "offline"])
        }
    }
}
