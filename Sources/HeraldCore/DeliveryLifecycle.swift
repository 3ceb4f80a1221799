import Foundation

/// The delivery lifecycle as a pure state machine, in the shape of async-http-client's connection
/// state machines: a private state, one method per input, each with an exhaustive `switch` that
/// returns the ``Action`` the engine (or a store) carries out. No I/O, no clock: `now` comes in.
///
/// ```
/// pending ──claim──▶ in_flight ──2xx──────────────▶ succeeded
///    ▲                   │ ├──failure, retries left──▶ pending (due at now + delay)   .retry(at:)
///    │                   │ ├──failure, none left─────▶ failed                          .failed
///    │                   │ └──410 Gone───────────────▶ failed, hook disabled           .failAndDisableHook
///    └──recover (crash)──┘                                                              .requeue(at:)
/// succeeded / failed / skipped / pending ──redeliver──▶ pending (one attempt, no automatic retries)
/// succeeded / failed / skipped / pending ──replay─────▶ pending (a fresh run, retried on the schedule)
/// skipped: made so by fan-out when the hook's filter declines the event; never claimed
/// ```
///
/// The stored form (``status``, ``attemptsInRun``, ``redelivery``, ``retries``, ``nextAttemptAt``)
/// is read from and written to rows as is; every change goes through the inputs.
public struct DeliveryLifecycle: Sendable, Hashable {
    private enum State: Hashable {
        case pending(dueAt: Date)
        case inFlight
        case succeeded
        case failed
        case skipped
    }

    private var state: State
    /// Attempts made in the current run (reset by a redelivery).
    public private(set) var attemptsInRun: Int
    /// Whether the current run was started by hand (redelivery): one attempt, no automatic retries.
    public private(set) var redelivery: Bool
    /// Whether failed attempts are retried on the schedule (false for pings).
    public private(set) var retries: Bool

    /// What the engine does after an input.
    public enum Action: Sendable, Hashable {
        /// Make an attempt, for this reason.
        case send(AttemptTrigger)
        /// Record the attempt; the delivery succeeded.
        case succeeded
        /// Record the attempt; try again at this time.
        case retry(at: Date)
        /// Record the attempt; no attempt follows (the schedule is used up, or it was a one-shot attempt).
        case failed
        /// Record the attempt and disable the hook, for this reason.
        case failAndDisableHook(reason: String)
        /// Put the delivery back in the queue, due at this time.
        case requeue(at: Date)
        /// The input is not allowed in this state; nothing changed.
        case refuse(DeliveryTransitionError)
    }

    /// The lifecycle as stored. A pending delivery without a due time is due at once.
    public init(status: DeliveryStatus, attemptsInRun: Int, redelivery: Bool, retries: Bool, nextAttemptAt: Date?) {
        switch status {
        case .pending: state = .pending(dueAt: nextAttemptAt ?? .distantPast)
        case .inFlight: state = .inFlight
        case .succeeded: state = .succeeded
        case .failed: state = .failed
        case .skipped: state = .skipped
        }
        self.attemptsInRun = attemptsInRun
        self.redelivery = redelivery
        self.retries = retries
    }

    /// A new delivery, due now.
    public static func new(now: Date, retries: Bool = true) -> DeliveryLifecycle {
        DeliveryLifecycle(status: .pending, attemptsInRun: 0, redelivery: false, retries: retries, nextAttemptAt: now)
    }

    /// A delivery the hook's filter declined: recorded, never attempted unless redelivered.
    public static func skipped() -> DeliveryLifecycle {
        DeliveryLifecycle(status: .skipped, attemptsInRun: 0, redelivery: false, retries: true, nextAttemptAt: nil)
    }

    public var status: DeliveryStatus {
        switch state {
        case .pending: .pending
        case .inFlight: .inFlight
        case .succeeded: .succeeded
        case .failed: .failed
        case .skipped: .skipped
        }
    }

    /// When a pending delivery is due; nil in every other state.
    public var nextAttemptAt: Date? {
        if case .pending(let dueAt) = state { dueAt } else { nil }
    }

    /// Whether the delivery may be claimed at `now`.
    public func isDue(at now: Date) -> Bool {
        if case .pending(let dueAt) = state { dueAt <= now } else { false }
    }

