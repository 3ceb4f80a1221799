import HTTPTypes

extension HTTPField.Name {
    static let link = Self("Link")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
