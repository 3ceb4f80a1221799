import Foundation
import Synchronization

/// Slows password guessing at the sign-in form, per account and per client address: the first
/// ``freeFailures`` failures cost nothing; after that each failure makes the key wait twice as long
/// as the one before (``firstWait``, then 2×, 4×, …) up to ``lockout``, during which even the right password is
/// not checked. A successful sign-in clears the account and the address. Kept in memory, per node;
/// the oldest keys are dropped past ``maxKeys``.
final class SignInThrottle: Sendable {
    struct Entry {
        var failures: Int
        var blockedUntil: Date
        var lastSeen: Date
    }

    let freeFailures: Int
    let firstWait: TimeInterval
    let lockout: TimeInterval
    /// The longest an *account* waits, whoever failed on it: a guesser can slow its owner's
    /// sign-in, never wall it off (addresses wait up to ``lockout``).
    let accountLockout: TimeInterval
    let maxKeys: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(freeFailures: Int = 5, firstWait: TimeInterval = 1, lockout: TimeInterval = 900, accountLockout: TimeInterval = 30, maxKeys: Int = 100_000) {
        self.freeFailures = freeFailures
        self.firstWait = firstWait
        self.lockout = lockout
        self.accountLockout = accountLockout
        self.maxKeys = maxKeys
    }

    static func accountKey(_ email: String) -> String { "account:" + email.lowercased() }
    static func addressKey(_ address: String) -> String { "address:" + address }

    /// When the keys may try again, if any of them must wait.
    func retryAfter(_ keys: [String], now: Date = Date()) -> TimeInterval? {
        let wait = entries.withLock { entries in keys.compactMap { entries[$0].map { $0.blockedUntil.timeIntervalSince(now) } }.max() }
        guard let wait, wait > 0 else { return nil }
        return wait
    }

    func failed(_ keys: [String], now: Date = Date()) {
        entries.withLock { entries in
            for key in keys {
                var entry = entries[key] ?? Entry(failures: 0, blockedUntil: .distantPast, lastSeen: now)
                entry.failures += 1
                entry.lastSeen = now
                let over = entry.failures - freeFailures
                let longest = key.hasPrefix("account:") ? min(lockout, accountLockout) : lockout
                if over > 0 { entry.blockedUntil = now.addingTimeInterval(min(longest, firstWait * pow(2, Double(min(over - 1, 30))))) }
                entries[key] = entry
            }
            if entries.count > maxKeys {
                for (key, _) in entries.sorted(by: { $0.value.lastSeen < $1.value.lastSeen }).prefix(entries.count - maxKeys) { entries[key] = nil }
            }
        }
    }

    func succeeded(_ keys: [String]) {
        entries.withLock { entries in for key in keys { entries[key] = nil } }
    }
}
