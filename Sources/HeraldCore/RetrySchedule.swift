import Foundation

/// When failed attempts are retried: the delay before each retry, with jitter.
public struct RetrySchedule: Sendable, Hashable {
    /// Delay before retry 1, 2, …; the first attempt is immediate. Its count is the number of retries.
    public var delays: [Duration]
    /// Each delay is scaled by a random factor in `1 - jitter ... 1 + jitter`.
    public var jitter: Double

    public init(delays: [Duration], jitter: Double = 0.1) {
        self.delays = delays
        self.jitter = jitter
    }

    /// Immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours.
    public static let `default` = RetrySchedule(delays: [
        .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18000), .seconds(36000), .seconds(36000),
    ])

    /// The total number of attempts, the first one included.
    public var maxAttempts: Int { delays.count + 1 }

    /// The delay before the next attempt after `attemptsMade` attempts, or nil when they are used up.
    /// - Parameter unit: a number in `0..<1` (a random draw; tests pass a fixed one).
    public func delay(afterAttempts attemptsMade: Int, unit: Double) -> Duration? {
        guard attemptsMade >= 1, attemptsMade <= delays.count else { return nil }
        let base = delays[attemptsMade - 1]
        let factor = 1 - jitter + 2 * jitter * unit
        return base * factor
    }

    /// One duration written as the schedule writes each delay (`250ms`, `30s`, `5m`, `2h`), or nil.
    public static func duration(parsing text: String) -> Duration? {
        guard let schedule = RetrySchedule(parsing: text), schedule.delays.count == 1 else { return nil }
        return schedule.delays[0]
    }

    /// Parses `5s,5m,30m,2h` (units ms, s, m, h).
    public init?(parsing text: String, jitter: Double = 0.1) {
        var delays: [Duration] = []
        for part in text.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces)
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
            guard let (suffix, scale) = units.first(where: { item.hasSuffix($0.0) && Double(item.dropLast($0.0.count)) != nil }),
                let value = Double(item.dropLast(suffix.count)), value >= 0
            else { return nil }
            delays.append(.milliseconds(Int64(value * scale * 1000)))
        }
        self.init(delays: delays, jitter: jitter)
    }
}
