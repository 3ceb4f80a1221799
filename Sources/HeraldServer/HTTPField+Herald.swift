import HTTPTypes

extension HTTPField.Name {
    static let link = Self("Link")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    /// RFC 9745: what was asked for is deprecated.
    static let deprecation = Self("Deprecation")!
    /// What a deprecation is about, for a person reading the response.
    static let heraldWarning = Self("Herald-Warning")!
}
