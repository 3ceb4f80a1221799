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
}
