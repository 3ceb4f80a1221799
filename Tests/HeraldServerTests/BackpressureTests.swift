import Foundation
import HeraldCore
import Testing

/// A bounded backlog refuses loudly (503, Retry-After, /healthz degraded, a metric) and loses nothing.
@Suite struct BackpressureTests {
    @Test(.timeLimit(.minutes(2)))
    func pastTheBoundIngestIsRefusedAndEverythingAcceptedIsDeliveredOnceTheReceiverReturns() async throws {
        try await TestReceiver.run { receiver in
            // Down, and slow to say so: the attempts in flight hold the backlog at its bound while the
            // test reads /healthz (an instant 503 would let retries wait off the due count meanwhile).
            receiver.respond { _, request in request.header("X-Herald-Event") == "lead.created" ? .init(status: 503, delay: .seconds(5)) : .init() }
            try await HeraldHarness.run { configuration in
                configuration.maxBacklog = 1000
                configuration.maxBacklogPerTeam = 1000  // one team's deliveries may take the whole bound
                // Retried every 300 ms while the receiver is down, so nothing fails for good during the test.
                configuration.engine.retrySchedule = RetrySchedule(delays: Array(repeating: .milliseconds(300), count: 1000), jitter: 0)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                let provider = try await herald.providerToken()
                var accepted = Set<String>()
                var refusal: HeraldHarness.APIResponse?
                for batch in 0..<30 where refusal == nil {
                    let items = (0..<100).map { #"{"type":"lead.created","data":{"lead_id":"b\#(batch)-\#($0)"}}"# }.joined(separator: ",")
                    let response = try await herald.emit(provider, "[\(items)]")
                    if response.status == 202 {
                        for n in 0..<100 { accepted.insert("b\(batch)-\(n)") }
                    } else {
                        refusal = response
                    }
                }
                let refused = try #require(refusal, "ingest past the bound is refused")
                #expect(refused.status == 503)
                #expect(refused.header("Retry-After") == "1")
                #expect(refused.json["type"]?.stringValue == "/problems/backlog")
                #expect(accepted.count >= 1000)
                // Degraded while the backlog is at its bound. On a loaded machine the first attempts may
                // have failed already and wait a moment for their retry, dipping the backlog under the
                // bound for that moment: the answer is read until it says so.
                try await eventually("/healthz says degraded", timeout: .seconds(20)) {
                    try await herald.call(.GET, "/healthz", token: nil).json["status"]?.stringValue == "degraded"
                }
                #expect(try await herald.call(.GET, "/healthz", token: nil).json["max_backlog"] == .int(1000))
                let metrics = try await herald.call(.GET, "/metrics", token: nil)
                #expect(metrics.text.contains(#"herald_writes_refused_total{kind="events"}"#), "\(metrics.text.prefix(2000))")
                // The receiver comes back: every accepted event is delivered, and ingest is open again.
                receiver.respond { _, _ in .init() }
                let expected = accepted
                try await eventually("every accepted event arrives", timeout: .seconds(90)) {
                    let delivered = Set(receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.compactMap {
                        try? JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue
                    })
                    return delivered.isSuperset(of: expected)
                }
                try await eventually("ingest is accepted again") {
                    try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"after"}}"#).status == 202
                }
                #expect(try await herald.call(.GET, "/healthz", token: nil).json["status"]?.stringValue == "ok")
            }
        }
    }
}

extension BackpressureTests {
    @Test func aNearlyFullDiskRefusesWritesWith507() async throws {
        try await HeraldHarness.run { configuration in
            // More free space than any disk has: this disk counts as nearly full.
            configuration.minimumFreeDiskBytes = .max
        } _: { herald in
            let provider = try await herald.providerToken()
            let refused = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"x"}}"#)
            #expect(refused.status == 507)
            #expect(refused.json["type"]?.stringValue == "/problems/storage-full")
            #expect(refused.json["detail"]?.stringValue?.contains("bytes free") == true, "\(refused.text)")
            #expect(refused.header("Retry-After") == "30")
            #expect(try await herald.store.lastSeq() == 0, "nothing stored")
            let health = try await herald.call(.GET, "/healthz", token: nil)
            #expect(health.json["status"]?.stringValue == "degraded")
            #expect((health.json["disk_free_bytes"]?.intValue ?? 0) > 0)
            // Alive, but not ready: readiness says why.
            let ready = try await herald.call(.GET, "/readyz", token: nil)
            #expect(ready.status == 503)
            #expect(ready.json["reasons"]?.arrayValue?.first?.stringValue?.contains("bytes free") == true, "\(ready.text)")
        }
    }

    /// The bound is a bound: writes let through between two counts of the backlog count too, so a
    /// quick burst cannot slip past it.
    @Test func aBurstOfWritesDoesNotSlipPastTheBound() async throws {
        try await HeraldHarness.run { configuration in
            configuration.role = .api  // nothing fans out: every accepted event stays in the backlog
            configuration.maxBacklog = 3
        } _: { herald in
            let provider = try await herald.providerToken()
            var statuses: [Int] = []
            for n in 0..<10 { statuses.append(try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"burst-\#(n)"}}"#).status) }
            #expect(statuses == Array(repeating: 202, count: 3) + Array(repeating: 503, count: 7), "\(statuses)")
            #expect(try await herald.store.lastSeq() == 3)
        }
    }
}
