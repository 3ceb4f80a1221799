import Foundation
import HeraldCore
import HeraldVerify
import Testing

/// Receivers and clients written for GitHub's webhooks take Herald's unchanged: GitHub's header
/// names and signatures (checked by gidgethub and github-webhook from PyPI), its hook API's shape,
/// its test endpoint, its deliveries' field names, and a rotation that keeps its one-secret recipe
/// verifying.
@Suite struct GitHubCompatibilityTests {
    let lead = #"{"type":"lead.created","data":{"lead_id":"l1"}}"#

    /// Checks each request (headers and body, base64) with gidgethub's `Event.from_http` and with
    /// github-webhook's Flask receiver, under `secret`; prints the event name and delivery id seen.
    static let receivers = """
        import base64, json, sys
        from flask import Flask
        from gidgethub import sansio
        from github_webhook import Webhook
        secret = sys.argv[1]
        for item in json.loads(sys.argv[2]):
            headers, body = item["headers"], base64.b64decode(item["body"])
            event = sansio.Event.from_http({k.lower(): v for k, v in headers.items()}, body, secret=secret)
            app = Flask("receiver")
            seen = []
            hook = Webhook(app, endpoint="/postreceive", secret=secret)
            hook.hook(event_type=event.event)(lambda data: seen.append(data))
            answer = app.test_client().post("/postreceive", data=body, headers=headers)
            assert answer.status_code == 204, (answer.status_code, answer.data)
            assert seen and seen[0] == event.data, seen
            print("verified", event.event, event.delivery_id)
        """

