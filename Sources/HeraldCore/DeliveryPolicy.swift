import Foundation

/// How one hook's deliveries are retried and paced, where it differs from the server's settings:
/// a receiver that can take only so many requests a second, or a team that wants fewer (or more
/// patient) retries than everyone else. Empty — every field nil — means "the server's settings".
///
/// Kept as one JSON text column in every store, in the same shape the API reads and answers
/// (``json`` and ``init(json:)``), so a new field costs no migration.
public struct DeliveryPolicy: Sendable, Hashable {
    /// When failed attempts are retried; nil: the server's schedule (`--retry-schedule`).
    public var retry: RetryPolicy?
    /// How long the hook may fail without a single success before it is disabled; nil: the server's
    /// (`--disable-after`).
    public var disableAfterSeconds: Int?
    /// The most attempts started per second, across every node; nil: no limit. Attempts are spaced
    /// evenly (one every 1/N s), so no one-second window ever sees more than N.
    public var rateLimitPerSecond: Int?

    public init(retry: RetryPolicy? = nil, disableAfterSeconds: Int? = nil, rateLimitPerSecond: Int? = nil) {
        self.retry = retry
        self.disableAfterSeconds = disableAfterSeconds
        self.rateLimitPerSecond = rateLimitPerSecond
    }

    public var isEmpty: Bool { self == DeliveryPolicy() }

    /// One hour to 30 days.
    public static let disableAfterRange = 3600...(30 * 86_400)
    public static let rateLimitRange = 1...10_000

    /// The hook's retry schedule, with the server's jitter, or the server's schedule.
    public func retrySchedule(default schedule: RetrySchedule) -> RetrySchedule {
        retry.map { RetrySchedule(delays: $0.delays, jitter: schedule.jitter) } ?? schedule
    }

    /// The hook's health rule, or the server's.
    public func health(default health: HookHealth) -> HookHealth {
        var own = health
        if let disableAfterSeconds { own.disableAfter = .seconds(disableAfterSeconds) }
        return own
    }
}

/// A hook's own retry schedule: a list of delays, or delays that double from `initial` up to `max`.
public enum RetryPolicy: Sendable, Hashable {
    /// The delay before retry 1, 2, …, in seconds.
    case delays([Double])
    /// `initial`, twice that, four times… capped at `max`, for `attempts` attempts in all (the first included).
    case exponential(initialSeconds: Double, maxSeconds: Double, attempts: Int)

    /// At most 25 retries; each delay at most 7 days.
    public static let maxRetries = 25
    public static let maxDelaySeconds = 7.0 * 86_400

    /// The delays before retry 1, 2, …
    public var delays: [Duration] {
        switch self {
        case .delays(let seconds):
            return seconds.map { .milliseconds(Int64(($0 * 1000).rounded())) }
        case .exponential(let initial, let max, let attempts):
            var delay = initial
            var out: [Duration] = []
            for _ in 0..<Swift.max(0, attempts - 1) {
                out.append(.milliseconds(Int64((Swift.min(delay, max) * 1000).rounded())))
                delay *= 2
            }
            return out
        }
    }

    /// Why the policy cannot be used, or nil.
    public var problem: String? {
        switch self {
        case .delays(let seconds):
            if seconds.count > Self.maxRetries { return "at most \(Self.maxRetries) delays" }
            if let bad = seconds.first(where: { !$0.isFinite || $0 <= 0 || $0 > Self.maxDelaySeconds }) {
                return "\(bad) is not a delay in seconds above 0 and at most 7 days (604800)"
            }
        case .exponential(let initial, let max, let attempts):
            if !(1...(Self.maxRetries + 1)).contains(attempts) { return "attempts must be from 1 to \(Self.maxRetries + 1)" }
            if !initial.isFinite || initial <= 0 || initial > Self.maxDelaySeconds { return "initial_seconds must be above 0 and at most 604800" }
            if !max.isFinite || max < initial || max > Self.maxDelaySeconds { return "max_seconds must be at least initial_seconds and at most 604800" }
        }
        return nil
    }

    /// How the hook page says it: `5 s, 5 min, 30 min` or `exponential from 10 s to 1 h, 8 attempts`.
    public var summary: String {
        switch self {
        case .delays(let seconds):
            seconds.isEmpty ? "no retries" : seconds.map(Self.say).joined(separator: ", ")
        case .exponential(let initial, let max, let attempts):
            "doubling from \(Self.say(initial)) up to \(Self.say(max)), \(attempts) attempt\(attempts == 1 ? "" : "s") in all"
        }
    }

