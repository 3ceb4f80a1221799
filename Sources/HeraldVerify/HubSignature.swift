import Foundation
import Crypto

/// GitHub's `X-Hub-Signature-256` recipe: `sha256=` + hex HMAC-SHA256 of the raw body, keyed with
/// the secret string.
public enum HubSignature {
    public static let headerName = "X-Hub-Signature-256"

    /// The header value for `body` under `secret`.
    public static func sign<Body: DataProtocol>(body: Body, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        return "sha256=" + mac.hexString
    }

    /// Checks a header value against `body` in constant time.
    public static func verify<Body: DataProtocol>(signature: String?, body: Body, secret: String) throws(WebhookVerificationError) {
        guard let signature else { throw .missingHeader(headerName) }
        guard signature.hasPrefix("sha256="), signature.utf8.count == 7 + 64 else {
            throw .badFormat("\(headerName) must be sha256=<64 hex digits>")
        }
        let expected = sign(body: body, secret: secret)
        guard constantTimeEquals(Array(expected.utf8), Array(signature.lowercased().utf8)) else { throw .noMatchingSignature }
    }

    /// GitHub's legacy `X-Hub-Signature` (HMAC-SHA1), which older receivers still check. SHA-1 is
    /// weak for new designs: verify `X-Hub-Signature-256` where you can.
    public enum Legacy {
        public static let headerName = "X-Hub-Signature"

        /// The header value for `body` under `secret`: `sha1=` + hex HMAC-SHA1.
        public static func sign<Body: DataProtocol>(body: Body, secret: String) -> String {
            "sha1=" + HMAC<Insecure.SHA1>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))).hexString
        }

        /// Checks a header value against `body` in constant time.
        public static func verify<Body: DataProtocol>(signature: String?, body: Body, secret: String) throws(WebhookVerificationError) {
            guard let signature else { throw .missingHeader(headerName) }
            guard signature.hasPrefix("sha1="), signature.utf8.count == 5 + 40 else { throw .badFormat("\(headerName) must be sha1=<40 hex digits>") }
            guard constantTimeEquals(Array(sign(body: body, secret: secret).utf8), Array(signature.lowercased().utf8)) else { throw .noMatchingSignature }
        }
    }
}
