import Foundation

/// Tracks a run of failures and decides when a hook has failed long enough to be disabled, and when
/// its circuit breaker opens.
public struct HookHealth: Sendable, Hashable {
    /// How long a hook may fail without a single success before it is disabled (default 5 days).
    public var disableAfter: Duration
    public var breaker: CircuitBreaker

    public init(disableAfter: Duration = .seconds(5 * 86_400), breaker: CircuitBreaker = CircuitBreaker()) {
        self.disableAfter = disableAfter
        self.breaker = breaker
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
        public var circuit: CircuitState = CircuitState()

        /// Whether saving this leaves the hook's row as `stored` holds it: the same last response,
        /// failure run and breaker, and no reason to disable it.
        func changesNothing(_ stored: Stored) -> Bool {
            disableReason == nil && lastResponse == stored.lastResponse && failingSince == stored.failingSince && circuit == stored.circuit
        }
    }

    /// A hook's health as its row holds it, which a record's ``Update`` starts from.
    public struct Stored: Sendable, Hashable {
        public var lastResponse: LastResponse
        public var failingSince: Date?
        public var circuit: CircuitState

        public init(lastResponse: LastResponse, failingSince: Date?, circuit: CircuitState = CircuitState()) {
            self.lastResponse = lastResponse
            self.failingSince = failingSince
            self.circuit = circuit
        }
    }

    /// Folds one hook's finished attempts, oldest first, into its health: the failure run, the
    /// reason to disable it (410 Gone, or failing for ``disableAfter``), its circuit breaker, and
    /// `last_response`.
    public func update(after results: [AttemptResult], failingSince: Date?, circuit: CircuitState = CircuitState()) -> Update? {
        guard let last = results.last else { return nil }
        var failingSince = failingSince
        var disableReason: String?
        var circuit = circuit
        for result in results {
            let next = afterAttempt(succeeded: result.succeeded, failingSince: failingSince, now: result.attempt.finishedAt)
            failingSince = next.failingSince
            disableReason = result.action.disableHookReason ?? next.disableReason ?? disableReason
            circuit = breaker.after(succeeded: result.succeeded, circuit, startedAt: result.attempt.startedAt, at: result.attempt.finishedAt)
        }
        let attempt = last.attempt
        let message: String =
            if let status = attempt.responseStatus { last.succeeded ? "OK" : "HTTP \(status)" } else { attempt.errorMessage ?? "error" }
        let lastResponse = LastResponse(code: attempt.responseStatus, status: last.succeeded ? "active" : "failed", message: message)
        return Update(lastResponse: lastResponse, failingSince: failingSince, disableReason: disableReason, circuit: circuit)
    }
}

/// When a hook's deliveries pause: after ``failures`` failed attempts in a row its breaker opens for
/// ``cooldown``, during which none of its deliveries is sent (they wait; no attempt is spent on a
/// receiver that is down); then one probe attempt decides — a success closes the breaker, a failure
/// opens it again for twice as long (up to ``maxCooldown``).
public struct CircuitBreaker: Sendable, Hashable {
    /// Failed attempts in a row that open the breaker; 0 turns the breaker off.
    public var failures: Int
    public var cooldown: Duration
    public var maxCooldown: Duration

    public init(failures: Int = 10, cooldown: Duration = .seconds(30), maxCooldown: Duration = .seconds(600)) {
        self.failures = failures
        self.cooldown = cooldown
        self.maxCooldown = maxCooldown
    }

    /// The breaker after one attempt that started at `startedAt` and ended at `time`.
    public func after(succeeded: Bool, _ circuit: CircuitState, startedAt: Date? = nil, at time: Date) -> CircuitState {
        if succeeded { return CircuitState() }
        var next = circuit
        next.failures += 1
        guard failures > 0 else {
            // Off: one left open while it was on lets go at the next attempt.
            next.openUntil = nil
            return next
        }
        if let openUntil = circuit.openUntil {
            // The probe — an attempt started once it half-opened — failed: open again, for twice
            // as long. Attempts started before it opened that fail meanwhile (or later, at their
            // timeout) change nothing.
            guard (startedAt ?? time) >= openUntil else { return next }
            next.cooldownSeconds = min(circuit.cooldownSeconds * 2, maxCooldown.seconds)
            next.openUntil = time.addingTimeInterval(next.cooldownSeconds)
        } else if next.failures >= failures {
            next.cooldownSeconds = cooldown.seconds
            next.openUntil = time.addingTimeInterval(next.cooldownSeconds)
        }
        return next
    }
}

/// A hook's circuit breaker as stored: closed (``openUntil`` nil), open until a time, or — past that
/// time — letting one probe through.
public struct CircuitState: Sendable, Hashable {
    /// Failed attempts in a row.
    public var failures: Int
    public var openUntil: Date?
    /// How long it was last opened for.
    public var cooldownSeconds: Double

    public init(failures: Int = 0, openUntil: Date? = nil, cooldownSeconds: Double = 0) {
        self.failures = failures
        self.openUntil = openUntil
        self.cooldownSeconds = cooldownSeconds
    }

    /// What the hook page and the overview say of it at `now`, nil while closed.
    public func summary(at now: Date) -> String? {
        guard let openUntil else { return nil }
        return openUntil > now
            ? "open after \(failures) failed attempts in a row: deliveries wait until \(Timestamp.string(openUntil)), then one probe decides"
            : "half open: one probe attempt decides whether deliveries resume"
    }
}

extension Attempt {
    /// When the attempt ended.
    public var finishedAt: Date { startedAt.addingTimeInterval(Double(durationMs) / 1000) }
}
