import Foundation
import Synchronization

/// Attempts finished per second over the last hour, in one-second buckets: what the overview shows
/// as rates, read in constant time however many deliveries the store holds. It counts this node's
/// engine only.
public final class ThroughputWindow: Sendable {
    public struct Rates: Sendable, Hashable {
        public var attemptsPerSecond: Double
        public var failuresPerSecond: Double

        public init(attemptsPerSecond: Double, failuresPerSecond: Double) {
            self.attemptsPerSecond = attemptsPerSecond
            self.failuresPerSecond = failuresPerSecond
        }
    }

    private static let seconds = 3600
    private struct Bucket {
        var second: Int64 = -1
        var attempts = 0
        var failures = 0
    }

    private let buckets = Mutex<[Bucket]>(Array(repeating: Bucket(), count: seconds))
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = Date.init) {
        self.clock = clock
    }

    /// Counts one finished attempt.
    public func record(failed: Bool) {
        let second = Int64(clock().timeIntervalSince1970.rounded(.down))
        buckets.withLock { buckets in
            let index = Int(second % Int64(Self.seconds))
            if buckets[index].second != second { buckets[index] = Bucket(second: second) }
            buckets[index].attempts += 1
            if failed { buckets[index].failures += 1 }
        }
    }

    /// The mean rates over the last `window` seconds (at most an hour), the current second excluded
    /// so a second just begun does not read as a drop.
    public func rates(over window: Int) -> Rates {
        let window = min(max(1, window), Self.seconds - 1)
        let now = Int64(clock().timeIntervalSince1970.rounded(.down))
        let (attempts, failures) = buckets.withLock { buckets in
            var totals = (0, 0)
            for second in (now - Int64(window))..<now {
                let bucket = buckets[Int(((second % Int64(Self.seconds)) + Int64(Self.seconds)) % Int64(Self.seconds))]
                guard bucket.second == second else { continue }
                totals.0 += bucket.attempts
                totals.1 += bucket.failures
            }
            return totals
        }
        return Rates(attemptsPerSecond: Double(attempts) / Double(window), failuresPerSecond: Double(failures) / Double(window))
    }
}
