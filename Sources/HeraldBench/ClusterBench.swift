import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import HeraldCore
import HeraldDelivery
import HeraldPostgres
import HeraldSQLite
import HeraldVerify
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `herald bench --database postgres://… --nodes 1,2,4`: real `herald serve` processes on one
/// store, a receiver on 127.0.0.1 that counts every delivery id (so a delivery sent twice shows),
/// and, for comparison in the same run, one node on SQLite. With `--receiver-delay-ms 50` the
/// receiver answers late, so throughput is bound by attempts in flight per node rather than by
/// this machine's cores: that is where more nodes show.
struct ClusterBench {
    let bench: Bench
    let databaseURL: String
    let nodeCounts: [Int]
    let delays: [Int]
    let logger: Logger

    struct Figures {
        var label: String
        var deliveries: Int
        var elapsed: Duration
        var duplicates: Int
        var claimWaits: [Duration]
    }

    func run() async throws {
        let receiver = ClusterReceiver()
        try await runBenchReceiver(logger: logger, receiver.application) { port in
            var report = BenchReport()
            let events = bench.rate.map { "\($0) events/s for \(bench.duration) s (paced)" } ?? "\(bench.events) events (at once)"
            report.add("mode", "nodes: \(events) × \(bench.hooks) hooks, batches of \(bench.batchSize), \(bench.nodeMaxInFlight) in flight per node")
            for delay in delays {
                var rows: [Figures] = []
                rows.append(try await measure(label: "SQLite, 1 node", nodes: 1, postgres: false, delay: delay, receiver: receiver, port: port))
                for count in nodeCounts {
                    rows.append(try await measure(label: "PostgreSQL, \(count) node\(count == 1 ? "" : "s")", nodes: count, postgres: true, delay: delay, receiver: receiver, port: port))
                }
                for row in rows {
                    report.add(
                        "receiver +\(delay) ms · \(row.label)",
                        BenchReport.rate(row.deliveries, row.elapsed) + " deliveries, \(row.duplicates) sent twice, claim wait "
                            + BenchReport.percentiles(row.claimWaits)
                    )
                }
            }
            report.print()
        }
    }

