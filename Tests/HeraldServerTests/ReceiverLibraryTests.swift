import Foundation
import HeraldCore
import Testing

/// Receivers' own libraries verify what Herald really sent.
@Suite struct ReceiverLibraryTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("standardwebhooks")), "needs Python with standardwebhooks"))
    func pythonStandardWebhooksVerifiesRealDeliveries() async throws {
        let python = try await ExternalTools.requirePython(importing: "standardwebhooks")
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let json = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/json"))","events":["lead.*"]}"#)
                let form = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/form"))","events":["lead.*"],"content_type":"form"}"#)
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"l1","name":"José Núñez","note":"a \"quoted\" line\nand a second"}}"#)
                try await eventually("four deliveries (two pings, two leads)") { receiver.received.count == 4 }
                let secrets = ["/json": json.secret, "/form": form.secret]
                let cases: [JSONValue] = receiver.received.map { request in
                    .object([
                        ("secret", .string(secrets[request.path]!)),
                        ("headers", .object(request.headers.map { ($0.0, .string($0.1)) })),
                        ("body_base64", .string(Data(request.body).base64EncodedString())),
                    ])
                }
                let script = """
                    import base64, json, sys
                    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
                    def verify(secret, body, headers):
                        try:
                            Webhook(secret).verify(body, headers)
                        except json.JSONDecodeError:
                            # The library parses the body as JSON only after the signature matched;
                            # form bodies (payload=...) are not JSON.
                            assert body.startswith(b"payload=")
                    cases = json.load(sys.stdin)
                    for case in cases:
                        body = base64.b64decode(case["body_base64"])
                        headers = {k.lower(): v for k, v in case["headers"].items()}
                        verify(case["secret"], body, headers)
                        try:
                            verify(case["secret"], body + b" ", headers)
                            print("tampered body verified"); sys.exit(2)
                        except WebhookVerificationError:
                            pass
                    print("verified", len(cases))
                    """
                let result = try await ExternalTools.run(python, ["-c", script], stdin: JSONValue.array(cases).jsonString)
                #expect(result.status == 0, "\(result.output)")
                #expect(result.output.contains("verified 4"), "\(result.output)")
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("hmac")), "needs Python 3"))
    func pythonHmacVerifiesTheHubSignature() async throws {
        let python = try await ExternalTools.requirePython(importing: "hmac")
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","secret":"It's a Secret to Everybody"}"#)
                try await eventually("the ping") { receiver.received.count == 1 }
                let request = receiver.received[0]
                let script = """
                    import hashlib, hmac, sys, base64
                    secret, signature, body = sys.argv[1].encode(), sys.argv[2], base64.b64decode(sys.argv[3])
                    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                    sys.exit(0 if hmac.compare_digest(expected, signature) else 1)
                    """
                let result = try await ExternalTools.run(
                    python, ["-c", script, "It's a Secret to Everybody", request.header("X-Hub-Signature-256") ?? "", Data(request.body).base64EncodedString()]
                )
                #expect(result.status == 0, "\(result.output)")
            }
        }
    }
}
