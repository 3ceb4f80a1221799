import ArgumentParser
import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldDelivery
import HeraldServer
import HeraldVerify
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

public struct Bench: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Benchmark Herald against a local receiver, next to the raw AsyncHTTPClient baseline.",
        discussion: """
            Starts Herald on a temporary SQLite data directory and a receiver on 127.0.0.1, registers hooks,
            emits events and prints throughput, latency percentiles and peak RSS. Run it from a release build.
            """
    )

    @Option(help: "Events to emit (throughput and backlog modes).") var events = 10_000
    @Option(help: "Hooks each event fans out to.") var hooks = 4
    @Option(help: "Hooks registered in all (at least --hooks): the others subscribe to another event type, so fan-out must pass them by.")
    var hooksTotal: Int?
    @Option(help: "Old events, each with a delivered delivery and its attempt, written to the store before the run.") var prefill = 0
    @Option(help: "Concurrent emitters, engine in-flight cap and baseline client concurrency.") var concurrency = 128
    @Option(help: "Approximate size of each event's data in bytes.") var payloadBytes = 256
    @Option(help: "Events per POST /api/events (1 sends single events).") var batchSize = 1
    @Option(help: "Fixed-rate mode: emit this many events per second for --duration seconds, and report latency (in nodes mode: pace the events so, and the claim wait shows how soon nodes take new work).")
    var rate: Int?
    @Option(help: "Duration of the fixed-rate mode, in seconds.") var duration = 10
    @Flag(help: "Backlog mode: queue --events × --hooks deliveries with the engine stopped, then measure the drain.") var backlog = false
    @Flag(help: "Skip the raw AsyncHTTPClient baseline.") var noBaseline = false
    @Flag(help: "Soak mode: --rate events/s for --duration s with a short retention window (--retention-seconds); prints the database file's size over time, which must stay flat.")
    var soak = false
    @Option(help: "The retention window in soak mode, in seconds.") var retentionSeconds = 5
    @Option(help: "A JavaScript filter for the benchmark's hooks (function (data, previous) { … }); also measures filter evaluations/s.")
    var filter: String?
    @Option(help: "A JavaScript transform for the benchmark's hooks (function (event) { return {…}; }).") var transform: String?
    @Flag(help: "Documents mode: --events document writes (PUT, --concurrency at once) followed by a continuous changes feed; prints writes/s and the feed's lag.")
    var documents = false

    @Option(help: "Nodes mode: a PostgreSQL database (postgres://…) for --nodes herald processes; each run uses a schema of its own.")
    var database: String?
    @Option(help: "Nodes mode: how many herald processes, comma-separated runs (e.g. 1,2,4); a single SQLite node runs too, for comparison.")
    var nodes = "1,2,4"
    @Option(help: "Nodes mode: the receiver's delay before it answers, in ms, comma-separated runs (e.g. 0,50).") var receiverDelayMs = "0,50"
    @Option(help: "Nodes mode: attempts in flight per node (--max-in-flight of each; serve's default).") var nodeMaxInFlight = 256

    public init() {}

    public func run() async throws {
        var logger = Logger(label: "herald-bench")
        logger.logLevel = .warning
        if let database {
            let counts = nodes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
            let delays = receiverDelayMs.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 >= 0 }
            guard !counts.isEmpty, !delays.isEmpty else { throw ValidationError("--nodes and --receiver-delay-ms are comma-separated numbers") }
            try await ClusterBench(bench: self, databaseURL: database, nodeCounts: counts, delays: delays, logger: logger).run()
            return
        }
        let receiver = BenchReceiver()
        try await runBenchReceiver(logger: logger, receiver.application) { receiverPort in
            var report = BenchReport()
            report.add(
                "mode",
                soak ? "soak: \(rate ?? 200) events/s for \(duration) s, retention \(retentionSeconds) s"
                    : documents ? "documents" : backlog ? "backlog" : rate.map { "fixed rate \($0) events/s for \(duration) s" } ?? "throughput"
            )
            report.add("events × hooks", "\(rate.map { $0 * duration } ?? events) × \(hooks), concurrency \(concurrency), ~\(payloadBytes) B payload, batch \(batchSize)")
            if let hooksTotal { report.add("hooks registered", "\(max(hooksTotal, hooks)) (\(hooks) matching)") }
            if prefill > 0 { report.add("store prefilled with", "\(prefill) old events, deliveries and attempts") }
            if let filter { report.add("hook filter", filter) }
            if let transform { report.add("hook transform", transform) }
            let herald = try await HeraldUnderTest.start(bench: self, receiverPort: receiverPort, logger: logger)
            if prefill > 0 { report.add("admin overview, 20 reads", try await herald.timeOverview()) }
            do {
                if soak {
                    try await herald.runSoak(rate ?? 200, receiver: receiver, report: &report)
                } else if documents {
                    try await herald.runDocuments(report: &report)
                } else if backlog {
                    try await herald.runBacklog(receiver: receiver, report: &report)
                } else if let rate {
                    try await herald.runFixedRate(rate, receiver: receiver, report: &report)
                } else {
                    try await herald.runThroughput(receiver: receiver, report: &report)
                }
            } catch {
                await herald.stop()
                throw error
            }
            await herald.stop()
            if let filter { try await Self.filterEvaluations(filter, payloadBytes: payloadBytes, report: &report) }
            if !noBaseline && !backlog && !documents && !soak {
                let requests = rate.map { $0 * duration * hooks } ?? events * hooks
                let cpuAtStart = BenchReport.processCPU()
                let baseline = try await Self.baseline(port: receiverPort, requests: requests, concurrency: concurrency, payloadBytes: payloadBytes)
                report.add("baseline: raw AHC POST → same receiver", BenchReport.rate(requests, baseline) + " (\(requests) requests, \(concurrency) concurrent)")
                report.add("baseline CPU (client and receiver)", BenchReport.cpu(BenchReport.processCPU() - cpuAtStart, per: requests, "request", over: baseline))
                if let deliveryRate = herald.deliveryRate {
                    report.add("Herald delivery rate vs baseline", String(format: "%.0f%%", 100 * deliveryRate / (Double(requests) / baseline.seconds)))
                }
            }
            report.add("peak RSS (whole process)", BenchReport.peakRSS())
            report.print()
        }
    }

    /// How many filter calls the sandbox makes per second, on its workers, for a benchmark event.
    static func filterEvaluations(_ source: String, payloadBytes: Int, report: inout BenchReport) async throws {
        let runner = ScriptRunner()
        defer { runner.shutdown() }
        let event = Event(
            seq: 1, id: "evt_bench", type: "bench.event", data: #"{"pad":"\#(String(repeating: "x", count: payloadBytes))"}"#, channels: [],
            idempotencyKey: nil, timestamp: Date()
        )
        let arguments = HookScripts.filterArguments(for: event)
        let calls = 20_000
        let next = SharedCounter()
        let failures = SharedCounter()
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<runner.limits.workers {
                group.addTask {
                    while next.fetchAdd(1) < calls {
                        if case .failure = await runner.call(key: "bench", source: source, arguments: arguments) { _ = failures.fetchAdd(1) }
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        report.add(
            "filter evaluations/s", BenchReport.rate(calls, elapsed) + " (\(calls) calls, \(runner.limits.workers) herald-js workers, \(failures.fetchAdd(0)) failed)"
        )
    }

    /// The raw POST rate of AsyncHTTPClient to the receiver: same concurrency, no Herald logic.
    static func baseline(port: Int, requests: Int, concurrency: Int, payloadBytes: Int) async throws -> Duration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = ByteBuffer(string: #"{"id":"evt_BASELINE00000000000000000000","type":"bench.event","data":{"pad":"\#(String(repeating: "x", count: payloadBytes))"}}"#)
        let next = SharedCounter()
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while next.fetchAdd(1) < requests {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/baseline")
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(body)
                        let response = try await client.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        try await client.shutdown()
        return elapsed
    }
}