    private func measure(label: String, nodes count: Int, postgres: Bool, delay: Int, receiver: ClusterReceiver, port: Int) async throws -> Figures {
        receiver.reset(delay: .milliseconds(delay))
        let keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let secretBox = SecretBox(keyBytes: keyBytes)!
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let storeArguments: [String]
        let store: any HeraldStore
        if postgres {
            let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let url = databaseURL + (databaseURL.contains("?") ? "&" : "?") + "schema=\(schema)"
            let shared = try await PostgresStore(url: url, maxConnections: 2, logger: logger)
            try await shared.checkMasterKey(seal: { try secretBox.seal($0) }, open: { try secretBox.open($0) })
            store = shared
            storeArguments = ["--database", url]
        } else {
            store = try SQLiteStore(directory: dataDirectory)
            storeArguments = []
        }
        defer { (store as? PostgresStore)?.close() }
        try await store.saveEventType(EventType(name: "bench.event", description: "Benchmark event."))
        let team = try await store.createTeam(name: "Bench", slug: "bench", now: Date())
        for index in 0..<bench.hooks {
            var settings = HookSettings(url: "http://127.0.0.1:\(port)/hook/\(index)")
            settings.events = ["bench.event"]
            _ = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try secretBox.seal(WebhookSecret.generate().string), now: Date())
        }
        let token = try await store.issueToken(name: "bench", scope: .provider, teamID: nil).secret
        var nodes: [BenchNode] = []
        defer { for node in nodes { node.stop() } }
        for index in 0..<count {
            nodes.append(
                try BenchNode(
                    arguments: [
                        "serve", "--data-dir", postgres ? dataDirectory.appendingPathComponent("node\(index)").path : dataDirectory.path, "--port", "0",
                        "--allow-private-targets",
                        "--max-in-flight", "\(bench.nodeMaxInFlight)", "--max-in-flight-per-hook", "100000", "--max-in-flight-per-team", "100000",
                        "--max-backlog", "10000000",
                    ] + storeArguments + (postgres ? ["--database-pool-size", "8"] : []),
                    environment: ["HERALD_MASTER_KEY": Data(keyBytes).base64EncodedString()]
                )
            )
        }
        var clients: [String] = []
        for node in nodes { clients.append("http://127.0.0.1:\(try await node.port())") }
        // Paced (--rate): events go out at that rate, so a delivery's claim wait is how soon a node
        // takes new work, not how long a burst's queue is.
        let events = bench.rate.map { $0 * bench.duration } ?? bench.events
        let expected = events * bench.hooks
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let start = ContinuousClock.now
        let next = SharedCounter()
        let (batch, rate, payload) = (bench.batchSize, bench.rate, String(repeating: "x", count: bench.payloadBytes))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for emitter in 0..<min(bench.concurrency, 16) {
                let base = clients[emitter % clients.count]
                group.addTask {
                    while true {
                        let first = next.fetchAdd(batch)
                        guard first < events else { return }
                        if let rate { try await Task.sleep(until: start + .seconds(Double(first) / Double(rate)), clock: .continuous) }
                        let body = (first..<min(events, first + batch)).map { #"{"type":"bench.event","data":{"n":\#($0),"pad":"\#(payload)"}}"# }
                        var request = HTTPClientRequest(url: base + "/api/events")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: "[" + body.joined(separator: ",") + "]"))
                        let response = try await http.execute(request, timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 1 << 24)
                        guard response.status.code == 202 else { throw BenchError("emitting got \(response.status.code)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let deadline = ContinuousClock.now + .seconds(600)
        while receiver.distinct < expected {
            guard ContinuousClock.now < deadline else { throw BenchError("only \(receiver.distinct) of \(expected) deliveries arrived in 10 minutes") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = receiver.lastArrival - start
        try await http.shutdown()
        for node in nodes { node.stop() }
        let waits: [Duration]
        if let shared = store as? PostgresStore {
            waits = try await shared.firstAttemptWaits().map { .seconds($0) }
        } else {
            waits = try await SQLiteStore(directory: dataDirectory).firstAttemptWaits().map { .seconds($0) }
        }
        return Figures(label: label, deliveries: expected, elapsed: elapsed, duplicates: receiver.total - receiver.distinct, claimWaits: waits)
    }
}

/// One `herald serve` process of the benchmark, its output in a temporary file.
final class BenchNode: Sendable {
    let process: SpawnedProcess
    let log: URL

    init(arguments: [String], environment: [String: String]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("herald-bench-node-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process = try SpawnedProcess(
            executable: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            standardOutput: handle.fileDescriptor, standardError: handle.fileDescriptor)
    }

    /// The port it listens on, from its `http://127.0.0.1:PORT` line.
    func port() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(text[range].split(separator: ":").last ?? "")
            {
                return port
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("a node did not start:\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    func stop() {
        if process.isRunning {
            process.send(SIGINT)
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
            if process.isRunning { process.send(SIGKILL) }
        }
        if ProcessInfo.processInfo.environment["HERALD_BENCH_KEEP_LOGS"] == nil { try? FileManager.default.removeItem(at: log) }
    }
}

/// Answers 204 (after a set delay) and counts deliveries by their `X-Herald-Delivery` id.
final class ClusterReceiver: Sendable {
    private struct State {
        var seen: Set<String> = []
        var total = 0
        var last = ContinuousClock.now
        var delay: Duration = .zero
    }
    private let state = Mutex(State())

    var distinct: Int { state.withLock { $0.seen.count } }
    var total: Int { state.withLock { $0.total } }
    var lastArrival: ContinuousClock.Instant { state.withLock { $0.last } }

    func reset(delay: Duration) { state.withLock { $0 = State(delay: delay) } }

    func application(logger: Logger, onPort: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.post("**") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 22)
            guard request.headers[HTTPField.Name("X-Herald-Event")!] == "bench.event", let id = request.headers[HTTPField.Name("X-Herald-Delivery")!] else {
                return Response(status: .noContent)
            }
            let delay = self.state.withLock { $0.delay }
            if delay > .zero { try await Task.sleep(for: delay) }
            self.state.withLock { state in
                state.total += 1
                if state.seen.insert(id).inserted { state.last = .now }
            }
            return Response(status: .noContent)
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-receiver"),
            onServerRunning: { channel in onPort(channel.localAddress?.port ?? 0) }, logger: logger
        )
    }
}