    /// Off the concurrency pool: Python takes a while to import Flask, and the servers of the
    /// other suites in this process need the pool's threads meanwhile.
    static func check(_ requests: [TestReceiver.Received], secret: String) async throws -> String {
        let python = try await ExternalTools.requirePython(importing: "gidgethub, github_webhook, flask")
        let items = JSONValue.array(requests.map { request in
            .object([
                ("headers", .object(request.headers.map { ($0.0, .string($0.1)) })),
                ("body", .string(Data(request.body).base64EncodedString())),
            ])
        })
        let result = try await ExternalTools.run(python, ["-c", receivers, secret, items.jsonString])
        #expect(result.status == 0, "\(result.output)")
        return result.output
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("gidgethub, github_webhook, flask")), "needs Python with gidgethub, github-webhook and flask"))
    func gitHubReceiverLibrariesVerifyAndParseDeliveriesAndRedeliveries() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                // A hook made through GitHub's API shape.
                let created = try await herald.call(
                    .POST, "/api/hooks", token: bde.token,
                    body: #"{"name":"web","active":true,"events":["lead.*"],"config":{"url":"\#(receiver.url())","content_type":"json","secret":"github-recipe-secret","insecure_ssl":"0"}}"#
                )
                #expect(created.status == 201, "\(created.text)")
                #expect(created.json["config"]?["url"]?.stringValue == receiver.url())
                #expect(created.json["config"]?["secret"]?.stringValue == "********")
                #expect(created.json["config"]?["insecure_ssl"]?.stringValue == "0")
                #expect(created.json["name"]?.stringValue == "web")
                #expect(created.json["last_response"]?["status"]?.stringValue == "unused")
                let hookID = try #require(created.json["id"]?.intValue)

                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-GitHub-Event") == "lead.created" } }
                let first = try #require(receiver.received.first { $0.header("X-GitHub-Event") == "lead.created" })
                let deliveryID = try #require(first.header("X-Herald-Delivery"))
                #expect(first.header("X-GitHub-Delivery") == deliveryID)
                #expect(first.header("X-GitHub-Hook-ID") == "\(hookID)")
                #expect(first.header("X-GitHub-Hook-Installation-Target-Type") == "organization")
                #expect(first.header("User-Agent")?.hasPrefix("Herald-Hookshot/") == true)

                // Sent again by hand once its first attempt is recorded: the same delivery id
                // (receivers dedupe on it).
                try await eventually("the first attempt recorded") {
                    try await herald.store.delivery(id: deliveryID)?.lifecycle.status == .succeeded
                }
                let redelivered = try await herald.call(.POST, "/api/hooks/\(hookID)/deliveries/\(deliveryID)/attempts", token: bde.token)
                #expect(redelivered.status == 202, "\(redelivered.text)")
                try await eventually("the redelivery") { receiver.received.filter { $0.header("X-GitHub-Event") == "lead.created" }.count == 2 }
                let again = try #require(receiver.received.filter { $0.header("X-GitHub-Event") == "lead.created" }.dropFirst(1).first)
                #expect(again.header("X-GitHub-Delivery") == deliveryID)

                let output = try await Self.check([first, again], secret: "github-recipe-secret")
                #expect(output.components(separatedBy: "verified lead.created \(deliveryID)").count == 3, "\(output)")

                // GitHub's deliveries API names, beside Herald's.
                let listed = try await herald.call(.GET, "/api/hooks/\(hookID)/deliveries", token: bde.token)
                let row = try #require(listed.json["deliveries"]?.arrayValue?.first { $0["guid"]?.stringValue == deliveryID })
                #expect(row["event"]?.stringValue == "lead.created")
                #expect(row["redelivery"] == .bool(true))
                #expect(row["status_code"] == .int(200))
                #expect(row["delivered_at"]?.stringValue != nil)
                #expect(row["duration"]?.numberValue != nil)
                #expect(row["action"] == .null)
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("gidgethub, github_webhook, flask")), "needs Python with gidgethub, github-webhook and flask"))
    func aReceiverThatStillHoldsTheOldSecretVerifiesUntilTheRotationIsFinished() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let rotated = try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: bde.token)
                let newSecret = try #require(rotated.json["secret"]?.stringValue)
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-GitHub-Event") == "lead.created" } }
                let during = try #require(receiver.received.first { $0.header("X-GitHub-Event") == "lead.created" })
                _ = try await Self.check([during], secret: hook.secret)

                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/finish", token: bde.token).status == 200)
                _ = try await herald.emit(provider, lead)
                try await eventually("the second lead") { receiver.received.filter { $0.header("X-GitHub-Event") == "lead.created" }.count == 2 }
                let after = try #require(receiver.received.filter { $0.header("X-GitHub-Event") == "lead.created" }.dropFirst(1).first)
                _ = try await Self.check([after], secret: newSecret)
                #expect(throws: WebhookVerificationError.noMatchingSignature) {
                    try HubSignature.verify(signature: after.header("X-Hub-Signature-256"), body: after.body, secret: hook.secret)
                }
            }
        }
    }

    @Test func aHooksTestSendsItsMostRecentEventAgainAsANewDelivery() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let provider = try await herald.providerToken()
                // Events from before the hook: a test sends the newest one it subscribes to.
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"older"}}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"newest"}}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"other type"}}"#)
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                let tested = try await herald.call(.POST, "/api/hooks/\(hook.id)/tests", token: bde.token)
                #expect(tested.status == 204, "\(tested.text)")
                try await eventually("the test delivery") { receiver.received.contains { $0.header("X-GitHub-Event") == "lead.created" } }
                let sent = try #require(receiver.received.first { $0.header("X-GitHub-Event") == "lead.created" })
                #expect(try JSONValue(parsing: Data(sent.body))["data"]?["lead_id"]?.stringValue == "newest")
                // Another team cannot test it.
                let cce = try await herald.makeTeam("cce")
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/tests", token: cce.token).status == 404)
            }
        }
    }

    @Test func gitHubsHeaderNamesCanBeTurnedOffAndHeraldsStay() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let shown = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token)
                #expect(shown.json["github_headers"] == .bool(true))
                let patched = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"github_headers":false}"#)
                #expect(patched.json["github_headers"] == .bool(false), "\(patched.text)")
                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let sent = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                #expect(sent.header("X-GitHub-Event") == nil && sent.header("X-GitHub-Delivery") == nil && sent.header("X-Hub-Signature") == nil)
                try HubSignature.verify(signature: sent.header("X-Hub-Signature-256"), body: sent.body, secret: hook.secret)
            }
        }
    }

    @Test func gitHubsHookShapeIsCheckedLikeHeralds() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let wrongName = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"name":"email","config":{"url":"https://example.org/h"}}"#)
            #expect(wrongName.status == 422)
            #expect(wrongName.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == "/name" } == true, "\(wrongName.text)")
            let unknown = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"config":{"url":"https://example.org/h","digest":"sha1"}}"#)
            #expect(unknown.status == 422)
            #expect(unknown.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == "/config/digest" } == true, "\(unknown.text)")
            let twice = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"https://a.example/h","config":{"url":"https://b.example/h"}}"#)
            #expect(twice.status == 422)
            // Updated through the same shape; a timeout of up to 300 s is taken, as the config file takes it.
            let made = try await herald.makeHook(bde, #"{"url":"https://example.org/h","active":false}"#)
            let updated = try await herald.call(
                .PATCH, "/api/hooks/\(made.id)", token: bde.token, body: #"{"config":{"url":"https://example.org/moved","insecure_ssl":1},"timeout_seconds":300}"#
            )
            #expect(updated.status == 200, "\(updated.text)")
            #expect(updated.json["url"]?.stringValue == "https://example.org/moved")
            #expect(updated.json["insecure_ssl"] == .bool(true))
            #expect(updated.json["timeout_seconds"] == .int(300))
            #expect(try await herald.call(.PATCH, "/api/hooks/\(made.id)", token: bde.token, body: #"{"timeout_seconds":301}"#).status == 422)
        }
    }

    /// adnanh/webhook (Debian's `webhook`), the receiver many teams run to start a script on a
    /// push, with the GitHub rules its documentation gives: `payload-hmac-sha256` on
    /// `X-Hub-Signature-256`, `payload-hmac-sha1` on `X-Hub-Signature`, and a match on
    /// `X-GitHub-Event`. Herald's delivery runs the command; one signed with another secret is
    /// refused (webhook answers it 500), and so is the ping (its rules want `lead.created`).
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.webhook != nil), "needs adnanh/webhook (Debian's webhook package)"))
    func adnanhWebhookRunsItsCommandOnGitHubsRules() async throws {
        let binary = try ExternalTools.require(ExternalTools.webhook, "adnanh/webhook (the webhook package)")
        let secret = "adnanh-webhook-secret"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-adnanh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func rule(_ type: String, _ header: String) -> JSONValue {
            .object([("match", .object([
                ("type", .string(type)), ("secret", .string(secret)),
                ("parameter", .object([("source", .string("header")), ("name", .string(header))])),
            ]))])
        }
        let hooks = JSONValue.array([
            .object([
                ("id", .string("lead")),
                ("execute-command", .string("/bin/echo")),
                ("pass-arguments-to-command", .array([.object([("source", .string("payload")), ("name", .string("data.lead_id"))])])),
                ("trigger-rule-mismatch-http-response-code", .int(401)),
                ("trigger-rule", .object([("and", .array([
                    rule("payload-hmac-sha256", "X-Hub-Signature-256"),
                    rule("payload-hmac-sha1", "X-Hub-Signature"),
                    .object([("match", .object([
                        ("type", .string("value")), ("value", .string("lead.created")),
                        ("parameter", .object([("source", .string("header")), ("name", .string("X-GitHub-Event"))])),
                    ]))]),
                ]))])),
            ])
        ])
        let hooksFile = directory.appendingPathComponent("hooks.json")
        try Data(hooks.jsonString.utf8).write(to: hooksFile)
        let port = try RawSocketPort.unused()
        let webhook = try ChildProcess(
            binary: URL(fileURLWithPath: binary), arguments: ["-hooks", hooksFile.path, "-ip", "127.0.0.1", "-port", "\(port)", "-verbose"]
        )
        defer { webhook.stop() }
        _ = try await webhook.waitFor("serving hooks on http://127\\.0\\.0\\.1:\(port)/")
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let url = "http://127.0.0.1:\(port)/hooks/lead"
            let good = try await herald.makeHook(bde, #"{"url":"\#(url)","secret":"\#(secret)","events":["lead.*"]}"#)
            let wrong = try await herald.makeHook(bde, #"{"url":"\#(url)","secret":"another-secret-entirely","events":["lead.*"]}"#)
            _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"lead_from_herald"}}"#)
            _ = try await webhook.waitFor("command output: lead_from_herald")
            @Sendable func answered(_ hook: Int64) async throws -> JSONValue? {
                let log = try await herald.call(.GET, "/api/hooks/\(hook)/deliveries?event=lead.created", token: bde.token)
                let code = log.json["deliveries"]?.arrayValue?.first?["status_code"]
                return code == .null ? nil : code
            }
            try await eventually("both deliveries answered") {
                let goodAnswer = try await answered(good.id)
                let wrongAnswer = try await answered(wrong.id)
                return goodAnswer != nil && wrongAnswer != nil
            }
            let goodAnswer = try await answered(good.id)
            let wrongAnswer = try await answered(wrong.id)
            #expect(goodAnswer == .int(200))
            // webhook answers a signature that does not match with a 500 ("invalid payload signatures").
            #expect(wrongAnswer == .int(500), "\(webhook.output)")
            #expect(webhook.output.contains("invalid payload signatures"))
            // The command ran once: for the delivery signed with its secret, not for the other.
            #expect(webhook.output.components(separatedBy: "command output: lead_from_herald").count == 2, "\(webhook.output)")
        }
    }
}
