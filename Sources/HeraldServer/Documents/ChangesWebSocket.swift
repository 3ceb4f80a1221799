import Foundation
import HeraldCore
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle

extension DocumentsController {
    /// The routes a WebSocket upgrade request reaches (``buildWebSocketRouter(_:)``).
    func addWebSocketRoutes(to router: Router<HeraldRequestContext>) {
        router.group("db").ws(
            "{db}/_changes",
            shouldUpgrade: { request, context in
                guard request.uri.queryParameters["feed"] == "websocket" else {
                    throw CouchError.badRequest("A WebSocket on _changes serves feed=websocket only")
                }
                _ = try context.requirePrincipal()
                try Self.checkOrigin(request)
                _ = try await databaseName(context)
                return .upgrade([:])
            },
            onUpgrade: { inbound, outbound, context in
                do {
                    try await changesOverWebSocket(inbound: inbound, outbound: outbound, request: context.request, context: context.requestContext)
                } catch {
                    // Options refused, too many feeds, the store failing: said in the close frame.
                    let (code, reason) = WebSocketRefusalMiddleware.closing(error)
                    if code >= 4500 { context.logger.error("WebSocket changes feed failed", metadata: ["error": "\(String(reflecting: error))"]) }
                    try? await outbound.close(.unknown(code), reason: reason)
                }
            }
        )
    }

    /// `GET /db/{db}/_changes?feed=websocket`, as Sync Gateway serves it: the client's first message
    /// is the feed's options as a JSON object (`since`, `limit`, `include_docs`, `filter`,
    /// `channels`, `doc_ids`, `active_only`, `heartbeat`, `timeout`; they win over the query
    /// string's); each page of changes is then one text message, a JSON array of the rows
    /// `continuous` writes one per line; the first time the feed has caught up it sends `[]`, and
    /// while idle an empty message every `heartbeat`. The feed ends — the server closes the socket
    /// normally — at `timeout` or `limit`, when the client closes, or when the server stops.
    /// `accept_encoding: "gzip"` is ignored: messages are plain text.
    func changesOverWebSocket(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, context: HeraldRequestContext
    ) async throws {
        // Checked before the upgrade (``addWebSocketRoutes(to:)``).
        let principal = try context.requirePrincipal()
        let database = try context.parameters.require("db")
        let slot = try ChangesFeed.slot(services.feeds, principal: principal, tooManyFeeds: Self.tooManyFeeds)
        defer { slot.release() }
        let end = FeedEnd()
        let (first, firstSink) = AsyncStream.makeStream(of: WebSocketMessage.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Reads what the client sends: its first message is the options; the feed ends when the
            // client closes (later messages mean nothing to the feed and are dropped).
            group.addTask {
                defer {
                    end.end()
                    firstSink.finish()
                }
                for try await message in inbound.messages(maxSize: Self.bodyLimit) {
                    firstSink.yield(message)
                    firstSink.finish()
                }
            }
            // The options are awaited only so long: a socket that never sends them does not hold
            // its slot and connection for ever.
            group.addTask {
                try? await Task.sleep(for: Self.optionsWait)
                firstSink.finish()
            }
            defer { group.cancelAll() }
            var messages = first.makeAsyncIterator()
            guard let options = await messages.next() else {
                if end.hasEnded { return }  // the client left
                throw CouchError(
                    status: .requestTimeout, error: "timeout",
                    reason: "The feed's options (its first message) did not come within \(Self.optionsWait.components.seconds) s"
                )
            }
            let body: JSONValue
            switch options {
            case .text(let text) where text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty: body = .null
            case .text(let text): body = try Self.options(text)
            case .binary(let buffer): body = try Self.options(String(buffer: buffer))
            }
            // The request's `feed=websocket` makes it a continuous feed, whatever `feed` the options name.
            let query = try ChangesQuery(request, body: body.objectValue.map { .object($0.filter { $0.key != "feed" }) } ?? body)
            let (feed, page) = try await changesFeed(database: database, query: query, principal: principal)
            // A client that stops reading would hold a write (and so the feed, its slot and a stop)
            // for ever: a write still waiting after `writeWait` closes the connection.
            let writeWait = max(query.heartbeat ?? .zero, Self.writeWait)
            func send(_ text: String) async throws {
                try await withThrowingTaskGroup(of: Void.self) { writing in
                    writing.addTask { try await outbound.write(.text(text)) }
                    writing.addTask {
                        try await Task.sleep(for: writeWait)
                        context.closeConnection()
                        throw CouchError(status: .requestTimeout, error: "timeout", reason: "The client stopped reading")
                    }
                    defer { writing.cancelAll() }
                    try await writing.next()
                }
            }
            _ = try await withGracefulShutdownHandler {
                try await feed.stream(page: page, commits: services.commits, end: end) { beat in
                    switch beat {
                    case .changes(let results): try await send(JSONValue.array(results).jsonString)
                    case .caughtUp: try await send("[]")
                    case .heartbeat: try await send("")
                    }
                }
            } onGracefulShutdown: {
                end.end()
            }
        }
    }

