import Crypto
import Foundation

/// A secret with its HMACs keyed once. Keying an HMAC hashes the key's two padded blocks, as much
/// work as signing a small body again: a sender that signs every delivery of a hook with the same
/// secret keeps one of these per secret and signs from copies of its keyed HMACs.
public struct KeyedSecret: @unchecked Sendable {
    // @unchecked: swift-crypto's HMAC is a value (its digest state is copied on write) that does
    // not declare Sendable; these are only ever copied, never changed in place.
    public let secret: WebhookSecret
    private let hub: HMAC<SHA256>
    private let hubLegacy: HMAC<Insecure.SHA1>
    private let standard: HMAC<SHA256>

    public init(_ secret: WebhookSecret) {
        self.secret = secret
        let hubKey = SymmetricKey(data: Array(secret.string.utf8))
        hub = HMAC(key: hubKey)
        hubLegacy = HMAC(key: hubKey)
        standard = HMAC(key: SymmetricKey(data: secret.key))
    }

    /// `X-Hub-Signature-256` for `body` (``HubSignature/sign(body:secret:)``).
    public func hubSignature<Body: DataProtocol>(body: Body) -> String { HubSignature.sign(body: body, keyed: hub) }

    /// `X-Hub-Signature` for `body` (``HubSignature/Legacy/sign(body:secret:)``).
    public func legacyHubSignature<Body: DataProtocol>(body: Body) -> String { HubSignature.Legacy.sign(body: body, keyed: hubLegacy) }

    /// One Standard Webhooks `v1,<base64>` signature (``StandardWebhooks/sign(id:timestamp:body:secret:)``).
    public func standardSignature<Body: DataProtocol>(id: String, timestamp: Int64, body: Body) -> String {
        StandardWebhooks.sign(id: id, timestamp: timestamp, body: body, keyed: standard)
    }
}
