import Foundation

/// Tracks a run of failures and decides when a hook has failed long enough to be disabled.
public struct HookHealth: Sendable, Hashable {
    /// How long a hook may fail without a single success before it is disabled (default 5 days).
    public var disableAfter: Duration

    public init(disableAfter: Duration = .seconds(5 * 86_400)) {
        self.disableAfter = disableAfter
    }

    /// The hook's new `failingSince`, and a reason when it must now be disabled.
    public func afterAttempt(succeeded: Bool, failingSince: Date?, now: Date) -> (failingSince: Date?, disableReason: String?) {
        if succeeded { return (nil, nil) }
        let since = failingSince ?? now
        if now.timeIntervalSince(since) >= disableAfter.seconds {
            return (since, "Every delivery has failed since \(Timestamp.string(since)).")
        }
        return (since, nil)
    }
}
