/// Why a delivery failed verification.
public struct WebhookVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case missingHeader(String)
        case badFormat(String)
        case tooOld
        case tooNew
        case noMatchingSignature
    }

    let kind: Kind

    /// A required header is absent.
    public static func missingHeader(_ name: String) -> Self { .init(kind: .missingHeader(name)) }
    /// A header is present but malformed.
    public static func badFormat(_ detail: String) -> Self { .init(kind: .badFormat(detail)) }
    /// The timestamp is older than the tolerance allows (a possible replay).
    public static let tooOld = Self(kind: .tooOld)
    /// The timestamp is further in the future than the tolerance allows.
    public static let tooNew = Self(kind: .tooNew)
    /// No signature in the header matches the body under the given key.
    public static let noMatchingSignature = Self(kind: .noMatchingSignature)

    public var description: String {
        switch kind {
        case .missingHeader(let name): "missing header \(name)"
        case .badFormat(let detail): "bad format: \(detail)"
        case .tooOld: "timestamp too old"
        case .tooNew: "timestamp too far in the future"
        case .noMatchingSignature: "no matching signature"
        }
    }
}
