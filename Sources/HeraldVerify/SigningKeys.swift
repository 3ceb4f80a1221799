import Crypto
import Foundation

/// An Ed25519 private key for Standard Webhooks `v1a` signatures, written `whsk_<base64>`.
public struct WebhookSigningKey: Sendable, CustomStringConvertible {
    public static let prefix = "whsk_"
    let key: Curve25519.Signing.PrivateKey

    /// A new random key.
    public static func generate() -> WebhookSigningKey { WebhookSigningKey(key: .init()) }

    /// Parses `whsk_<base64 of the 32-byte seed>`.
    public init?(_ string: String) {
        guard string.hasPrefix(Self.prefix), let raw = Data(base64Encoded: String(string.dropFirst(Self.prefix.count))),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { return nil }
        self.key = key
    }

    init(key: Curve25519.Signing.PrivateKey) { self.key = key }

    /// The key in its `whsk_` form (keep it secret).
    public var string: String { Self.prefix + key.rawRepresentation.base64EncodedString() }

    /// The public key receivers verify with.
    public var publicKey: WebhookPublicKey { WebhookPublicKey(key: key.publicKey) }

    /// Never prints the key itself.
    public var description: String { "whsk_********" }
}

/// An Ed25519 public key for verifying `v1a` signatures, written `whpk_<base64>`.
public struct WebhookPublicKey: Sendable, Hashable, CustomStringConvertible {
    public static let prefix = "whpk_"
    let key: Curve25519.Signing.PublicKey

    /// Parses `whpk_<base64 of the 32-byte public key>`.
    public init?(_ string: String) {
        guard string.hasPrefix(Self.prefix), let raw = Data(base64Encoded: String(string.dropFirst(Self.prefix.count))),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { return nil }
        self.key = key
    }

    init(key: Curve25519.Signing.PublicKey) { self.key = key }

    public var string: String { Self.prefix + key.rawRepresentation.base64EncodedString() }
    public var description: String { string }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.key.rawRepresentation == rhs.key.rawRepresentation }
    public func hash(into hasher: inout Hasher) { hasher.combine(key.rawRepresentation) }
}
