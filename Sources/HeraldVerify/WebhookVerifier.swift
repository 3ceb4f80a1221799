import Foundation

/// Verifies a delivery with whatever key material the receiver has, checking every signature
/// scheme the request carries for it:
///
/// - with a shared secret: Standard Webhooks `v1` (`webhook-signature`) and GitHub's
///   `X-Hub-Signature-256`, whichever are present (at least one must be);
/// - with a public key: Standard Webhooks `v1a` (Ed25519).
///
/// ```swift
/// let verifier = WebhookVerifier(secret: WebhookSecret("whsec_…"))
/// try verifier.verify(headers: HeaderLookup(request.headers.map { ($0.name.rawName, $0.value) }), body: bodyBytes)
/// ```
public struct WebhookVerifier: Sendable {
    /// A signature scheme that was checked and matched.
    public enum Scheme: String, Sendable, Hashable {
        case standardWebhooksV1 = "v1"
        case standardWebhooksV1a = "v1a"
        case hubSignature256 = "sha256"
    }

    public var secret: WebhookSecret?
    public var publicKey: WebhookPublicKey?
    public var tolerance: Duration

    public init(secret: WebhookSecret? = nil, publicKey: WebhookPublicKey? = nil, tolerance: Duration = StandardWebhooks.defaultTolerance) {
        self.secret = secret
        self.publicKey = publicKey
        self.tolerance = tolerance
    }

    /// Throws the first failure; returns the schemes that matched.
    @discardableResult
    public func verify<Body: DataProtocol>(
        headers: HeaderLookup, body: Body, now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws(WebhookVerificationError) -> [Scheme] {
        var verified: [Scheme] = []
        if let publicKey {
            try StandardWebhooks.verify(headers: headers, body: body, publicKey: publicKey, tolerance: tolerance, now: now)
            verified.append(.standardWebhooksV1a)
        }
        if let secret {
            let hasStandard = headers[StandardWebhooks.signatureHeader] != nil
            let hub = headers[HubSignature.headerName]
            if !hasStandard && hub == nil { throw .missingHeader(StandardWebhooks.signatureHeader) }
            if hasStandard {
                try StandardWebhooks.verify(headers: headers, body: body, secret: secret, tolerance: tolerance, now: now)
                verified.append(.standardWebhooksV1)
            }
            if let hub {
                try HubSignature.verify(signature: hub, body: body, secret: secret.string)
                verified.append(.hubSignature256)
            }
        }
        guard !verified.isEmpty else { throw .badFormat("no secret or public key to verify with") }
        return verified
    }
}
