import Foundation
import HeraldVerify
import Testing

@Suite struct HubSignatureTests {
    /// Every byte value, in both nibbles, as two lower-case digits (what the signature headers carry).
    @Test func bytesAreWrittenAsLowerCaseHexadecimal() {
        let bytes = (0...255).map(UInt8.init)
        #expect(bytes.hexString == bytes.map { String(format: "%02x", $0) }.joined())
        #expect([UInt8]().hexString == "")
    }

    @Test func reproducesGitHubsDocumentedVector() {
        let signature = HubSignature.sign(body: Array("Hello, World!".utf8), secret: "It's a Secret to Everybody")
        #expect(signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    @Test func verifiesAMatchingSignature() throws {
        try HubSignature.verify(
            signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", body: Array("Hello, World!".utf8),
            secret: "It's a Secret to Everybody"
        )
    }

    @Test func refusesATamperedBody() {
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try HubSignature.verify(
                signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", body: Array("Hello, World?".utf8),
                secret: "It's a Secret to Everybody"
            )
        }
    }

    @Test func refusesAMissingHeader() {
        #expect(throws: WebhookVerificationError.missingHeader("X-Hub-Signature-256")) {
            try HubSignature.verify(signature: nil, body: Array("x".utf8), secret: "s")
        }
    }

    @Test func refusesAMalformedHeader() {
        #expect(throws: WebhookVerificationError.self) {
            try HubSignature.verify(signature: "sha1=abc", body: Array("x".utf8), secret: "s")
        }
    }
}
