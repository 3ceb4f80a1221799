import Foundation
import HeraldCore
import HeraldVerify
import Hummingbird
import Logging
import ReceiverExample
import Synchronization
import Testing

/// The verification snippets in README.md (kept in Examples/) verify real deliveries in each
/// language, and refuse tampered ones.
@Suite struct VerificationSnippetTests {
    static let examples = ExternalTools.packageRoot.appendingPathComponent("Examples")

    /// A real delivery and the same delivery with a changed body, as JSON cases for the harnesses.
    func deliveries() async throws -> (secret: String, cases: String) {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"l1","name":"Zoë"}}"#)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                let headers = JSONValue.object(request.headers.map { ($0.0, .string($0.1)) })
                let cases = JSONValue.array([
                    .object([("headers", headers), ("body", .string(Data(request.body).base64EncodedString())), ("genuine", .bool(true))]),
                    .object([("headers", headers), ("body", .string(Data(request.body + [0x20]).base64EncodedString())), ("genuine", .bool(false))]),
                ])
                return (hook.secret, cases.jsonString)
            }
        }
    }

    @Test func theReadmeShowsEverySnippetAsTested() throws {
        let readme = try String(contentsOf: ExternalTools.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for file in ["verify/verify_standardwebhooks.py", "verify/verify_hmac.py", "verify/verify.js", "verify/verify.go", "ReceiverExample/Receiver.swift"] {
            let snippet = try String(contentsOf: Self.examples.appendingPathComponent(file), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(readme.contains(snippet), "README.md must show Examples/\(file) as it is")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("standardwebhooks")), "needs Python with standardwebhooks"), arguments: ["verify_standardwebhooks.py", "verify_hmac.py"])
    func pythonSnippets(_ file: String) async throws {
        let module = file == "verify_hmac.py" ? "hmac" : "standardwebhooks"
        let python = try await ExternalTools.requirePython(importing: module)
        let (secret, cases) = try await deliveries()
        let harness = """
            import base64, json, sys
            exec(open(sys.argv[1]).read())
            for case in json.loads(sys.stdin.read()):
                try:
                    ok = verify(sys.argv[2], case["headers"], base64.b64decode(case["body"])) is not False
                except Exception:
                    ok = False
                if ok != case["genuine"]:
                    print("wrong verdict", case["genuine"]); sys.exit(1)
            print("verdicts right")
            """
        let result = try await ExternalTools.run(python, ["-c", harness, Self.examples.appendingPathComponent("verify/\(file)").path, secret], stdin: cases)
        #expect(result.status == 0 && result.output.contains("verdicts right"), "\(result.output)")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.node != nil), "needs Node.js"))
    func nodeSnippet() async throws {
        let node = try ExternalTools.require(ExternalTools.node, "Node.js")
        let (secret, cases) = try await deliveries()
        let harness = """
            const { verify } = require(process.argv[1]);
            const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
            for (const c of cases) {
              if (verify(process.argv[2], c.headers, Buffer.from(c.body, "base64")) !== c.genuine) { console.log("wrong verdict"); process.exit(1); }
            }
            console.log("verdicts right");
            """
        let result = try await ExternalTools.run(node, ["-e", harness, Self.examples.appendingPathComponent("verify/verify.js").path, secret], stdin: cases)
        #expect(result.status == 0 && result.output.contains("verdicts right"), "\(result.output)")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.go != nil), "needs Go"))
    func goSnippet() async throws {
        let go = try ExternalTools.require(ExternalTools.go, "Go")
        let (secret, cases) = try await deliveries()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-go-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: Self.examples.appendingPathComponent("verify/verify.go"), to: directory.appendingPathComponent("verify.go"))
        try "module harness\n\ngo 1.19\n".write(to: directory.appendingPathComponent("go.mod"), atomically: true, encoding: .utf8)
        try """
            package main

            import (
            \t"encoding/base64"
            \t"encoding/json"
            \t"fmt"
            \t"net/http"
            \t"os"
            \t"time"
            )

            func main() {
            \tvar cases []struct {
            \t\tHeaders map[string]string `json:"headers"`
            \t\tBody    string            `json:"body"`
            \t\tGenuine bool              `json:"genuine"`
            \t}
            \tif err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
            \t\tpanic(err)
            \t}
            \tfor _, c := range cases {
            \t\theader := http.Header{}
            \t\tfor k, v := range c.Headers {
            \t\t\theader.Set(k, v)
            \t\t}
            \t\tbody, _ := base64.StdEncoding.DecodeString(c.Body)
            \t\tif Verify(os.Args[1], header, body, 5*time.Minute) != c.Genuine {
            \t\t\tfmt.Println("wrong verdict")
            \t\t\tos.Exit(1)
            \t\t}
            \t}
            \tfmt.Println("verdicts right")
            }
            """.write(to: directory.appendingPathComponent("main.go"), atomically: true, encoding: .utf8)
        let script = "cd '\(directory.path)' && HOME='\(directory.path)' GOCACHE='\(directory.path)/cache' GOFLAGS=-mod=mod '\(go)' run . '\(secret)'"
        let result = try await ExternalTools.run("/bin/sh", ["-c", script], stdin: cases)
        #expect(result.status == 0 && result.output.contains("verdicts right"), "\(result.output)")
    }

    @Test func swiftReceiverExample() async throws {
        let secret = "whsec_" + Data(repeating: 9, count: 32).base64EncodedString()
        let handled = HandledDeliveries()
        let router = buildReceiverRouter(secret: secret) { id, _ in handled.add(id) }
        var logger = Logger(label: "example")
        logger.logLevel = .error
        try await withRunningApplication(logger: logger) { onPort in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: logger)
        } _: { port in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(port)/herald","secret":"\#(secret)"}"#)
                try await eventually("the example receiver accepts the ping") { handled.count == 1 }
                // The attempt is in the log once recorded, a moment after the receiver answered.
                try await eventually("the log shows the receiver's 204") {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.first?["status_code"] == .int(204)
                }
            }
            let forged = try await HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)")
                .call(.POST, "/herald", token: nil, body: "{}", headers: ["webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"])
            #expect(forged.status == 401)
            #expect(handled.count == 1)
        }
    }
}

final class HandledDeliveries: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ id: String) { ids.withLock { $0.append(id) } }
    var count: Int { ids.withLock { $0.count } }
}