    /// Input: the engine takes the delivery for an attempt.
    public mutating func claim(now: Date) -> Action {
        switch state {
        case .pending(let dueAt) where dueAt <= now:
            state = .inFlight
            if redelivery { return .send(.redelivery) }
            if !retries { return .send(.ping) }
            return .send(attemptsInRun == 0 ? .first : .retry)
        case .pending, .inFlight, .succeeded, .failed, .skipped:
            return .refuse(DeliveryTransitionError(from: status, event: "claim"))
        }
    }

    /// Input: the attempt in flight ended with `outcome`.
    public mutating func finish(_ outcome: AttemptOutcome, now: Date, schedule: RetrySchedule, jitterUnit: Double) -> Action {
        switch state {
        case .inFlight:
            attemptsInRun += 1
            switch outcome.classification {
            case .success:
                state = .succeeded
                return .succeeded
            case .gone:
                state = .failed
                return .failAndDisableHook(reason: "The receiver answered 410 Gone.")
            case .failure(let retryAfter):
                guard retries, !redelivery, var delay = schedule.delay(afterAttempts: attemptsInRun, unit: jitterUnit) else {
                    state = .failed
                    return .failed
                }
                if let retryAfter { delay = min(max(delay, retryAfter), Self.maxRetryAfter) }
                let next = now.addingTimeInterval(delay.seconds)
                state = .pending(dueAt: next)
                return .retry(at: next)
            }
        case .pending, .succeeded, .failed, .skipped:
            return .refuse(DeliveryTransitionError(from: status, event: "finish"))
        }
    }

    /// Input: an attempt was interrupted (crash, expired lease). The delivery is due again at
    /// once; the attempt was never recorded, so it does not count.
    public mutating func recover(now: Date) -> Action {
        switch state {
        case .inFlight:
            state = .pending(dueAt: now)
            return .requeue(at: now)
        case .pending, .succeeded, .failed, .skipped:
            return .refuse(DeliveryTransitionError(from: status, event: "recover"))
        }
    }

    /// Input: someone asks to send the delivery again, by hand: one attempt, marked as a redelivery.
    public mutating func redeliver(now: Date) -> Action {
        switch state {
        case .pending, .succeeded, .failed, .skipped:
            state = .pending(dueAt: now)
            redelivery = true
            attemptsInRun = 0
            return .requeue(at: now)
        case .inFlight:
            return .refuse(DeliveryTransitionError(from: status, event: "redeliver"))
        }
    }

    /// Input: a replay queues the delivery again as a fresh run: due now, retried on the schedule.
    public mutating func replay(now: Date) -> Action {
        switch state {
        case .pending, .succeeded, .failed, .skipped:
            state = .pending(dueAt: now)
            redelivery = false
            attemptsInRun = 0
            return .requeue(at: now)
        case .inFlight:
            return .refuse(DeliveryTransitionError(from: status, event: "replay"))
        }
    }

    /// A `Retry-After` longer than this is capped.
    public static let maxRetryAfter: Duration = .seconds(86_400)
}

extension DeliveryLifecycle.Action {
    /// The reason to disable the hook, when the action carries one.
    public var disableHookReason: String? {
        if case .failAndDisableHook(let reason) = self { reason } else { nil }
    }
}

/// The result of one HTTP try, as the engine saw it.
public enum AttemptOutcome: Sendable, Hashable {
    /// A response arrived. `retryAfter` is the parsed `Retry-After` header, if any.
    case response(status: Int, retryAfter: Duration?)
    /// No response: DNS, connect, TLS, timeout or a refused target.
    case error(ErrorClass, message: String)

    enum Classification: Equatable {
        case success
        case gone
        case failure(retryAfter: Duration?)
    }

    var classification: Classification {
        switch self {
        case .response(let status, _) where (200..<300).contains(status): .success
        case .response(410, _): .gone
        case .response(let status, let retryAfter) where [429, 502, 503, 504].contains(status): .failure(retryAfter: retryAfter)
        case .response, .error: .failure(retryAfter: nil)
        }
    }

    /// Whether the attempt counts as a success.
    public var isSuccess: Bool { classification == .success }
}

/// An event that is not allowed in the delivery's current state.
public struct DeliveryTransitionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let from: DeliveryStatus
    public let event: String

    public init(from: DeliveryStatus, event: String) {
        self.from = from
        self.event = event
    }
    public var description: String { "cannot \(event) a delivery that is \(from.rawValue)" }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