    /// Seconds said in the largest unit that divides them: `250 ms`, `90 s`, `5 min`, `2 h`, `1 d`.
    public static func say(_ seconds: Double) -> String {
        for (unit, size) in [("d", 86_400.0), ("h", 3600.0), ("min", 60.0)] where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            return "\(Int(seconds / size)) \(unit)"
        }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}

// MARK: - JSON

extension RetryPolicy {
    /// `{"type":"delays","delays_seconds":[5,300]}` or
    /// `{"type":"exponential","initial_seconds":10,"max_seconds":3600,"attempts":8}`.
    public var json: JSONValue {
        switch self {
        case .delays(let seconds):
            .object([("type", .string("delays")), ("delays_seconds", .array(seconds.map(Self.number)))])
        case .exponential(let initial, let max, let attempts):
            .object([
                ("type", .string("exponential")), ("initial_seconds", Self.number(initial)), ("max_seconds", Self.number(max)),
                ("attempts", .int(Int64(attempts))),
            ])
        }
    }

    private static func number(_ value: Double) -> JSONValue {
        value == value.rounded() && abs(value) < 1e15 ? .int(Int64(value)) : .double(value)
    }

    /// Reads ``json``; throws a message naming what is wrong.
    public init(json: JSONValue) throws(PolicyError) {
        guard case .object(let members) = json else { throw PolicyError("must be an object with a type (delays or exponential)") }
        let fields = Dictionary(members, uniquingKeysWith: { _, last in last })
        switch fields["type"]?.stringValue {
        case "delays":
            for key in fields.keys where !["type", "delays_seconds"].contains(key) { throw PolicyError("\(key) is not a setting of a delays policy (delays_seconds)") }
            guard let items = fields["delays_seconds"]?.arrayValue else { throw PolicyError("delays_seconds must be an array of seconds") }
            let seconds = items.compactMap(\.numberValue)
            guard seconds.count == items.count else { throw PolicyError("delays_seconds must be an array of seconds") }
            self = .delays(seconds)
        case "exponential":
            for key in fields.keys where !["type", "initial_seconds", "max_seconds", "attempts"].contains(key) {
                throw PolicyError("\(key) is not a setting of an exponential policy (initial_seconds, max_seconds, attempts)")
            }
            guard let initial = fields["initial_seconds"]?.numberValue, let max = fields["max_seconds"]?.numberValue,
                let attempts = fields["attempts"]?.intValue, let count = Int(exactly: attempts)
            else { throw PolicyError("an exponential policy needs initial_seconds, max_seconds and attempts (numbers)") }
            self = .exponential(initialSeconds: initial, maxSeconds: max, attempts: count)
        default:
            throw PolicyError("type must be delays or exponential")
        }
        if let problem { throw PolicyError(problem) }
    }
}

/// Why a delivery policy was refused.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension DeliveryPolicy {
    /// The stored form: the fields set, as the API names them (`retry_policy`, `disable_after_seconds`,
    /// `rate_limit_per_second`).
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let retry { members.append(("retry_policy", retry.json)) }
        if let disableAfterSeconds { members.append(("disable_after_seconds", .int(Int64(disableAfterSeconds)))) }
        if let rateLimitPerSecond { members.append(("rate_limit_per_second", .int(Int64(rateLimitPerSecond)))) }
        return .object(members)
    }

    /// The column's text, nil for an empty policy.
    public var stored: String? { isEmpty ? nil : json.jsonString }

    /// Reads the column's text (nil or unreadable: the server's settings).
    public init(stored: String?) {
        self.init()
        guard let stored, case .object(let members)? = try? JSONValue(parsing: stored) else { return }
        let fields = Dictionary(members, uniquingKeysWith: { _, last in last })
        retry = fields["retry_policy"].flatMap { try? RetryPolicy(json: $0) }
        disableAfterSeconds = fields["disable_after_seconds"]?.intValue.flatMap { Int(exactly: $0) }
        rateLimitPerSecond = fields["rate_limit_per_second"]?.intValue.flatMap { Int(exactly: $0) }
    }
}
