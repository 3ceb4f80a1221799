import Foundation

/// The delivery lifecycle as a pure state machine: events in, decisions out, no I/O, no clock.
///
/// ```
/// pending ──claim──▶ in_flight ──2xx──────────────▶ succeeded
///    ▲                   │ ├──failure, retries left──▶ pending (next_attempt_at = now + delay)
///    │                   │ ├──failure, none left─────▶ failed
///    │                   │ └──410 Gone───────────────▶ failed, hook disabled
///    └──recover (crash)──┘
/// succeeded / failed ──redeliver──▶ pending (one attempt, no automatic retries)
/// ```
public struct DeliveryLifecycle: Sendable, Hashable {
    public private(set) var status: DeliveryStatus
    /// Attempts made in the current run (reset by a redelivery).
    public private(set) var attemptsInRun: Int
    /// Whether the current run was started by hand (redelivery): one attempt, no automatic retries.
    public private(set) var redelivery: Bool
    /// Whether failed attempts are retried on the schedule (false for pings).
    public private(set) var retries: Bool
    public private(set) var nextAttemptAt: Date?

    public init(status: DeliveryStatus, attemptsInRun: Int, redelivery: Bool, retries: Bool, nextAttemptAt: Date?) {
        self.status = status
        self.attemptsInRun = attemptsInRun
        self.redelivery = redelivery
        self.retries = retries
        self.nextAttemptAt = nextAttemptAt
    }

    /// A new delivery, due now.
    public static func new(now: Date, retries: Bool = true) -> DeliveryLifecycle {
        DeliveryLifecycle(status: .pending, attemptsInRun: 0, redelivery: false, retries: retries, nextAttemptAt: now)
    }

    /// Whether the delivery may be claimed at `now`.
    public func isDue(at now: Date) -> Bool {
        status == .pending && (nextAttemptAt ?? now) <= now
    }

    /// Takes the delivery for an attempt; returns why the attempt is made.
    public mutating func claim(now: Date) throws(DeliveryTransitionError) -> AttemptTrigger {
        guard isDue(at: now) else { throw DeliveryTransitionError(from: status, event: "claim") }
        status = .inFlight
        nextAttemptAt = nil
        if redelivery { return .redelivery }
        if !retries { return .ping }
        return attemptsInRun == 0 ? .first : .retry
    }

    /// Applies the outcome of the attempt in flight.
    public mutating func finish(
        _ outcome: AttemptOutcome, now: Date, schedule: RetrySchedule, jitterUnit: Double
    ) throws(DeliveryTransitionError) -> DeliveryDecision {
        guard status == .inFlight else { throw DeliveryTransitionError(from: status, event: "finish") }
        attemptsInRun += 1
        switch outcome.classification {
        case .success:
            status = .succeeded
            return DeliveryDecision(status: .succeeded, nextAttemptAt: nil, disableHookReason: nil)
        case .gone:
            status = .failed
            return DeliveryDecision(status: .failed, nextAttemptAt: nil, disableHookReason: "The receiver answered 410 Gone.")
        case .failure(let retryAfter):
            guard retries, !redelivery, var delay = schedule.delay(afterAttempts: attemptsInRun, unit: jitterUnit) else {
                status = .failed
                return DeliveryDecision(status: .failed, nextAttemptAt: nil, disableHookReason: nil)
            }
            if let retryAfter { delay = min(max(delay, retryAfter), Self.maxRetryAfter) }
            status = .pending
            let next = now.addingTimeInterval(delay.seconds)
            nextAttemptAt = next
            return DeliveryDecision(status: .pending, nextAttemptAt: next, disableHookReason: nil)
        }
    }

    /// Puts an interrupted attempt (crash, expired lease) back in the queue, due now. The attempt
    /// was never recorded, so it does not count.
    public mutating func recover(now: Date) throws(DeliveryTransitionError) {
        guard status == .inFlight else { throw DeliveryTransitionError(from: status, event: "recover") }
        status = .pending
        nextAttemptAt = now
    }

    /// Sends the same delivery again, by hand: one attempt, marked as a redelivery.
    public mutating func redeliver(now: Date) throws(DeliveryTransitionError) {
        guard status != .inFlight else { throw DeliveryTransitionError(from: status, event: "redeliver") }
        status = .pending
        redelivery = true
        attemptsInRun = 0
        nextAttemptAt = now
    }

    /// A `Retry-After` longer than this is capped.
    public static let maxRetryAfter: Duration = .seconds(86_400)
}

/// What the outcome of an attempt means for the delivery and its hook.
public struct DeliveryDecision: Sendable, Hashable {
    public var status: DeliveryStatus
    public var nextAttemptAt: Date?
    /// When set, the hook is disabled with this reason.
    public var disableHookReason: String?

    public init(status: DeliveryStatus, nextAttemptAt: Date?, disableHookReason: String?) {
        self.status = status
        self.nextAttemptAt = nextAttemptAt
        self.disableHookReason = disableHookReason
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
public struct DeliveryTransitionError: Error, Sendable, Equatable, CustomStringConvertible {
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
