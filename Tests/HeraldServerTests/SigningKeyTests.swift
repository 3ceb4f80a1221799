import Foundation
import HeraldCore
import HeraldVerify
import Testing

/// Secret rotation and Ed25519 hooks, checked with HeraldVerify and with receivers' own libraries.
@Suite struct SigningKeyTests {
    let lead = #"{"type":"lead.created","data":{"lead_id":"l1"}}"#

    @Test func aRotatedSecretSignsAlongsideTheOldOneUntilItExpires() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let rotated = try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: bde.token)
                #expect(rotated.status == 200, "\(rotated.text)")
                let newSecret = try #require(rotated.json["secret"]?.stringValue)
                #expect(newSecret != hook.secret)
                let expires = try #require(rotated.json["previous_expires_at"]?.stringValue.flatMap(Timestamp.parse))
                #expect(abs(expires.timeIntervalSinceNow - 86_400) < 60)

                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let during = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                #expect(during.header("webhook-signature")?.split(separator: " ").count == 2)
                try StandardWebhooks.verify(headers: during.lookup, body: during.body, secret: WebhookSecret(newSecret))
                try StandardWebhooks.verify(headers: during.lookup, body: during.body, secret: WebhookSecret(hook.secret))
                // GitHub's recipe holds one secret: during the grace it is the old one, which such a
                // receiver still has.
                try HubSignature.verify(signature: during.header("X-Hub-Signature-256"), body: during.body, secret: hook.secret)
                try HubSignature.Legacy.verify(signature: during.header("X-Hub-Signature"), body: during.body, secret: hook.secret)

                // Finished by hand: only the new secret signs, GitHub's signatures included.
                let finished = try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/finish", token: bde.token)
                #expect(finished.status == 200, "\(finished.text)")
                #expect(finished.json["previous_secret_expires_at"] == .null)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/finish", token: bde.token).status == 409)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/pings", token: bde.token).status == 204)
                try await eventually("the ping") { receiver.received.filter { $0.header("X-Herald-Event") == "ping" }.count == 2 }
                let finishedPing = try #require(receiver.received.filter { $0.header("X-Herald-Event") == "ping" }.dropFirst(1).first)
                #expect(finishedPing.header("webhook-signature")?.split(separator: " ").count == 1)
                try HubSignature.verify(signature: finishedPing.header("X-Hub-Signature-256"), body: finishedPing.body, secret: newSecret)
                try HubSignature.Legacy.verify(signature: finishedPing.header("X-Hub-Signature"), body: finishedPing.body, secret: newSecret)

                // With no grace period the old secret stops signing at once.
                let immediate = try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: bde.token, body: #"{"grace_seconds":0}"#)
                let latest = try #require(immediate.json["secret"]?.stringValue)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/pings", token: bde.token).status == 204)
                try await eventually("the ping") { receiver.received.filter { $0.header("X-Herald-Event") == "ping" }.count == 3 }
                let after = try #require(receiver.received.filter { $0.header("X-Herald-Event") == "ping" }.dropFirst(2).first)
                try HubSignature.verify(signature: after.header("X-Hub-Signature-256"), body: after.body, secret: latest)
                #expect(after.header("webhook-signature")?.split(separator: " ").count == 1)
                try StandardWebhooks.verify(headers: after.lookup, body: after.body, secret: WebhookSecret(latest))
                #expect(throws: WebhookVerificationError.noMatchingSignature) {
                    try StandardWebhooks.verify(headers: after.lookup, body: after.body, secret: WebhookSecret(newSecret))
                }
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: bde.token, body: #"{"grace_seconds":-1}"#).status == 422)
            }
        }
    }

    @Test func anotherTeamCannotRotateASecret() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","active":false}"#)
            #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: cce.token).status == 404)
        }
    }

    @Test func anEd25519HookPublishesItsPublicKeyAndSignsV1a() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let created = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(receiver.url())","signature":"ed25519"}"#)
                #expect(created.status == 201)
                let publicKeyString = try #require(created.json["public_key"]?.stringValue)
                let publicKey = try #require(WebhookPublicKey(publicKeyString))
                try await eventually("the ping") { receiver.received.count == 1 }
                let ping = receiver.received[0]
                try StandardWebhooks.verify(headers: ping.lookup, body: ping.body, publicKey: publicKey)
                #expect(throws: WebhookVerificationError.noMatchingSignature) {
                    try StandardWebhooks.verify(headers: ping.lookup, body: ping.body + [0x20], publicKey: publicKey)
                }
                let id = try #require(created.json["id"]?.intValue)
                #expect(try await herald.call(.GET, "/api/hooks/\(id)", token: bde.token).json["public_key"]?.stringValue == publicKeyString)

                let python = try await ExternalTools.requirePython(importing: "cryptography")
                let script = """
                    import base64, sys
                    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
                    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sys.argv[1].removeprefix("whpk_")))
                    msg_id, timestamp, body = sys.argv[2], sys.argv[3], base64.b64decode(sys.argv[4])
                    content = f"{msg_id}.{timestamp}.".encode() + body
                    sigs = [s.split(",", 1)[1] for s in sys.argv[5].split(" ") if s.startswith("v1a,")]
                    key.verify(base64.b64decode(sigs[0]), content)
                    try:
                        key.verify(base64.b64decode(sigs[0]), content + b" ")
                        sys.exit(2)
                    except Exception:
                        print("v1a verified")
                    """
                let result = try await ExternalTools.run(python, [
                    "-c", script, publicKeyString, ping.header("webhook-id") ?? "", ping.header("webhook-timestamp") ?? "",
                    Data(ping.body).base64EncodedString(), ping.header("webhook-signature") ?? "",
                ])
                #expect(result.status == 0 && result.output.contains("v1a verified"), "\(result.output)")
            }
        }
    }

    @Test func switchingAHookToEd25519GivesItAKeyOnce() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","active":false}"#)
            #expect(try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json["public_key"] == .null)
            let switched = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"signature":"ed25519"}"#)
            let key = try #require(switched.json["public_key"]?.stringValue)
            #expect(WebhookPublicKey(key) != nil)
            let again = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"timeout_seconds":3}"#)
            #expect(again.json["public_key"]?.stringValue == key, "the key is kept across other changes")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython("svix")), "needs Python with svix"))
    func svixAndStandardWebhooksVerifyBothSignaturesDuringRotation() async throws {
        let python = try await ExternalTools.requirePython(importing: "svix")
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let rotated = try await herald.call(.POST, "/api/hooks/\(hook.id)/secret/rotate", token: bde.token)
                let newSecret = try #require(rotated.json["secret"]?.stringValue)
                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                let headers = JSONValue.object(request.headers.map { ($0.0.lowercased(), .string($0.1)) }).jsonString
                let script = """
                    import base64, json, sys
                    from svix.webhooks import Webhook as Svix
                    from standardwebhooks.webhooks import Webhook as Standard
                    headers, body = json.loads(sys.argv[1]), base64.b64decode(sys.argv[2])
                    for secret in sys.argv[3:]:
                        Svix(secret).verify(body, headers)
                        Standard(secret).verify(body, headers)
                    print("both secrets verified by svix and standardwebhooks")
                    """
                let result = try await ExternalTools.run(python, ["-c", script, headers, Data(request.body).base64EncodedString(), hook.secret, newSecret])
                #expect(result.status == 0, "\(result.output)")
                #expect(result.output.contains("both secrets verified"), "\(result.output)")
            }
        }
    }
}
