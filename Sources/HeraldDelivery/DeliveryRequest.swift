import Foundation
import NIOSSL
import HeraldCore
import HeraldVerify
import Synchronization

/// The exact request a receiver gets for a claimed delivery: body bytes and signed headers.
public struct DeliveryRequest: Sendable, Hashable {
    public var url: String
    /// The headers sent.
    public var headers: [HTTPHeaderField]
    /// The same, with credentials masked: what the delivery log records.
    public var loggedHeaders: [HTTPHeaderField]
    public var body: String

    public static let userAgent = "Herald-Hookshot/\(HeraldVersion.current)"

    /// Builds and signs the request. Signatures cover the exact body bytes sent.
    /// - Parameter secrets: the current secret first, then any still-valid previous one (which then
    ///   signs GitHub's `X-Hub-Signature-256` and `X-Hub-Signature`).
    /// - Parameter signingKey: the hook's Ed25519 key, which adds a `v1a` signature.
    /// - Parameter payload: the JSON sent (a transform's output, or the event's body made once for
    ///   all its deliveries); the hook's usual body when nil.
    public init(
        delivery: ClaimedDelivery, payload: String? = nil, secrets: [KeyedSecret], signingKey: WebhookSigningKey? = nil,
        credentials: HookCredentials? = nil, bearerToken: String? = nil, timestamp: Int64
    ) {
        let payload = payload ?? HookScripts.body(for: delivery.event, format: delivery.hook.payloadFormat)
        let body: String
        switch delivery.hook.contentType {
        case .json: body = payload
        case .form: body = "payload=" + FormEncoding.encode(payload)
        }
        var headers = [
            HTTPHeaderField("Content-Type", delivery.hook.contentType.mimeType),
            HTTPHeaderField("User-Agent", Self.userAgent),
            HTTPHeaderField("X-Herald-Event", delivery.event.type),
            HTTPHeaderField("X-Herald-Delivery", delivery.deliveryID),
            HTTPHeaderField("X-Herald-Hook-ID", String(delivery.hook.id)),
        ]
        if delivery.trigger == .redelivery { headers.append(HTTPHeaderField("X-Herald-Redelivery", "true")) }
        if delivery.hook.githubHeaders {
            // GitHub's names, as a receiver written for GitHub reads them: the delivery's id stays
            // the same on a redelivery (receivers dedupe on it), and a team is the organization.
            headers += [
                HTTPHeaderField("X-GitHub-Event", delivery.event.type),
                HTTPHeaderField("X-GitHub-Delivery", delivery.deliveryID),
                HTTPHeaderField("X-GitHub-Hook-ID", String(delivery.hook.id)),
                HTTPHeaderField("X-GitHub-Hook-Installation-Target-Type", "organization"),
                HTTPHeaderField("X-GitHub-Hook-Installation-Target-ID", String(delivery.hook.teamID)),
            ]
        }
        // The signatures read the body's own bytes (a native string's are contiguous), not a copy.
        var text = body
        text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            // GitHub's recipe holds one secret: while a rotation's grace lasts it is the previous one,
            // which such a receiver still has (`webhook-signature` carries both).
            if let hubSecret = secrets.count > 1 ? secrets[1] : secrets.first {
                headers.append(HTTPHeaderField(HubSignature.headerName, hubSecret.hubSignature(body: bytes)))
                if delivery.hook.githubHeaders {
                    headers.append(HTTPHeaderField(HubSignature.Legacy.headerName, hubSecret.legacyHubSignature(body: bytes)))
                }
            }
            headers.append(HTTPHeaderField(StandardWebhooks.idHeader, delivery.deliveryID))
            headers.append(HTTPHeaderField(StandardWebhooks.timestampHeader, String(timestamp)))
            if !secrets.isEmpty || signingKey != nil {
                headers.append(
                    HTTPHeaderField(
                        StandardWebhooks.signatureHeader,
                        StandardWebhooks.signatureHeaderValue(id: delivery.deliveryID, timestamp: timestamp, body: bytes, secrets: secrets, signingKey: signingKey)
                    )
                )
            }
        }
        self.url = delivery.hook.url
        self.headers = headers + (credentials?.requestHeaders(bearerToken: bearerToken) ?? [])
        self.loggedHeaders = headers + (credentials?.maskedHeaders(bearerToken: bearerToken) ?? [])
        self.body = body
    }
}

