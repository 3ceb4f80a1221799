import NIOCore
import Synchronization

/// At most ``limit`` client connections open at once: one past it is closed as soon as it is
/// accepted, so a flood of idle sockets costs a moment each instead of a descriptor for ever.
/// (Hummingbird's idle timeout, set beside it, closes connections that send nothing.)
final class ConnectionCap: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var count: Int { open.load(ordering: .relaxed) }

    func handler() -> Handler { Handler(cap: self) }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let cap: ConnectionCap
        private var counted = false

        init(cap: ConnectionCap) { self.cap = cap }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { admit(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            admit(context)
            context.fireChannelActive()
        }

        private func admit(_ context: ChannelHandlerContext) {
            guard !counted else { return }
            counted = true
            if cap.open.wrappingAdd(1, ordering: .relaxed).newValue > cap.limit { context.close(promise: nil) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if counted {
                counted = false
                cap.open.wrappingSubtract(1, ordering: .relaxed)
            }
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if counted {
                counted = false
                cap.open.wrappingSubtract(1, ordering: .relaxed)
            }
        }
    }
}
