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
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: secret.key))
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return "v1," + Data(hmac.finalize()).base64EncodedString()
    }

    /// The `webhook-signature` value: one signature per secret, space-separated.
    public static func signatureHeaderValue<Body: DataProtocol>(id: String, timestamp: Int64, body: Body, secrets: [WebhookSecret]) -> String {
        secrets.map { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    /// Verifies a request's headers and body.
    ///
    /// - Parameters:
    ///   - headers: a lookup of header values by name; names are matched case-insensitively by
    ///     ``HeaderLookup``.
    ///   - now: the receiver's clock, in seconds since 1970.
    public static func verify<Body: DataProtocol>(
        headers: HeaderLookup,
        body: Body,
        secret: WebhookSecret,
        tolerance: Duration = defaultTolerance,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws(WebhookVerificationError) {
        guard let id = headers[idHeader] else { throw .missingHeader(idHeader) }
        guard let timestampString = headers[timestampHeader] else { throw .missingHeader(timestampHeader) }
        guard let signatures = headers[signatureHeader] else { throw .missingHeader(signatureHeader) }
        guard let timestamp = Int64(timestampString) else { throw .badFormat("\(timestampHeader) must be integer seconds") }
        let toleranceSeconds = tolerance.components.seconds
        if timestamp < now - toleranceSeconds { throw .tooOld }
        if timestamp > now + toleranceSeconds { throw .tooNew }

        let expected = Array(sign(id: id, timestamp: timestamp, body: body, secret: secret).utf8.dropFirst(3))
        let candidates = signatures.split(separator: " ")
        guard !candidates.isEmpty else { throw .badFormat("empty \(signatureHeader)") }
        for candidate in candidates {
            guard let comma = candidate.firstIndex(of: ",") else { throw .badFormat("signature must be <version>,<base64>") }
            // Other versions (v1a, future ones) are skipped: a receiver checks the ones it knows.
            guard candidate[..<comma] == "v1" else { continue }
            if constantTimeEquals(expected, Array(candidate[candidate.index(after: comma)...].utf8)) { return }
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
