import Foundation
import HeraldCore
import Testing

/// `/metrics` of a real `herald serve` process: a fresh process, so nothing bootstrapped the
/// metrics system before the server made its delivery engine.
@Suite struct MetricsTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theEnginesCountersAreExportedAfterAFailedAttempt() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-metrics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory)
        try await TestReceiver.run { receiver in
            receiver.respond { _, _ in .init(status: 500, body: "boom") }
            let herald = try ChildProcess(
                binary: binary, arguments: ["serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--retry-schedule", "1h"]
            )
            defer { herald.stop() }
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await herald.waitForPort())")
            let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
            #expect(hook.status == 201)
            #expect(try await api.call(.POST, "/api/events", token: providerToken, body: #"{"type":"lead.created","data":{"lead_id":"l1"}}"#).status == 202)
            // The ping and the lead both fail: the engine counts them, and /metrics must show it.
            try await eventually("the failed attempts counted on /metrics", timeout: .seconds(30)) {
                Self.value(of: "herald_delivery_attempts_failed_total", in: try await api.call(.GET, "/metrics", token: nil).text) >= 2
            }
            let text = try await api.call(.GET, "/metrics", token: nil).text
            #expect(Self.value(of: "herald_delivery_attempts_total", in: text) >= 2)
            #expect(text.contains("herald_delivery_attempt_duration_seconds"))
            // Latencies of the ingest commit and of the engine's store turns.
            #expect(text.contains("herald_ingest_commit_duration_seconds"))
            #expect(text.contains("herald_record_and_claim_duration_seconds"))
            // The lead waits an hour for its retry: pending, its wait the oldest, but scheduled work,
            // not the backlog that bounds ingest.
            #expect(Self.value(of: "herald_backlog", in: text) == 0)
            #expect(text.contains("herald_deliveries{status=\"pending\"} 1"))
            #expect(Self.value(of: "herald_oldest_pending_age_seconds", in: text) > 0)
            #expect(text.contains("herald_hooks{state=\"active\"} 1"))
            // Hummingbird's request metrics, by route template, with Prometheus names.
            let accepted = text.split(separator: "\n").first { $0.hasPrefix("hb_requests{") && $0.contains(#"http_route="/api/events""#) && $0.contains(#""202""#) }
            #expect(accepted.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } == 1)
            #expect(!text.contains("hb.requests"))
            // Every family says what it measures, right before its type.
            let lines = text.split(separator: "\n")
            for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
                let name = line.split(separator: " ")[2]
                #expect(index > 0 && lines[index - 1].hasPrefix("# HELP \(name) ") && lines[index - 1].count > "# HELP \(name) ".count + 10, "\(name) has no help")
            }
        }
    }

    /// The value of an unlabelled sample, or 0 when the metric is missing.
    static func value(of metric: String, in exposition: String) -> Double {
        let line = exposition.split(separator: "\n").first { $0.hasPrefix(metric + " ") }
        return line?.split(separator: " ").last.flatMap { Double($0) } ?? 0
    }
}
