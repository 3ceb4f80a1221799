#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A `Retry-After` header (RFC 9110 §10.2.3): delay-seconds, or an HTTP date in any of the three
/// forms a recipient must accept (IMF-fixdate, RFC 850, asctime).
enum RetryAfter {
    /// The delay the header asks for, counted from `now`; a date in the past is no delay.
    static func parse(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return .seconds(Int64(trimmed) ?? Int64.max / 1_000_000_000_000)
        }
        guard let date = httpDate(trimmed) else { return nil }
        return .seconds(max(0, Int64(date.timeIntervalSince(now).rounded(.up))))
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` or `Sun Nov  6 08:49:37 1994`.
    static func httpDate(_ text: String) -> Date? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let day: Int?, month: Int?, year: Int?, time: String
        switch words.count {
        case 6 where words[0].hasSuffix(",") && words[5] == "GMT":  // IMF-fixdate
            (day, month, year, time) = (Int(words[1]), months.firstIndex(of: words[2].lowercased()), Int(words[3]), words[4])
        case 4 where words[0].hasSuffix(",") && words[3] == "GMT":  // RFC 850: two-digit year
            let parts = words[1].split(separator: "-").map(String.init)
            guard parts.count == 3, let short = Int(parts[2]) else { return nil }
            (day, month, year, time) = (Int(parts[0]), months.firstIndex(of: parts[1].lowercased()), short < 70 ? 2000 + short : 1900 + short, words[2])
        case 5:  // asctime
            (day, month, year, time) = (Int(words[2]), months.firstIndex(of: words[1].lowercased()), Int(words[4]), words[3])
        default:
            return nil
        }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard let day, let month, let year, clock.count == 3, (1...31).contains(day), (0...23).contains(clock[0]), (0...59).contains(clock[1]),
            (0...60).contains(clock[2])
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(clock[0])
        parts.tm_min = Int32(clock[1])
        parts.tm_sec = Int32(clock[2])
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
