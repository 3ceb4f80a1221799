import HeraldVerify
import Hummingbird

/// A Hummingbird receiver that accepts only genuine Herald deliveries.
public func buildReceiverRouter(secret: String, handle: @escaping @Sendable (String, [UInt8]) async throws -> Void) -> Router<BasicRequestContext> {
    let verifier = WebhookVerifier(secret: WebhookSecret(secret))
    let router = Router()
    router.post("/herald") { request, context -> HTTPResponse.Status in
        let body = try await request.body.collect(upTo: 1 << 20)
        let headers = HeaderLookup(request.headers.map { ($0.name.rawName, $0.value) })
        do {
            try verifier.verify(headers: headers, body: body.readableBytesView)
        } catch {
            context.logger.warning("rejected a delivery: \(error)")
            return .unauthorized
        }
        // Deliveries are at least once: dedupe by X-Herald-Delivery before acting.
        try await handle(headers["X-Herald-Delivery"] ?? "", Array(body.readableBytesView))
        return .noContent
    }
    return router
}
