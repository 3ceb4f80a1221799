import HTTPTypes
import HeraldDelivery
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What one client may hold of the server's connections, so a single anonymous client cannot take
/// them all (a request body sent a byte every 30 s held every slot once):
/// - at most ``ConnectionCap/limit`` connections in all and ``maxPerClient`` from one address (more
///   are closed when accepted);
/// - a request's head and body arrive within ``deadline``, and after ``grace`` at
///   ``minimumBytesPerSecond`` or more, or its connection is closed;
/// - once fewer than ``reserved`` connections are free, a request without credentials (no
///   `Authorization` header, no cookie) is answered 503 and its connection closed, so teams and
///   providers still get through while anonymous traffic fills the rest.
final class RequestPacing: Sendable {
    let maxPerClient: Int
    let deadline: Duration
    let grace: Duration
    let minimumBytesPerSecond: Int
    let reserved: Int
    /// How long an accepted connection may stay silent before its first byte.
    let idleTimeout: Duration
    /// Reverse proxies (``HeraldConfiguration/trustedProxies``): every client behind one shares its
    /// address, so a proxy's connections are not held to one client's share.
    let trustedProxies: [IPNetwork]
    let connections: ConnectionCap
    let logger: Logger
    private let perClient = Mutex<[String: Int]>([:])
    /// Per open connection: completes when the client has stopped sending (its side closed, or
    /// the whole connection), so a long feed can end as soon as nobody reads it.
    private let gone = Mutex<[ObjectIdentifier: EventLoopFuture<Void>]>([:])

    /// Completes when the client of `channel` has left: closed its side of the connection (the
    /// server keeps half-closed connections open) or the whole connection. Nil when the connection
    /// is not known (closed already).
    func clientGone(_ channel: ObjectIdentifier) -> EventLoopFuture<Void>? { gone.withLock { $0[channel] } }

    init(configuration: HeraldConfiguration, connections: ConnectionCap, logger: Logger) {
        maxPerClient = configuration.maxConnectionsPerClient
        deadline = configuration.requestDeadline
        idleTimeout = configuration.idleTimeout
        grace = configuration.requestGrace
        minimumBytesPerSecond = configuration.minimumRequestBytesPerSecond
        reserved = configuration.connectionsReservedForAuthenticated ?? configuration.maxConnections / 8
        trustedProxies = configuration.trustedProxies
        self.connections = connections
        self.logger = logger
    }

    /// Connections open from `address` now.
    func open(from address: String) -> Int { perClient.withLock { $0[address] ?? 0 } }

    /// The connection's admission (the caps, and when its client leaves): first in every
    /// connection's pipeline, below HTTP, so it counts a connection from the moment it is accepted
    /// and keeps counting it after a WebSocket upgrade.
    func admission() -> Admission { Admission(pacing: self) }
    /// The pace of each HTTP request on the connection, and the refusal of anonymous ones when
    /// connections run short: among the HTTP handlers.
    func handler() -> Handler { Handler(pacing: self) }

    /// Counts a connection from `address`; false when the address already holds its most.
    fileprivate func admit(_ address: String) -> Bool {
        perClient.withLock { counts in
            let open = counts[address, default: 0] + 1
            counts[address] = open
            return maxPerClient == 0 || open <= maxPerClient || trustedProxies.contains { $0.contains(address) }
        }
    }

    fileprivate func release(_ address: String) {
        perClient.withLock { counts in
            let open = (counts[address] ?? 1) - 1
            counts[address] = open > 0 ? open : nil
        }
    }

    /// Whether a request without credentials may take a connection now.
    fileprivate var anonymousMayEnter: Bool { connections.count <= connections.limit - reserved }

    final class Admission: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer

        private let pacing: RequestPacing
        private var address: String?
        /// Completed when the client leaves (``RequestPacing/clientGone(_:)``).
        private var left: EventLoopPromise<Void>?
        private var channelID: ObjectIdentifier?
        /// Closes the connection if its first request head has not fully arrived within the idle
        /// timeout (nothing sent, or a head dribbled a byte at a time); the HTTP handlers time
        /// connections out from their first request on.
        private var silence: Scheduled<Void>?
        /// Whether the first head has ended (its blank line seen), and the last bytes read before,
        /// for a blank line split across reads.
        private var headEnded = false
        private var tail: [UInt8] = []

