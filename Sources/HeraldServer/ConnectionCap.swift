import Synchronization

/// At most ``limit`` client connections open at once: one past it is closed as soon as it is
/// accepted (by ``RequestPacing``'s handler, which counts every connection), so a flood of idle
/// sockets costs a moment each instead of a descriptor for ever. (Hummingbird's idle timeout, set
/// beside it, closes connections that send nothing.)
final class ConnectionCap: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var count: Int { open.load(ordering: .relaxed) }

    /// Counts a connection; false when it is one past the limit (it is counted all the same, and
    /// released when it closes).
    func admit() -> Bool { open.wrappingAdd(1, ordering: .relaxed).newValue <= limit }

    func release() { open.wrappingSubtract(1, ordering: .relaxed) }
}
