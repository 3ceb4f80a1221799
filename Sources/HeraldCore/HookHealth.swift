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

extension HookHealth {
    /// What a batch of finished attempts does to their hook.
    public struct Update: Sendable, Hashable {
        /// GitHub's `last_response`, from the batch's latest attempt.
        public var lastResponse: LastResponse
        public var failingSince: Date?
        /// When set, the hook must be disabled with this reason.
        public var disableReason: String?
    }

    /// Folds one hook's finished attempts, oldest first, into its health: the failure run, the
    /// reason to disable it (410 Gone, or failing for ``disableAfter``), and `last_response`.
    public func update(after results: [AttemptResult], failingSince: Date?) -> Update? {
        guard let last = results.last else { return nil }
        var failingSince = failingSince
        var disableReason: String?
        for result in results {
            let next = afterAttempt(succeeded: result.succeeded, failingSince: failingSince, now: result.attempt.finishedAt)
            failingSince = next.failingSince
            disableReason = result.action.disableHookReason ?? next.disableReason ?? disableReason
        }
        let attempt = last.attempt
        let message: String =
            if let status = attempt.responseStatus { last.succeeded ? "OK" : "HTTP \(status)" } else { attempt.errorMessage ?? "error" }
        let lastResponse = LastResponse(code: attempt.responseStatus, status: last.succeeded ? "active" : "failed", message: message)
        return Update(lastResponse: lastResponse, failingSince: failingSince, disableReason: disableReason)
    }
}

extension Attempt {
    /// When the attempt ended.
    public var finishedAt: Date { startedAt.addingTimeInterval(Double(durationMs) / 1000) }
}
