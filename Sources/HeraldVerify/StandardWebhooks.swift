import Crypto
import Foundation

/// Standard Webhooks v1 signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
///
/// The signed content is `"{id}.{timestamp}.{body}"`; each signature is `v1,<base64 HMAC-SHA256>`.
/// Several signatures may be sent space-separated (while a secret rotates); one match suffices.
public enum StandardWebhooks {
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"
    /// The default tolerance for the timestamp, either side of now.
    public static let defaultTolerance: Duration = .seconds(300)

    /// One `v1,<base64>` signature.
    public static func sign<Body: DataProtocol>(id: String, timestamp: Int64, body: Body, secret: WebhookSecret) -> String {
        sign(id: id, timestamp: timestamp, body: body, keyed: HMAC(key: SymmetricKey(data: secret.key)))
    }

    /// One `v1,<base64>` signature with an HMAC already keyed with the secret (``KeyedSecret``).
    static func sign<Body: DataProtocol>(id: String, timestamp: Int64, body: Body, keyed: HMAC<SHA256>) -> String {
        var hmac = keyed
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return "v1," + Data(hmac.finalize()).base64EncodedString()
    }

    /// One `v1a,<base64>` Ed25519 signature.
    public static func sign<Body: DataProtocol>(id: String, timestamp: Int64, body: Body, signingKey: WebhookSigningKey) -> String {
        let content = signedContent(id: id, timestamp: timestamp, body: body)
        // swift-crypto's Ed25519 signatures are deterministic only where the platform makes them so;
        // either way any valid signature verifies.
        let signature = (try? signingKey.key.signature(for: content)) ?? Data()
        return "v1a," + signature.base64EncodedString()
    }

    /// The `webhook-signature` value: one `v1` signature per secret and, with a signing key, a
    /// `v1a` one, space-separated.
    public static func signatureHeaderValue<Body: DataProtocol>(
        id: String, timestamp: Int64, body: Body, secrets: [WebhookSecret], signingKey: WebhookSigningKey? = nil
    ) -> String {
        joined(secrets.map { sign(id: id, timestamp: timestamp, body: body, secret: $0) }, id: id, timestamp: timestamp, body: body, signingKey: signingKey)
    }

    /// The same with secrets keyed once (a sender's, signing many bodies with each).
    public static func signatureHeaderValue<Body: DataProtocol>(
        id: String, timestamp: Int64, body: Body, secrets: [KeyedSecret], signingKey: WebhookSigningKey? = nil
    ) -> String {
        joined(secrets.map { $0.standardSignature(id: id, timestamp: timestamp, body: body) }, id: id, timestamp: timestamp, body: body, signingKey: signingKey)
    }

    /// The `v1` signatures, then the `v1a` one of `signingKey`, space-separated.
    private static func joined<Body: DataProtocol>(_ v1: [String], id: String, timestamp: Int64, body: Body, signingKey: WebhookSigningKey?) -> String {
        var signatures = v1
        if let signingKey { signatures.append(sign(id: id, timestamp: timestamp, body: body, signingKey: signingKey)) }
        return signatures.joined(separator: " ")
    }

    static func signedContent<Body: DataProtocol>(id: String, timestamp: Int64, body: Body) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + Array(body)
    }

    /// Verifies a request's headers and body against a shared secret (`v1`).
    ///
    /// - Parameters:
    ///   - headers: the request's headers; names are matched case-insensitively.
    ///   - now: the receiver's clock, in seconds since 1970.
    public static func verify<Body: DataProtocol>(
        headers: HeaderLookup,
        body: Body,
        secret: WebhookSecret,
        tolerance: Duration = defaultTolerance,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws(WebhookVerificationError) {
        let expected = Array(sign(id: headers[idHeader] ?? "", timestamp: Int64(headers[timestampHeader] ?? "") ?? 0, body: body, secret: secret).utf8.dropFirst(3))
        try verify(headers: headers, tolerance: tolerance, now: now, version: "v1") { candidate in
            constantTimeEquals(expected, Array(candidate.utf8))
        }
    }

    /// Verifies a request's headers and body against an Ed25519 public key (`v1a`).
    public static func verify<Body: DataProtocol>(
        headers: HeaderLookup,
        body: Body,
        publicKey: WebhookPublicKey,
        tolerance: Duration = defaultTolerance,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws(WebhookVerificationError) {
        let content = signedContent(id: headers[idHeader] ?? "", timestamp: Int64(headers[timestampHeader] ?? "") ?? 0, body: body)
        try verify(headers: headers, tolerance: tolerance, now: now, version: "v1a") { candidate in
            guard let signature = Data(base64Encoded: candidate) else { return false }
            return publicKey.key.isValidSignature(signature, for: content)
        }
    }

    /// The checks shared by every version: headers present and well-formed, timestamp within
    /// tolerance, then one signature of `version` accepted by `matches`.
    static func verify(
        headers: HeaderLookup, tolerance: Duration, now: Int64, version: Substring, matches: (String) -> Bool
    ) throws(WebhookVerificationError) {
        guard headers[idHeader] != nil else { throw .missingHeader(idHeader) }
        guard let timestampString = headers[timestampHeader] else { throw .missingHeader(timestampHeader) }
        guard let signatures = headers[signatureHeader] else { throw .missingHeader(signatureHeader) }
        guard let timestamp = Int64(timestampString) else { throw .badFormat("\(timestampHeader) must be integer seconds") }
        let toleranceSeconds = tolerance.components.seconds
        if timestamp < now - toleranceSeconds { throw .tooOld }
        if timestamp > now + toleranceSeconds { throw .tooNew }
        let candidates = signatures.split(separator: " ")
        guard !candidates.isEmpty else { throw .badFormat("empty \(signatureHeader)") }
        for candidate in candidates {
            guard let comma = candidate.firstIndex(of: ",") else { throw .badFormat("signature must be <version>,<base64>") }
            // Other versions are skipped: a receiver checks the ones it has a key for.
            guard candidate[..<comma] == version else { continue }
            if matches(String(candidate[candidate.index(after: comma)...])) { return }
        }
        throw .noMatchingSignature
    }
}

/// Case-insensitive header lookup over whatever header type the caller has.
public struct HeaderLookup: Sendable {
    private let values: [String: String]

    /// From name–value pairs; later duplicates are joined with a space (as several signatures are).
    public init<S: Sequence>(_ pairs: S) where S.Element == (String, String) {
        var values: [String: String] = [:]
        for (name, value) in pairs {
            let key = name.lowercased()
            if let existing = values[key] { values[key] = existing + " " + value } else { values[key] = value }
        }
        self.values = values
    }

    /// From a dictionary of header names to values.
    public init(_ dictionary: [String: String]) {
        self.init(dictionary.map { ($0.key, $0.value) })
    }

    public subscript(name: String) -> String? { values[name.lowercased()] }
}
