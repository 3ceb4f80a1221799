import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldSQLite
import HeraldServer
import HeraldVerify
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Herald instance for the benchmark: temporary SQLite directory, hooks on the receiver, a
/// provider token, and the load generators.
final class HeraldUnderTest: @unchecked Sendable {
    let bench: Bench
    let services: HeraldServices
    let dataDirectory: URL
    let providerToken: String
    let receiverPort: Int
    let client: HTTPClient
    let logger: Logger
    var group: ServiceGroup?
    var runner: Task<Void, any Error>?
    var baseURL = ""
    var deliveryRate: Double?

    private init(bench: Bench, services: HeraldServices, dataDirectory: URL, providerToken: String, receiverPort: Int, logger: Logger) {
        self.bench = bench
        self.services = services
        self.dataDirectory = dataDirectory
        self.providerToken = providerToken
        self.receiverPort = receiverPort
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = bench.concurrency
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func start(bench: Bench, receiverPort: Int, logger: Logger) async throws -> HeraldUnderTest {
        var configuration = HeraldConfiguration()
        configuration.port = 0
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-\(UUID().uuidString)")
        configuration.maxBatchSize = max(1000, bench.batchSize)
        configuration.maxEventBodyBytes = max(256 * 1024, bench.batchSize * (bench.payloadBytes + 200))
        configuration.engine.allowPrivateTargets = true
        configuration.templatesDirectory = WebDirectories.resolve("Templates")
        configuration.publicDirectory = WebDirectories.resolve("Public")
        configuration.engine.maxInFlight = bench.concurrency
        configuration.engine.maxInFlightPerHook = bench.concurrency
        configuration.engine.maxInFlightPerTeam = bench.concurrency
        if bench.soak {
            configuration.engine.retention = .seconds(bench.retentionSeconds)
            configuration.engine.pruneInterval = .seconds(1)
        }
        let (store, secretBox) = try await openStore(configuration: configuration)
        try await store.saveEventType(EventType(name: "bench.event", description: "Benchmark event."))
        let team = try await store.createTeam(name: "Bench", slug: "bench", now: Date())
        for index in 0..<bench.hooks {
            var settings = HookSettings(url: "http://127.0.0.1:\(receiverPort)/hook/\(index)")
            settings.events = ["bench.event"]
            settings.filter = bench.filter
            settings.transform = bench.transform
            _ = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try secretBox.seal(WebhookSecret.generate().string), now: Date())
        }
        // Hooks that do not match the benchmark's events: fan-out must pass them by at no cost.
        for index in bench.hooks..<max(bench.hooks, bench.hooksTotal ?? 0) {
            var settings = HookSettings(url: "http://127.0.0.1:\(receiverPort)/idle/\(index)")
            settings.events = ["other.event.\(index % 100)"]
            _ = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try secretBox.seal(WebhookSecret.generate().string), now: Date())
        }
        if bench.prefill > 0, let sqlite = store as? SQLiteStore {
            try await sqlite.prefillForBenchmark(events: bench.prefill, hookID: 1, teamID: team.id)
        }
        let token = try await store.issueToken(name: "bench", scope: .provider, teamID: nil).secret
        let services = HeraldServices(store: store, secretBox: secretBox, configuration: configuration, logger: logger)
        let herald = HeraldUnderTest(
            bench: bench, services: services, dataDirectory: configuration.dataDirectory, providerToken: token, receiverPort: receiverPort, logger: logger
        )
        if !bench.backlog { try await herald.startServer() }
        return herald
    }

    func startServer() async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(services: services, logger: logger) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        self.group = group
        runner = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        baseURL = "http://127.0.0.1:\(await iterator.next() ?? 0)"
    }

    func stop() async {
        await group?.triggerGracefulShutdown()
        _ = try? await runner?.value
        try? await client.shutdown()
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    /// How long the admin overview takes on this store (the prefilled log included): p50 and max of 20.
    func timeOverview() async throws -> String {
        var times: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = try await services.overview()
            times.append(ContinuousClock.now - start)
        }
        times.sort()
        func ms(_ duration: Duration) -> String { String(format: "%.1f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000) }
        return "p50 \(ms(times[times.count / 2])), max \(ms(times.last!))"
    }

    /// Every hook registered, each of which got a creation ping.
    var registeredHooks: Int { max(bench.hooks, bench.hooksTotal ?? 0) }

    // MARK: load

    func eventBody(_ index: Int) -> String {
        let pad = String(repeating: "x", count: max(0, bench.payloadBytes - 40))
        return #"{"type":"bench.event","data":{"n":\#(index),"pad":"\#(pad)"}}"#
    }

    /// POSTs one batch; returns the accepted events' ids.
    func emit(_ indexes: Range<Int>) async throws -> [String] {
        var request = HTTPClientRequest(url: baseURL + "/api/events")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(providerToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = bench.batchSize == 1 ? eventBody(indexes.lowerBound) : "[" + indexes.map(eventBody).joined(separator: ",") + "]"
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        guard response.status == .accepted else { throw BenchError("emit answered \(response.status): \(String(buffer: bytes))") }
        let json = try JSONValue(parsing: bytes.readableBytesView)
        if let events = json["events"]?.arrayValue { return events.compactMap { $0["id"]?.stringValue } }
        return [json["id"]?.stringValue].compactMap { $0 }
    }

    /// Waits until every delivery is recorded as finished, and returns when that happened.
    /// The store is only asked once the receiver has seen `receiverAtLeast` requests, so polling
    /// does not compete with the engine for the database.
    func waitUntilDrained(
        expectedSucceeded: Int, receiver: BenchReceiver, receiverAtLeast: Int, timeout: Duration = .seconds(600)
    ) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if receiver.received < receiverAtLeast {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            let counts = try await services.store.deliveryCounts()
            if (counts[.pending] ?? 0) == 0 && (counts[.inFlight] ?? 0) == 0 && (counts[.succeeded] ?? 0) >= expectedSucceeded {
                return ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("deliveries did not drain within \(timeout): \(try await services.store.deliveryCounts())")
    }

    func latencies(accepted: [String: ContinuousClock.Instant], receiver: BenchReceiver) -> [Duration] {
        receiver.takeArrivals().compactMap { arrival in accepted[String(arrival.id)].map { arrival.at - $0 } }
    }

    // MARK: modes

    func runThroughput(receiver: BenchReceiver, report: inout BenchReport) async throws {
        _ = try await waitUntilDrained(expectedSucceeded: registeredHooks, receiver: receiver, receiverAtLeast: registeredHooks)  // the creation pings
        receiver.reset()
        let total = bench.events
        let batch = bench.batchSize
        let next = SharedCounter()
        let accepted = SharedValue<[String: ContinuousClock.Instant]>([:])
        let clock = ContinuousClock()
        let start = clock.now
        let cpuAtStart = BenchReport.processCPU()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<bench.concurrency {
                group.addTask {
                    while true {
                        let first = next.fetchAdd(batch)
                        guard first < total else { return }
                        let ids = try await self.emit(first..<min(total, first + batch))
                        let now = ContinuousClock.now
                        accepted.withLock { for id in ids { $0[id] = now } }
                    }
                }
            }
            try await group.waitForAll()
        }
        let ingestDone = clock.now
        let drained = try await waitUntilDrained(expectedSucceeded: registeredHooks + bench.prefill + total * bench.hooks, receiver: receiver, receiverAtLeast: total * bench.hooks)
        let cpu = BenchReport.processCPU() - cpuAtStart
        let deliveries = total * bench.hooks
        deliveryRate = Double(deliveries) / (drained - start).seconds
        report.add("events accepted (durable before 202)", BenchReport.rate(total, ingestDone - start) + " (\(total) in \(BenchReport.milliseconds(ingestDone - start)))")
        report.add("deliveries completed (attempt logged)", BenchReport.rate(deliveries, drained - start) + " (\(deliveries) in \(BenchReport.milliseconds(drained - start)))")
        report.add(
            "CPU, whole process (Herald, receiver, load generator)",
            deliveries > 0 ? BenchReport.cpu(cpu, per: deliveries, "delivery", over: drained - start) : BenchReport.cpu(cpu, per: total, "event", over: drained - start)
        )
        report.add("accept → received latency", BenchReport.percentiles(latencies(accepted: accepted.value, receiver: receiver)))
    }

    func runFixedRate(_ rate: Int, receiver: BenchReceiver, report: inout BenchReport) async throws {
        _ = try await waitUntilDrained(expectedSucceeded: registeredHooks, receiver: receiver, receiverAtLeast: registeredHooks)
        receiver.reset()
        let total = rate * bench.duration
        let accepted = SharedValue<[String: ContinuousClock.Instant]>([:])
        let ingest = SharedValue<[Duration]>([])
        let clock = ContinuousClock()
        let start = clock.now
        let interval = Duration.seconds(1) / rate
        // A discarding group frees each finished emitter at once: the load generator's memory does not
        // grow with the events sent, so the peak RSS printed is Herald's.
        try await withThrowingDiscardingTaskGroup { group in
            for index in 0..<total {
                try await clock.sleep(until: start + interval * index)
                group.addTask {
                    let sent = ContinuousClock.now
                    let ids = try await self.emit(index..<(index + 1))
                    let now = ContinuousClock.now
                    ingest.withLock { $0.append(now - sent) }
                    accepted.withLock { for id in ids { $0[id] = now } }
                }
            }
        }
        let drained = try await waitUntilDrained(expectedSucceeded: registeredHooks + bench.prefill + total * bench.hooks, receiver: receiver, receiverAtLeast: total * bench.hooks)
        deliveryRate = nil
        report.add("events emitted", "\(total) at \(rate)/s (deliveries drained \(BenchReport.milliseconds(drained - start)) after start)")
        report.add("ingest (POST → 202) latency", BenchReport.percentiles(ingest.value))
        report.add("accept → received latency", BenchReport.percentiles(latencies(accepted: accepted.value, receiver: receiver)))
    }

    /// A steady load with a short retention window: the database file's size (with its WAL), sampled
    /// ten times over the run, must level off once retention catches up instead of growing.
    func runSoak(_ rate: Int, receiver: BenchReceiver, report: inout BenchReport) async throws {
        receiver.reset()
        let total = rate * bench.duration
        let clock = ContinuousClock()
        let start = clock.now
        let interval = Duration.seconds(1) / rate
        let sizes = SharedValue<[(Duration, Int)]>([])
        let sampler = Task {
            for tick in 1...10 {
                try await clock.sleep(until: start + Duration.seconds(bench.duration) * tick / 10)
                sizes.withLock { $0.append((clock.now - start, self.databaseBytes())) }
            }
        }
        try await withThrowingDiscardingTaskGroup { group in
            for index in 0..<total {
                try await clock.sleep(until: start + interval * index)
                group.addTask { _ = try await self.emit(index..<(index + 1)) }
            }
        }
        try await sampler.value
        let deadline = clock.now + .seconds(120)
        while receiver.received < total * bench.hooks && clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        report.add("deliveries received", "\(receiver.received) of \(total * bench.hooks)")
        report.add(
            "database size (file + WAL) over time",
            sizes.value.map { String(format: "%.0fs %.1f MiB", $0.0.seconds, Double($0.1) / 1_048_576) }.joined(separator: " · ")
        )
        let counts = try await services.store.deliveryCounts()
        report.add("deliveries kept at the end", counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", "))
    }

    /// The SQLite file and its WAL, in bytes.
    func databaseBytes() -> Int {
        ["herald.sqlite", "herald.sqlite-wal"].reduce(0) { total, name in
            let path = dataDirectory.appendingPathComponent(name).path
            return total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
    }

    /// Document writes at full concurrency, with a continuous changes feed following them: writes/s
    /// (each durable before its 201) and how long after its 201 each change reached the follower.
    func runDocuments(report: inout BenchReport) async throws {
        let database = "benchdocs"
        _ = try await services.store.createDocumentDatabase(database)
        let total = bench.events
        let since = try await services.store.lastSeq()
        let written = SharedValue<[String: ContinuousClock.Instant]>([:])
        let arrivals = SharedValue<[String: ContinuousClock.Instant]>([:])
        var follow = HTTPClientRequest(url: baseURL + "/db/\(database)/_changes?feed=continuous&since=\(since)&limit=\(total)&timeout=600000")
        follow.headers.add(name: "Authorization", value: "Bearer \(providerToken)")
        let feed = try await client.execute(follow, timeout: .seconds(600))
        let follower = Task {
            var pending = ""
            for try await chunk in feed.body {
                pending += String(buffer: chunk)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = pending[..<newline]
                    if let id = (try? JSONValue(parsing: String(line)))?["id"]?.stringValue { arrivals.withLock { $0[id] = ContinuousClock.now } }
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
        }
        let pad = String(repeating: "x", count: max(0, bench.payloadBytes - 40))
        let next = SharedCounter()
        let start = ContinuousClock.now
        let cpuAtStart = BenchReport.processCPU()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<bench.concurrency {
                group.addTask {
                    while true {
                        let index = next.fetchAdd(1)
                        guard index < total else { return }
                        var request = HTTPClientRequest(url: self.baseURL + "/db/\(database)/doc-\(index)")
                        request.method = .PUT
                        request.headers.add(name: "Authorization", value: "Bearer \(self.providerToken)")
                        request.body = .bytes(ByteBuffer(string: #"{"n":\#(index),"pad":"\#(pad)","channels":["bench"]}"#))
                        let response = try await self.client.execute(request, timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .created else { throw BenchError("document write answered \(response.status)") }
                        let now = ContinuousClock.now
                        written.withLock { $0["doc-\(index)"] = now }
                    }
                }
            }
            try await group.waitForAll()
        }
        let writesDone = ContinuousClock.now
        let cpu = BenchReport.processCPU() - cpuAtStart
        try await follower.value
        let arrived = arrivals.value
        let lags = written.value.compactMap { id, at in arrived[id].map { max(.zero, $0 - at) } }
        report.add("document writes (durable before 201)", BenchReport.rate(total, writesDone - start) + " (\(total) in \(BenchReport.milliseconds(writesDone - start)))")
        report.add("CPU, whole process (Herald, writers, follower)", BenchReport.cpu(cpu, per: total, "write", over: writesDone - start))
        report.add("changes feed: 201 → follower lag", BenchReport.percentiles(lags) + (lags.count == total ? "" : " — \(total - lags.count) changes missing!"))
    }

    func runBacklog(receiver: BenchReceiver, report: inout BenchReport) async throws {
        // Queue the backlog with the engine stopped (as when every receiver is down).
        let store = services.store
        let fillStart = ContinuousClock.now
        var index = 0
        while index < bench.events {
            let count = min(1000, bench.events - index)
            _ = try await store.append((index..<(index + count)).map { NewEvent(type: "bench.event", data: #"{"n":\#($0)}"#) })
            index += count
            while try await store.fanOut(limit: 1000, now: Date()).events > 0 {}
        }
        let pending = try await store.deliveryCounts()[.pending] ?? 0
        report.add("backlog queued", "\(pending) pending deliveries in \(BenchReport.milliseconds(ContinuousClock.now - fillStart)); RSS so far \(BenchReport.peakRSS())")
        let start = ContinuousClock.now
        let cpuAtStart = BenchReport.processCPU()
        try await startServer()
        let drained = try await waitUntilDrained(expectedSucceeded: pending, receiver: receiver, receiverAtLeast: pending)
        deliveryRate = Double(pending) / (drained - start).seconds
        report.add("backlog drained", BenchReport.rate(pending, drained - start) + " (\(pending) in \(BenchReport.milliseconds(drained - start)))")
        report.add("CPU, whole process (Herald, receiver)", BenchReport.cpu(BenchReport.processCPU() - cpuAtStart, per: pending, "delivery", over: drained - start))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