        init(pacing: RequestPacing) { self.pacing = pacing }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { admit(context) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if !headEnded {
                // Looks for the blank line ending the head, stopping there (once per connection).
                var window = tail
                for byte in unwrapInboundIn(data).readableBytesView {
                    window.append(byte)
                    if window.count > 4 { window.removeFirst() }
                    if window == [13, 10, 13, 10] {
                        headEnded = true
                        break
                    }
                }
                tail = headEnded ? [] : window
                if headEnded {
                    silence?.cancel()
                    silence = nil
                }
            }
            context.fireChannelRead(data)
        }

        func channelActive(context: ChannelHandlerContext) {
            admit(context)
            context.fireChannelActive()
        }

        private func admit(_ context: ChannelHandlerContext) {
            guard address == nil else { return }
            let key = context.channel.remoteAddress?.ipAddress ?? "unknown"
            address = key
            let left = context.eventLoop.makePromise(of: Void.self)
            let id = ObjectIdentifier(context.channel)
            self.left = left
            channelID = id
            pacing.gone.withLock { $0[id] = left.futureResult }
            silence = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(pacing.idleTimeout.nanoseconds)) {
                context.close(promise: nil)
            }
            let withinCap = pacing.connections.admit()
            let withinClientShare = pacing.admit(key)
            if !withinCap {
                context.close(promise: nil)
            } else if !withinClientShare {
                pacing.logger.notice("connection refused: too many from one client address", metadata: ["client": "\(key)"])
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            stop()
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) { stop() }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event {
                left?.succeed()
                left = nil
            }
            // A graceful stop: a connection that has not sent a whole request head has nothing to
            // finish, so it does not hold the stop.
            if event is ChannelShouldQuiesceEvent, !headEnded {
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }

        private func stop() {
            silence?.cancel()
            silence = nil
            left?.succeed()
            left = nil
            if let channelID {
                _ = pacing.gone.withLock { $0.removeValue(forKey: channelID) }
                self.channelID = nil
            }
            if let address {
                pacing.release(address)
                pacing.connections.release()
                self.address = nil
            }
        }
    }

    final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let pacing: RequestPacing
        /// The request being received: when its head came and the body bytes since.
        private var receiving: (started: NIODeadline, bytes: Int)?
        private var check: Scheduled<Void>?
        /// A refused request: its parts are dropped until the connection closes.
        private var refusing = false

        init(pacing: RequestPacing) { self.pacing = pacing }

        func channelInactive(context: ChannelHandlerContext) {
            stop()
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) { stop() }

        private func stop() {
            check?.cancel()
            check = nil
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if refusing { return }
            let part = unwrapInboundIn(data)
            switch part {
            case .head(let head):
                if !pacing.anonymousMayEnter && head.headerFields[.authorization] == nil && head.headerFields[.cookie] == nil {
                    refuse(context)
                    return
                }
                receiving = (.now(), 0)
                if check == nil { scheduleCheck(context) }
            case .body(let buffer):
                receiving?.bytes += buffer.readableBytes
            case .end:
                receiving = nil
            }
            context.fireChannelRead(data)
        }

        /// Looks at the request's pace every second while one is arriving.
        private func scheduleCheck(_ context: ChannelHandlerContext) {
            check = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) {
                self.check = nil
                guard self.receiving != nil, !self.refusing else { return }
                self.checkPace(context)
                if self.receiving != nil { self.scheduleCheck(context) }
            }
        }

        /// Closes the connection of a request that is too slow to arrive.
        private func checkPace(_ context: ChannelHandlerContext) {
            guard let receiving else { return }
            let elapsed = NIODeadline.now() - receiving.started
            let seconds = Double(elapsed.nanoseconds) / 1e9
            let late = elapsed > .nanoseconds(pacing.deadline.nanoseconds)
            let slow = elapsed > .nanoseconds(pacing.grace.nanoseconds) && Double(receiving.bytes) < seconds * Double(pacing.minimumBytesPerSecond)
            guard late || slow else { return }
            pacing.logger.notice(
                "connection closed: request too slow to arrive",
                metadata: ["client": "\(context.channel.remoteAddress?.ipAddress ?? "unknown")", "seconds": "\(Int(seconds))", "bytes": "\(receiving.bytes)"]
            )
            self.receiving = nil
            refusing = true
            context.close(promise: nil)
        }

        /// Answers 503 without reading the request and closes the connection.
        private func refuse(_ context: ChannelHandlerContext) {
            refusing = true
            let body = ByteBuffer(string: "Too many connections: only requests with credentials are served now. Retry later.\n")
            var fields = HTTPFields()
            fields[.retryAfter] = "5"
            fields[.connection] = "close"
            fields[.contentType] = "text/plain; charset=utf-8"
            fields[.contentLength] = String(body.readableBytes)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .serviceUnavailable, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
