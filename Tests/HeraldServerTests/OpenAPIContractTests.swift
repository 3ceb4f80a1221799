import Foundation
import HeraldCore
import Testing

/// The API as its OpenAPI document describes it: schemathesis (property-based, from the document)
/// calls every operation of a real `herald serve` with admin, team and provider tokens, valid and
/// invalid input, no or a wrong token, undeclared methods, and checks each answer against the
/// document. It runs in a CI step of its own (`HERALD_TEST_CONTRACT=1`): it keeps a server busy for
/// a while, which would only slow the other suites down.
@Suite struct OpenAPIContractTests {
    static let requested = ProcessInfo.processInfo.environment["HERALD_TEST_CONTRACT"] == "1"
    static var schemathesis: String? {
        guard let python = ExternalTools.python(importing: "schemathesis") else { return nil }
        let script = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        return FileManager.default.isExecutableFile(atPath: script) ? script : nil
    }

    @Test(
        .enabled(if: requested, "a CI step of its own: HERALD_TEST_CONTRACT=1 swift test --filter OpenAPIContractTests"),
        .enabled(if: ExternalTools.runs(needing: schemathesis != nil && ExternalTools.hasHeraldBinary), "needs schemathesis (pip) and the built herald"),
        .timeLimit(.minutes(10))
    )
    func everyOperationAnswersAsTheDocumentSays() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let schemathesis = try #require(Self.schemathesis, "pip install schemathesis (.ci/run does)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-contract-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        func cli(_ arguments: [String]) async throws -> String {
            let result = try await ExternalTools.run(binary.path, arguments + ["--data-dir", data])
            try #require(result.status == 0, "herald \(arguments.joined(separator: " ")): \(result.output)")
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try await cli(["team", "create", "--name", "BDE", "--slug", "bde"])
        let admin = try await cli(["token", "create", "--scope", "admin"])
        let provider = try await cli(["token", "create", "--scope", "provider"])
        let team = try await cli(["token", "create", "--scope", "team", "--team", "bde"])

        try await TestReceiver.run { receiver in
            let server = try ChildProcess(binary: binary, arguments: ["serve", "--data-dir", data, "--port", "0", "--allow-private-targets"])
            defer { server.stop() }
            let baseURL = "http://127.0.0.1:\(try await server.waitForPort())"
            let api = HeraldHarnessClient(baseURL: baseURL)
            let hook = try await api.call(.POST, "/api/hooks", token: team, body: #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
            let spare = try await api.call(.POST, "/api/hooks", token: team, body: #"{"url":"\#(receiver.url("/spare"))"}"#)
            let hookID = try #require(hook.json["id"]?.intValue, "\(hook.text)")
            let spareID = try #require(spare.json["id"]?.intValue, "\(spare.text)")
            let deliveryID = try #require(
                try await eventuallyValue("the hook's ping is in its log") {
                    try await api.call(.GET, "/api/hooks/\(hookID)/deliveries", token: team).json["deliveries"]?.arrayValue?.first?["id"]?.stringValue
                }
            )
            // A database with a document, so that the document operations reach their logic.
            #expect(try await api.call(.PUT, "/db/leads", token: admin).status == 201)
            #expect(try await api.call(.PUT, "/db/leads/lead-1", token: provider, body: #"{"name":"Ana","channels":["bde"]}"#).status == 201)
            // A hook, one of its deliveries and a spare hook, so that the hook operations reach
            // their logic instead of a 404; the spare one is for DELETE.
            let config = directory.appendingPathComponent("schemathesis.toml")
            let base = try String(contentsOf: ExternalTools.packageRoot.appendingPathComponent("Tests/contract/schemathesis.toml"), encoding: .utf8)
            try (base + """

                [[operations]]
                include-path-regex = "^/api/hooks/\\\\{id\\\\}"
                exclude-name = "DELETE /api/hooks/{id}"
                parameters = { "path.id" = \(hookID), "path.delivery_id" = "\(deliveryID)" }

                [[operations]]
                include-name = "DELETE /api/hooks/{id}"
                parameters = { "path.id" = \(spareID) }

                [[operations]]
                include-path-regex = "^/db/\\\\{db\\\\}/(_all_docs|_bulk_docs|\\\\{docid\\\\})"
                parameters = { "path.db" = "leads" }

                [[operations]]
                include-path-regex = "^/db/\\\\{db\\\\}/_local/"
                parameters = { "path.db" = "leads", "path.localid" = "checkpoint-1" }

                [[operations]]
                include-path-regex = "^/db/\\\\{db\\\\}/_changes$"
                parameters = { "path.db" = "leads", "query.timeout" = 200 }

                [[operations]]
                include-name = "GET /db/{db}"
                parameters = { "path.db" = "leads" }

                """).write(to: config, atomically: true, encoding: .utf8)
            let seed = ProcessInfo.processInfo.environment["HERALD_CONTRACT_SEED"] ?? "1"
            let examples = ProcessInfo.processInfo.environment["HERALD_CONTRACT_EXAMPLES"] ?? "20"
            let run = try ChildProcess(
                binary: URL(fileURLWithPath: schemathesis),
                arguments: [
                    "--config-file", config.path, "--no-color",
                    "run", baseURL + "/api/openapi.yaml", "--checks", "all", "--phases", "examples,coverage,fuzzing",
                    "--max-examples", examples, "--workers", "1", "--seed", seed,
                ],
                environment: ["HERALD_ADMIN_TOKEN": admin, "HERALD_PROVIDER_TOKEN": provider, "HERALD_TEAM_TOKEN": team]
            )
            let status = try await run.exited(timeout: .seconds(480))
            let output = run.output
            print(output.split(separator: "\n").suffix(24).joined(separator: "\n"))
            #expect(status == 0, "schemathesis found mismatches (seed \(seed)):\n\(output.suffix(12_000))")
            #expect(output.contains(" passed"), "\(output.suffix(2000))")
            #expect(!server.output.contains("Fatal error"), "the server crashed:\n\(server.output.suffix(4000))")
        }
    }
}
