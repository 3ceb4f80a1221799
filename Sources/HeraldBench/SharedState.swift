import Synchronization

/// A counter that concurrent load tasks share.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    /// Adds `amount` and returns the value before.
    func fetchAdd(_ amount: Int) -> Int { value.wrappingAdd(amount, ordering: .relaxed).oldValue }
}

/// A value that concurrent load tasks share behind a lock.
final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
    var value: Value { mutex.withLock { $0 } }
}
