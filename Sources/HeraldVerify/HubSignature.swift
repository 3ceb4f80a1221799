import Foundation
import Crypto

/// GitHub's `X-Hub-Signature-256` recipe: `sha256=` + hex HMAC-SHA256 of the raw body, keyed with
/// the secret string.
public enum HubSignature {
    public static let headerName = "X-Hub-Signature-256"

    /// The header value for `body` under `secret`.
    public static func sign<Body: DataProtocol>(body: Body, secret: String) -> String {
        sign(body: body, keyed: HMAC(key: SymmetricKey(data: Array(secret.utf8))))
    }

    /// The header value for `body` with an HMAC already keyed with the secret (``KeyedSecret``).
    static func sign<Body: DataProtocol>(body: Body, keyed: HMAC<SHA256>) -> String {
        var mac = keyed
        mac.update(data: body)
        return "sha256=" + mac.finalize().hexString
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
            sign(body: body, keyed: HMAC(key: SymmetricKey(data: Array(secret.utf8))))
        }

        static func sign<Body: DataProtocol>(body: Body, keyed: HMAC<Insecure.SHA1>) -> String {
            var mac = keyed
            mac.update(data: body)
            return "sha1=" + mac.finalize().hexString
        }

        /// Checks a header value against `body` in constant time.
        public static func verify<Body: DataProtocol>(signature: String?, body: Body, secret: String) throws(WebhookVerificationError) {
            guard let signature else { throw .missingHeader(headerName) }
            guard signature.hasPrefix("sha1="), signature.utf8.count == 5 + 40 else { throw .badFormat("\(headerName) must be sha1=<40 hex digits>") }
            guard constantTimeEquals(Array(sign(body: body, secret: secret).utf8), Array(signature.lowercased().utf8)) else { throw .noMatchingSignature }
        }
    }
}
