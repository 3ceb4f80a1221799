import Foundation
import HeraldCore
import HeraldVerify
import Testing

/// `herald listen` and `herald verify`, run as the built binary against a real Herald.
@Suite struct ReceiverToolTests {
    let secret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func listenVerifiesRealDeliveriesAndRejectsTamperedOnes() async throws {
        let binary = try ExternalTools.require(ExternalTools.heraldBinary, "the built herald executable")
        let listener = try ChildProcess(binary: binary, arguments: ["listen", "--port", "0", "--secret", secret])
        defer { listener.stop() }
        let port = try await listener.waitForPort()
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(port)/hook","secret":"\#(secret)","events":["lead.*"]}"#)
            _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"lead_42","name":"Ana"}}"#)
            _ = try await listener.waitFor(#"── lead\.created  delivery [0-9a-f-]{36}  hook \#(hook.id)\n✓ verified \(v1, sha256\)"#)
            #expect(listener.output.contains(#"  "data": {"#))
            #expect(listener.output.contains(#""lead_id": "lead_42""#))
            try await eventually("the delivery is a success") {
                let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=success&event=lead.created", token: bde.token)
                return log.json["deliveries"]?.arrayValue?.count == 1
            }
        }
        // A request whose body was changed after signing is refused with 401.
        let body = Array(#"{"id":"evt_x","type":"lead.created","data":{}}"#.utf8)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let headers = [
            "webhook-id": "d-tampered", "webhook-timestamp": String(timestamp),
            "webhook-signature": StandardWebhooks.sign(id: "d-tampered", timestamp: timestamp, body: body, secret: WebhookSecret(secret)),
        ]
        let client = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)")
        let tampered = try await client.call(.POST, "/hook", token: nil, body: #"{"id":"evt_x","type":"lead.created","data":{"amount":1}}"#, headers: headers)
        #expect(tampered.status == 401)
        _ = try await listener.waitFor(#"delivery d-tampered.*\n✗ rejected: no matching signature"#)
        let genuine = try await client.call(.POST, "/hook", token: nil, body: String(decoding: body, as: UTF8.self), headers: headers)
        #expect(genuine.status == 204)
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func listenCanFailOnPurposeAndForward() async throws {
        let binary = try ExternalTools.require(ExternalTools.heraldBinary, "the built herald executable")
        try await TestReceiver.run { receiver in
            receiver.respond { _, _ in .init(status: 202, body: "taken") }
            let failing = try ChildProcess(binary: binary, arguments: ["listen", "--port", "0", "--secret", secret, "--fail-with", "503"])
            defer { failing.stop() }
            let forwarding = try ChildProcess(binary: binary, arguments: ["listen", "--port", "0", "--secret", secret, "--forward-to", receiver.url("/app")])
            defer { forwarding.stop() }
            let failingPort = try await failing.waitForPort()
            let forwardingPort = try await forwarding.waitForPort()
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let failHook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(failingPort)/","secret":"\#(secret)"}"#)
                let forwardHook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(forwardingPort)/","secret":"\#(secret)"}"#)
                try await eventually("the failing listener's ping is a 503 failure") {
                    let log = try await herald.call(.GET, "/api/hooks/\(failHook.id)/deliveries", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.first?["status_code"] == .int(503)
                }
                _ = try await failing.waitFor(#"→ answered 503 \(--fail-with\)"#)
                try await eventually("the forwarded ping reaches the app") { receiver.received.contains { $0.path == "/app" } }
                let forwarded = try #require(receiver.received.first { $0.path == "/app" })
                try StandardWebhooks.verify(headers: forwarded.lookup, body: forwarded.body, secret: WebhookSecret(secret))
                try await eventually("the app's status is relayed") {
                    let log = try await herald.call(.GET, "/api/hooks/\(forwardHook.id)/deliveries", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.first?["status_code"] == .int(202)
                }
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func verifyChecksASavedRequest() async throws {
        let binary = try ExternalTools.require(ExternalTools.heraldBinary, "the built herald executable")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let body = #"{"id":"evt_1","type":"lead.created","data":{"lead_id":"l1"}}"#
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = StandardWebhooks.sign(id: "d1", timestamp: timestamp, body: Array(body.utf8), secret: WebhookSecret(secret))
        let headers = """
            POST /hook HTTP/1.1
            Content-Type: application/json
            webhook-id: d1
            webhook-timestamp: \(timestamp)
            webhook-signature: \(signature)
            X-Hub-Signature-256: \(HubSignature.sign(body: Array(body.utf8), secret: secret))
            """
        let headersFile = directory.appendingPathComponent("headers.txt")
        let bodyFile = directory.appendingPathComponent("body.json")
        try headers.write(to: headersFile, atomically: true, encoding: .utf8)
        try body.write(to: bodyFile, atomically: true, encoding: .utf8)

        let valid = try await ExternalTools.run(binary.path, ["verify", "--secret", secret, "--headers", headersFile.path, "--body", bodyFile.path])
        #expect(valid.status == 0 && valid.output.contains("valid: v1, sha256"), "\(valid.output)")
        let fromStdin = try await ExternalTools.run(binary.path, ["verify", "--secret", secret, "--headers", headersFile.path], stdin: body)
        #expect(fromStdin.status == 0, "\(fromStdin.output)")
        let tampered = try await ExternalTools.run(binary.path, ["verify", "--secret", secret, "--headers", headersFile.path], stdin: body + " ")
        #expect(tampered.status == 1 && tampered.output.contains("invalid: no matching signature"), "\(tampered.output)")
        let old = try await ExternalTools.run(
            binary.path, ["verify", "--secret", secret, "--headers", headersFile.path, "--body", bodyFile.path, "--now", String(timestamp + 3600)]
        )
        #expect(old.status == 1 && old.output.contains("timestamp too old"), "\(old.output)")
        let noKey = try await ExternalTools.run(binary.path, ["verify", "--headers", headersFile.path, "--body", bodyFile.path])
        #expect(noKey.status != 0 && noKey.output.contains("--secret or --public-key"), "\(noKey.output)")
    }
}
