import Synchronization

/// A meeting point between one waiter and whoever wakes it, the one continuation handshake the
/// house uses (group commit's tickets, the engine's doorbells, the changes feeds' waits, the
/// PostgreSQL listener's start): ``fulfil(_:)`` hands a value to the task waiting, or — when none
/// waits yet — keeps it for the next ``wait()``, which then returns at once. Values fulfilled
/// while nobody waits collapse into the last one. One task waits at a time.
public final class Rendezvous<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value, Never>?
        /// A timed wait's end (its timeout or its task's cancellation) that came before it waited.
        var interrupted: Value?
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter with `value`, or keeps it for the next wait.
    public func fulfil(_ value: Value) { hand(value, interrupting: false) }

    /// The value kept, or the next one fulfilled.
    public func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if let value = state.value {
                    state.value = nil
                    return value
                }
                if let interrupted = state.interrupted {
                    state.interrupted = nil
                    return interrupted
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The next value, or `fallback` after `timeout` or when the task is cancelled. A value kept
    /// from before the call is taken at once. Neither the timeout nor the cancellation is kept for
    /// a later wait, and no value fulfilled is ever dropped.
    public func wait(timeout: Duration, fallback: Value) async -> Value {
        state.withLock { $0.interrupted = nil }
        let value = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.interrupt(fallback) }
            }
            let value = await withTaskCancellationHandler {
                await wait()
            } onCancel: {
                self.interrupt(fallback)
            }
            group.cancelAll()
            return value
        }
        // The timer has ended with the group: an interruption it left is for nobody.
        state.withLock { $0.interrupted = nil }
        return value
    }

    private func interrupt(_ fallback: Value) { hand(fallback, interrupting: true) }

    /// Resumes the waiter with `value`, or keeps it (as a value fulfilled, or as an interruption)
    /// when nobody waits. (Not a key path to the slot: a generic class's key path is made anew at
    /// each call, and doorbells ring once per attempt.)
    private func hand(_ value: Value, interrupting: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            if interrupting { state.interrupted = value } else { state.value = value }
            return nil
        }
        waiter?.resume(returning: value)
    }
}
