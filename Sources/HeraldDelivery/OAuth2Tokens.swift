import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import Synchronization

/// Access tokens of OAuth2 client-credentials hooks, each kept until shortly before it expires, or
/// until a receiver answers 401 to it. Fetched through the SSRF guard like any target.
final class OAuth2Tokens: Sendable {
    private let clients: GuardedClients
    private let tokens = Mutex<[OAuth2ClientCredentials: (token: String, expiresAt: Date)]>([:])
    /// A token is renewed this long before its expiry.
    static let skew: TimeInterval = 30

    init(clients: GuardedClients) {
        self.clients = clients
    }

    /// A valid token for `credentials`, fetched when none is cached.
    func token(for credentials: OAuth2ClientCredentials, now: Date) async throws(OAuth2TokenError) -> String {
        if let cached = tokens.withLock({ $0[credentials] }), cached.expiresAt.timeIntervalSince(now) > Self.skew { return cached.token }
        let (token, expiresIn) = try await fetch(credentials)
        tokens.withLock { tokens in
            if tokens.count > 10_000 { tokens.removeAll() }
            tokens[credentials] = (token, now.addingTimeInterval(expiresIn))
        }
        return token
    }

    /// Forgets the token (the receiver refused it).
    func invalidate(_ credentials: OAuth2ClientCredentials) {
        _ = tokens.withLock { $0.removeValue(forKey: credentials) }
    }

    private func fetch(_ credentials: OAuth2ClientCredentials) async throws(OAuth2TokenError) -> (String, Double) {
        var request = HTTPClientRequest(url: credentials.tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Authorization", value: credentials.clientAuthorization)
        request.body = .bytes(ByteBuffer(string: credentials.requestBody))
        let body: String
        let status: UInt
        do {
            (status, body) = try await clients.withClient(for: credentials.tokenURL, insecure: false) { client in
                let response = try await client.execute(request, timeout: .seconds(10))
                return (response.status.code, String(buffer: try await response.body.collect(upTo: 64 * 1024)))
            }
        } catch let refused as TargetRefused {
            throw OAuth2TokenError(message: "the token URL is refused: \(refused.reason)")
        } catch {
            throw OAuth2TokenError(message: "the token request failed: \(DeliverySender.classify(error).1)")
        }
        guard (200..<300).contains(status) else { throw OAuth2TokenError(message: "the token endpoint answered \(status)") }
        return try OAuth2ClientCredentials.parseTokenResponse(body).map { ($0.token, $0.expiresIn) }.get()
    }
}
