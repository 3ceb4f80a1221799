import HeraldVerify
import Testing

/// The Standard Webhooks specification's published test vector.
let vectorSecret = WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
let vectorID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
let vectorTimestamp: Int64 = 1_614_265_330
let vectorBody = Array(#"{"test": 2432232314}"#.utf8)
let vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

func vectorHeaders(signature: String = vectorSignature, timestamp: String = String(vectorTimestamp)) -> HeaderLookup {
    HeaderLookup(["webhook-id": vectorID, "webhook-timestamp": timestamp, "webhook-signature": signature])
}

@Suite struct StandardWebhooksTests {
    @Test func reproducesTheSpecificationVector() {
        #expect(StandardWebhooks.sign(id: vectorID, timestamp: vectorTimestamp, body: vectorBody, secret: vectorSecret) == vectorSignature)
    }

    @Test func verifiesTheSpecificationVector() throws {
        try StandardWebhooks.verify(headers: vectorHeaders(), body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
    }

    @Test func matchesHeaderNamesCaseInsensitively() throws {
        let headers = HeaderLookup([("Webhook-Id", vectorID), ("WEBHOOK-TIMESTAMP", String(vectorTimestamp)), ("Webhook-Signature", vectorSignature)])
        try StandardWebhooks.verify(headers: headers, body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
    }

    @Test func acceptsWhenAnyOfSeveralSignaturesMatches() throws {
        let headers = vectorHeaders(signature: "v1a,bm90LWVkMjU1MTk= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + vectorSignature)
        try StandardWebhooks.verify(headers: headers, body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
    }

    @Test func refusesATamperedBody() {
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try StandardWebhooks.verify(headers: vectorHeaders(), body: Array(#"{"test": 2432232315}"#.utf8), secret: vectorSecret, now: vectorTimestamp)
        }
    }

    @Test func refusesAnotherSecret() {
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try StandardWebhooks.verify(headers: vectorHeaders(), body: vectorBody, secret: WebhookSecret.generate(), now: vectorTimestamp)
        }
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func refusesAMissingHeader(_ name: String) {
        var pairs = ["webhook-id": vectorID, "webhook-timestamp": String(vectorTimestamp), "webhook-signature": vectorSignature]
        pairs[name] = nil
        #expect(throws: WebhookVerificationError.missingHeader(name)) {
            try StandardWebhooks.verify(headers: HeaderLookup(pairs), body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
        }
    }

    @Test func refusesATimestampThatIsNotANumber() {
        #expect(throws: WebhookVerificationError.self) {
            try StandardWebhooks.verify(headers: vectorHeaders(timestamp: "yesterday"), body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
        }
    }

    @Test func refusesASignatureWithoutVersion() {
        #expect(throws: WebhookVerificationError.badFormat("signature must be <version>,<base64>")) {
            try StandardWebhooks.verify(headers: vectorHeaders(signature: "g0hM9SsE"), body: vectorBody, secret: vectorSecret, now: vectorTimestamp)
        }
    }

    @Test func refusesAnOldTimestamp() {
        #expect(throws: WebhookVerificationError.tooOld) {
            try StandardWebhooks.verify(headers: vectorHeaders(), body: vectorBody, secret: vectorSecret, now: vectorTimestamp + 301)
        }
    }

    @Test func refusesAFutureTimestamp() {
        #expect(throws: WebhookVerificationError.tooNew) {
            try StandardWebhooks.verify(headers: vectorHeaders(), body: vectorBody, secret: vectorSecret, now: vectorTimestamp - 301)
        }
    }

    @Test func acceptsATimestampWithinTheTolerance() throws {
        try StandardWebhooks.verify(headers: vectorHeaders(), body: vectorBody, secret: vectorSecret, now: vectorTimestamp + 299)
    }

    @Test func generatedSecretsDecodeToThirtyTwoBytes() {
        let secret = WebhookSecret.generate()
        #expect(secret.string.hasPrefix("whsec_"))
        #expect(secret.key.count == 32)
        #expect(WebhookSecret(secret.string).key == secret.key)
        #expect(!secret.description.contains(secret.string.dropFirst(6)))
    }
}

@Suite struct Ed25519Tests {
    let key = WebhookSigningKey.generate()
    let body = Array(#"{"type":"lead.created"}"#.utf8)

    func headers(_ signature: String, timestamp: Int64 = 1_700_000_000) -> HeaderLookup {
        HeaderLookup(["webhook-id": "d1", "webhook-timestamp": String(timestamp), "webhook-signature": signature])
    }

    @Test func aV1aSignatureVerifiesWithThePublicKey() throws {
        let signature = StandardWebhooks.sign(id: "d1", timestamp: 1_700_000_000, body: body, signingKey: key)
        #expect(signature.hasPrefix("v1a,"))
        try StandardWebhooks.verify(headers: headers(signature), body: body, publicKey: key.publicKey, now: 1_700_000_000)
    }

    @Test func anotherKeyOrATamperedBodyDoesNot() {
        let signature = StandardWebhooks.sign(id: "d1", timestamp: 1_700_000_000, body: body, signingKey: key)
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try StandardWebhooks.verify(headers: headers(signature), body: body, publicKey: WebhookSigningKey.generate().publicKey, now: 1_700_000_000)
        }
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try StandardWebhooks.verify(headers: headers(signature), body: body + [0x20], publicKey: key.publicKey, now: 1_700_000_000)
        }
    }

    @Test func aV1SignatureIsNotMistakenForV1a() {
        let v1 = StandardWebhooks.sign(id: "d1", timestamp: 1_700_000_000, body: body, secret: WebhookSecret.generate())
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try StandardWebhooks.verify(headers: headers(v1), body: body, publicKey: key.publicKey, now: 1_700_000_000)
        }
    }

    @Test func keysRoundTripThroughTheirStrings() throws {
        let parsed = try #require(WebhookSigningKey(key.string))
        #expect(parsed.publicKey == key.publicKey)
        #expect(WebhookPublicKey(key.publicKey.string) == key.publicKey)
        #expect(key.publicKey.string.hasPrefix("whpk_"))
        #expect(WebhookPublicKey("whpk_notbase64!") == nil)
        #expect(WebhookSigningKey("whsec_abc") == nil)
        #expect(!key.description.contains(key.string.dropFirst(5)))
    }

    @Test func aHeaderWithBothVersionsVerifiesEitherWay() throws {
        let secret = WebhookSecret.generate()
        let value = StandardWebhooks.signatureHeaderValue(id: "d1", timestamp: 1_700_000_000, body: body, secrets: [secret], signingKey: key)
        try StandardWebhooks.verify(headers: headers(value), body: body, secret: secret, now: 1_700_000_000)
        try StandardWebhooks.verify(headers: headers(value), body: body, publicKey: key.publicKey, now: 1_700_000_000)
    }
}

@Suite struct WebhookVerifierTests {
    let secret = WebhookSecret.generate()
    let key = WebhookSigningKey.generate()
    let body = Array("{}".utf8)
    let now: Int64 = 1_700_000_000

    func headers(standard: Bool = true, hub: Bool = true, signingKey: WebhookSigningKey? = nil) -> HeaderLookup {
        var pairs: [String: String] = ["webhook-id": "d1", "webhook-timestamp": String(now)]
        if standard || signingKey != nil {
            pairs["webhook-signature"] = StandardWebhooks.signatureHeaderValue(id: "d1", timestamp: now, body: body, secrets: standard ? [secret] : [], signingKey: signingKey)
        }
        if hub { pairs["X-Hub-Signature-256"] = HubSignature.sign(body: body, secret: secret.string) }
        return HeaderLookup(pairs)
    }

    @Test func checksEverySchemeTheRequestCarries() throws {
        #expect(try WebhookVerifier(secret: secret).verify(headers: headers(), body: body, now: now) == [.standardWebhooksV1, .hubSignature256])
        #expect(try WebhookVerifier(secret: secret).verify(headers: headers(standard: false), body: body, now: now) == [.hubSignature256])
        #expect(try WebhookVerifier(secret: secret).verify(headers: headers(hub: false), body: body, now: now) == [.standardWebhooksV1])
        let both = headers(hub: false, signingKey: key)
        #expect(try WebhookVerifier(secret: secret, publicKey: key.publicKey).verify(headers: both, body: body, now: now) == [.standardWebhooksV1a, .standardWebhooksV1])
    }

    @Test func failsWhenAnyPresentSchemeFails() {
        var pairs = ["webhook-id": "d1", "webhook-timestamp": String(now)]
        pairs["webhook-signature"] = StandardWebhooks.sign(id: "d1", timestamp: now, body: body, secret: secret)
        pairs["X-Hub-Signature-256"] = HubSignature.sign(body: body, secret: "another secret")
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try WebhookVerifier(secret: secret).verify(headers: HeaderLookup(pairs), body: body, now: now)
        }
    }

    @Test func failsWithoutAnySignature() {
        #expect(throws: WebhookVerificationError.missingHeader("webhook-signature")) {
            try WebhookVerifier(secret: secret).verify(headers: headers(standard: false, hub: false), body: body, now: now)
        }
        #expect(throws: WebhookVerificationError.self) { try WebhookVerifier().verify(headers: headers(), body: body, now: now) }
    }

    @Test func aPublicKeyNeedsAV1aSignature() {
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try WebhookVerifier(publicKey: key.publicKey).verify(headers: headers(), body: body, now: now)
        }
    }
}
