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

    /// The process's peak resident set size, from /proc/self/status (VmHWM).
    static func peakRSS() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return "unknown" }
        return String(format: "%.1f MiB", kib / 1024)
    }
}
