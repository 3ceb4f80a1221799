import Crypto
import Foundation

/// A hook's shared signing secret, in the Standard Webhooks form `whsec_<base64 key>`.
///
/// Standard Webhooks signatures use the decoded key bytes; GitHub-style `X-Hub-Signature-256`
/// signatures use the whole secret string as the HMAC key, exactly as the receiver configured it.
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible {
    /// The secret exactly as shown to the user (and used as the GitHub HMAC key).
    public let string: String
    /// The HMAC key for Standard Webhooks signatures.
    public let key: [UInt8]

    public static let prefix = "whsec_"

    /// Parses a secret. A `whsec_`-prefixed secret whose rest is base64 uses the decoded bytes as
    /// the Standard Webhooks key; any other non-empty string uses its UTF-8 bytes.
    public init(_ string: String) {
        self.string = string
        if string.hasPrefix(Self.prefix), let decoded = Data(base64Encoded: String(string.dropFirst(Self.prefix.count))), !decoded.isEmpty {
            self.key = Array(decoded)
        } else {
            self.key = Array(string.utf8)
        }
    }

    /// A new secret of 32 random bytes.
    public static func generate() -> WebhookSecret {
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Data($0) }
        return WebhookSecret(prefix + bytes.base64EncodedString())
    }

    /// Never prints the secret itself.
    public var description: String { "whsec_********" }
}