    /// How long a WebSocket feed waits for its options.
    static let optionsWait: Duration = .seconds(10)
    /// How long a message may wait to be written (at least the feed's heartbeat).
    static let writeWait: Duration = .seconds(30)

    /// A browser sends its cookies with a WebSocket opened by any page (WebSockets have no CORS): a
    /// feed signed in by cookie (no `Authorization` header) must be opened from this server's own
    /// origin. Clients that send a token, and clients that send no `Origin`, are not browsers' pages.
    static func checkOrigin(_ request: Request) throws {
        guard request.headers[.authorization] == nil, request.headers[.cookie] != nil, let origin = request.headers[.origin] else { return }
        let host = request.head.authority ?? ""
        guard let url = URL(string: origin), let originHost = url.host, !host.isEmpty,
            originHost + (url.port.map { ":\($0)" } ?? "") == host || originHost == host
        else {
            throw CouchError.forbidden("A WebSocket signed in by cookie must be opened from this server's own origin")
        }
    }

    static func options(_ text: String) throws -> JSONValue {
        guard let value = try? JSONValue(parsing: text), case .object = value else {
            throw CouchError.badRequest("The first message of a WebSocket feed is its options, a JSON object")
        }
        return value
    }
}

/// Refuses a WebSocket request by accepting it and closing at once with close code 4000 + the HTTP
/// status it would have had (4401, 4404, 4429, …) and the reason as the close reason. Hummingbird
/// answers a refused upgrade with a bare 400, and a browser's WebSocket hides even that from its
/// page: the close frame is the one answer every client can read.
struct WebSocketRefusalMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (code, reason) = Self.closing(error)
            return try await WebSocketUpgradeMiddleware<Context>(onUpgrade: { _, outbound, _ in
                try await outbound.close(.unknown(code), reason: reason)
            }).handle(request, context: context) { _, _ in Response(status: .notFound) }
        }
    }

    /// The close code and reason for `error`; a reason fits the 123 bytes a close frame holds.
    static func closing(_ error: any Error) -> (UInt16, String) {
        let status: HTTPResponse.Status =
            if let error = error as? any HTTPResponseError { error.status }
            else if let error = error as? any StoreConditionReporting, error.storeCondition != nil { .serviceUnavailable }
            else { .internalServerError }
        let reason: String =
            switch error {
            case let error as CouchError: error.reason
            case let error as Problem: error.detail
            default: status.reasonPhrase
            }
        var bytes = Array(reason.utf8.prefix(123))
        while String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
        return (UInt16(4000 + status.code), String(decoding: bytes, as: UTF8.self))
    }
}

/// Where WebSocket upgrade requests go: the same credentials as every request, then the
/// WebSocket routes; anything refused closes with its reason (``WebSocketRefusalMiddleware``).
public func buildWebSocketRouter(_ services: HeraldServices) -> Router<HeraldRequestContext> {
    let router = Router(context: HeraldRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: WebSocketRefusalMiddleware())
    router.add(middleware: TokenAuthMiddleware(services))
    DocumentsController(services: services).addWebSocketRoutes(to: router)
    return router
}

/// A server child channel with the connection's admission (``RequestPacing/admission()``) first in
/// its pipeline, beneath whatever protocol `inner` speaks.
struct AdmittedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let pacing: RequestPacing
    let inner: Inner

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(pacing.admission(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades, each connection admitted by `pacing` when accepted.
    static func herald(
        pacing: RequestPacing, webSocketRouter: Router<HeraldRequestContext>, http1: HTTP1Channel.Configuration
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            AdmittedChannel(
                pacing: pacing,
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    // A client that does not answer the close frame holds its connection (and a stop) 2 s at most.
                    configuration: .init(http1: http1, ws: .init(closeTimeout: .seconds(2), validateUTF8: true))
                )
            )
        }
    }
}
