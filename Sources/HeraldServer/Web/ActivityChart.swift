import Foundation
import HeraldCore

/// Successes and failures per hour over the last 24 hours, as an inline SVG bar chart.
enum ActivityChart {
    static func svg(deliveries: [Delivery], now: Date) -> String {
        var succeeded = [Int](repeating: 0, count: 24)
        var failed = [Int](repeating: 0, count: 24)
        for delivery in deliveries {
            let age = now.timeIntervalSince(delivery.deliveredAt ?? delivery.createdAt)
            guard age >= 0, age < 86_400 else { continue }
            let bucket = 23 - Int(age / 3600)
            switch delivery.lifecycle.status {
            case .succeeded: succeeded[bucket] += 1
            case .failed: failed[bucket] += 1
            case .pending, .inFlight, .skipped: break
            }
        }
        let peak = max(1, zip(succeeded, failed).map { $0 + $1 }.max() ?? 1)
        let width = 480.0, height = 96.0, barWidth = width / 24
        var svg = #"<svg class="chart" viewBox="0 0 480 116" role="img" aria-label="Deliveries per hour, last 24 hours: \#(succeeded.reduce(0, +)) succeeded, \#(failed.reduce(0, +)) failed" xmlns="http://www.w3.org/2000/svg">"#
        svg += #"<line x1="0" y1="96.5" x2="480" y2="96.5" class="axis"/>"#
        for hour in 0..<24 {
            let x = Double(hour) * barWidth + 2
            let okHeight = height * Double(succeeded[hour]) / Double(peak)
            let badHeight = height * Double(failed[hour]) / Double(peak)
            if okHeight > 0 {
                svg += #"<rect class="ok" x="\#(x)" y="\#(height - okHeight)" width="\#(barWidth - 4)" height="\#(okHeight)"><title>\#(succeeded[hour]) succeeded</title></rect>"#
            }
            if badHeight > 0 {
                svg += #"<rect class="bad" x="\#(x)" y="\#(height - okHeight - badHeight)" width="\#(barWidth - 4)" height="\#(badHeight)"><title>\#(failed[hour]) failed</title></rect>"#
            }
        }
        svg += #"<text x="0" y="112">24 h ago</text><text x="480" y="112" text-anchor="end">now</text></svg>"#
        return svg
    }
}
