import Foundation
import HeraldCore
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of every route: Hummingbird's core storage plus the authenticated caller.
public struct HeraldRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``TokenAuthMiddleware`` when the request carries a valid token.
    public var principal: Principal?
    /// Set by ``WebSessionMiddleware`` when the browser carries a valid session cookie.
    public var webSession: WebSignIn?
    /// The client's address, for limits per address.
    public let remoteAddress: SocketAddress?
    /// The client's connection: a long feed ends when its client leaves (``RequestPacing/clientGone(_:)``).
    let connection: ObjectIdentifier
    /// Completes when the client's connection closes.
    let connectionClosed: EventLoopFuture<Void>
    /// Closes the client's connection (a WebSocket whose client stopped reading).
    let closeConnection: @Sendable () -> Void
    /// Where a WebSocket route leaves its handler for the upgrade (``buildWebSocketRouter(_:)``).
    public let webSocket = WebSocketHandlerReference<HeraldRequestContext>()

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.connection = ObjectIdentifier(source.channel)
        self.connectionClosed = source.channel.closeFuture
        self.closeConnection = { [channel = source.channel] in channel.close(promise: nil) }
        self.principal = nil
        self.webSession = nil
    }

    /// The caller, or a 401 problem.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthorized("A valid `Authorization: Bearer hrld_…` token is required.") }
        return principal
    }

    /// The caller if its scope is one of `scopes`, or a 403 problem.
    func require(_ scopes: TokenScope...) throws -> Principal {
        let principal = try requirePrincipal()
        guard scopes.contains(principal.scope) else {
            throw Problem.forbidden("This needs a token with scope \(scopes.map(\.rawValue).joined(separator: " or ")).")
        }
        return principal
    }
}