/// `application/x-www-form-urlencoded` encoding of a value.
public enum FormEncoding {
    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*".utf8)

    public static func encode(_ value: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count * 2)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in value.utf8 {
            if unreserved.contains(byte) {
                out.append(byte)
            } else if byte == UInt8(ascii: " ") {
                out.append(UInt8(ascii: "+"))
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A hook's keys, opened for signing one delivery: the current secret, the previous one while its
/// rotation grace period lasts, and the Ed25519 key of `ed25519` hooks.
struct SigningMaterial {
    var secrets: [KeyedSecret]
    var signingKey: WebhookSigningKey?

    var credentials: HookCredentials?
    var tls: TLSConfiguration?

    init(_ opened: Opened, hook: Hook, now: Date) {
        credentials = opened.credentials
        tls = opened.tls
        secrets = [opened.secret]
        if let previous = opened.previousSecret, let expires = hook.previousSecretExpiresAt, expires > now { secrets.append(previous) }
        signingKey = hook.signature == .ed25519 ? opened.signingKey : nil
    }

    /// A hook's keys, decrypted.
    struct Opened: Sendable {
        var secret: KeyedSecret
        var previousSecret: KeyedSecret?
        var signingKey: WebhookSigningKey?
        var credentials: HookCredentials?
        /// Built once per hook version: a TLS context is costly to make.
        var tls: TLSConfiguration?

        init(hook: Hook, secretBox: SecretBox) throws {
            func open<T>(_ what: String, _ body: () throws -> T) throws(SealedKeyError) -> T {
                do { return try body() } catch { throw SealedKeyError(what: what) }
            }
            credentials = try open("credentials") { try hook.encryptedCredentials.map { try HookCredentials.open($0, with: secretBox) } }
            do {
                tls = try credentials.flatMap { try ClientCertificates.configuration($0, verify: !hook.insecureSSL) }
            } catch {
                throw ClientCertificateError(message: "\(error)")
            }
            secret = try open("secret") { KeyedSecret(WebhookSecret(try secretBox.open(hook.encryptedSecret))) }
            previousSecret = try open("previous secret") { try hook.encryptedPreviousSecret.map { KeyedSecret(WebhookSecret(try secretBox.open($0))) } }
            signingKey = try open("signing key") { try hook.encryptedSigningKey.flatMap { WebhookSigningKey(try secretBox.open($0)) } }
        }
    }
}

/// Hooks' keys decrypted once per version of the hook rather than once per attempt.
final class SigningMaterialCache: Sendable {
    private let secretBox: SecretBox
    private let entries = Mutex<[Int64: (sealed: Data, updatedAt: Date, opened: SigningMaterial.Opened)]>([:])

    init(secretBox: SecretBox) { self.secretBox = secretBox }

    func material(for hook: Hook, now: Date) throws -> SigningMaterial {
        if let cached = entries.withLock({ $0[hook.id] }), cached.updatedAt == hook.updatedAt, cached.sealed == hook.encryptedSecret {
            return SigningMaterial(cached.opened, hook: hook, now: now)
        }
        let opened = try SigningMaterial.Opened(hook: hook, secretBox: secretBox)
        entries.withLock { entries in
            if entries.count >= 100_000 { entries.removeAll(keepingCapacity: true) }
            entries[hook.id] = (hook.encryptedSecret, hook.updatedAt, opened)
        }
        return SigningMaterial(opened, hook: hook, now: now)
    }
}
