import Foundation
import HeraldCore

/// Figures printed by `herald bench`.
struct BenchReport {
    var rows: [(String, String)] = []

    mutating func add(_ name: String, _ value: String) { rows.append((name, value)) }

    func print() {
        let width = rows.map(\.0.count).max() ?? 0
        Swift.print(String(repeating: "─", count: width + 24))
        for (name, value) in rows {
            Swift.print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        Swift.print(String(repeating: "─", count: width + 24))
    }

    static func rate(_ count: Int, _ duration: Duration) -> String {
        String(format: "%.0f/s", Double(count) / max(duration.seconds, 1e-9))
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.2f ms", duration.seconds * 1000)
    }

    /// p50/p90/p99/max of a sample of durations.
    static func percentiles(_ samples: [Duration]) -> String {
        guard !samples.isEmpty else { return "no samples" }
        let sorted = samples.sorted()
        func at(_ q: Double) -> Duration { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return "p50 \(milliseconds(at(0.5)))  p90 \(milliseconds(at(0.9)))  p99 \(milliseconds(at(0.99)))  max \(milliseconds(sorted.last!))  (n=\(sorted.count))"
    }

    /// CPU time (user and system) the whole process has used so far.
    static func processCPU() -> Duration {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func duration(_ time: timeval) -> Duration { .seconds(Int64(time.tv_sec)) + .microseconds(Int64(time.tv_usec)) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }

    /// The CPU a phase used per unit of work, and how many cores it kept busy: what bounds a rate
    /// on a machine whose cores are all busy is this, not the wall-clock rate alone.
    static func cpu(_ used: Duration, per count: Int, _ unit: String, over wall: Duration) -> String {
        String(format: "%.0f µs per %@, %.2f cores busy", used.seconds * 1e6 / Double(max(count, 1)), unit, used.seconds / max(wall.seconds, 1e-9))
    }

    /// The process's peak resident set size, from /proc/self/status (VmHWM).
    static func peakRSS() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return "unknown" }
        return String(format: "%.1f MiB", kib / 1024)
    }
}
