import HeraldCore

/// A wake-up signal for one waiting loop: `ring()` wakes the waiter, or the next `wait` returns at
/// once if nobody was waiting. Rings while nobody waits collapse into one.
final class Doorbell: Sendable {
    private let rendezvous = Rendezvous<Void>()

    func ring() { rendezvous.fulfil(()) }

    /// Returns when rung, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async { await rendezvous.wait(timeout: timeout, fallback: ()) }
}
