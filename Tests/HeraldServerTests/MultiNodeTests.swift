import Crypto
import Foundation
import HeraldCore
import HeraldPostgres
import HeraldVerify
import Synchronization
import Testing

/// Several `herald` processes on one PostgreSQL database (the server `HERALD_TEST_POSTGRES_URL`
/// names; `.ci/run` starts one), each test on a schema of its own, with real receivers.
@Suite(.serialized) struct MultiNodeTests {
    static let postgresURL = ProcessInfo.processInfo.environment["HERALD_TEST_POSTGRES_URL"]
    /// These tests run several busy Herald processes: they have a step of their own
    /// (`HERALD_TEST_NODES=1 swift test --filter MultiNodeTests`, as `.ci/run` does), so that they
    /// do not starve the timing-sensitive suites on a small machine.
    static let ownStep = ProcessInfo.processInfo.environment["HERALD_TEST_NODES"] == "1"
    static var available: Bool { ownStep && ExternalTools.runs(needing: postgresURL != nil && ExternalTools.hasHeraldBinary) }

    /// A schema, the master key every node shares, and a store on it for setting up and checking.
    struct Cluster: Sendable {
        let url: String
        let schema: String
        let key: String
        let store: PostgresStore
        let secretBox: SecretBox
        let binary: URL

        static func make() async throws -> Cluster {
            guard let base = MultiNodeTests.postgresURL, let binary = ExternalTools.heraldBinary else {
                throw ChildProcessError(description: "HERALD_TEST_POSTGRES_URL and the built herald executable are required (.ci/run)")
            }
            let schema = "n_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let url = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
            let keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            let secretBox = try #require(SecretBox(keyBytes: keyBytes))
            let store = try await PostgresStore(url: url, maxConnections: 4)
            try await store.checkMasterKey(seal: { try secretBox.seal($0) }, open: { try secretBox.open($0) })
            return Cluster(url: url, schema: schema, key: Data(keyBytes).base64EncodedString(), store: store, secretBox: secretBox, binary: binary)
        }

        /// A node on the cluster's database; `arguments` are added to `serve`'s.
        func node(_ arguments: [String] = []) async throws -> (process: ChildProcess, api: HeraldHarnessClient) {
            let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-node-\(UUID().uuidString)")
            let process = try ChildProcess(
                binary: binary,
                arguments: [
                    "serve", "--database", url, "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--retry-schedule",
                    "100ms,100ms,100ms", "--database-pool-size", "6",
                ] + arguments,
                environment: ["HERALD_MASTER_KEY": key]
            )
            return (process, HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await process.waitForPort())"))
        }

        func hook(team: Team, url: String, ordering: Ordering = .none, timeoutSeconds: Int = 10, policy: DeliveryPolicy = DeliveryPolicy()) async throws -> Hook {
            var settings = HookSettings(url: url)
            settings.events = ["lead.created"]
            settings.ordering = ordering
            settings.timeoutSeconds = timeoutSeconds
            settings.policy = policy
            return try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try secretBox.seal(WebhookSecret.generate().string), now: Date()).hook
        }
    }

    /// Emits `count` events in batches of 500, the batches spread over the nodes in turn.
    static func emit(_ count: Int, through nodes: [HeraldHarnessClient], token: String) async throws {
        for (index, start) in stride(from: 0, to: count, by: 500).enumerated() {
            let events = (start..<min(count, start + 500)).map { #"{"type":"lead.created","data":{"lead_id":"l\#($0)"}}"# }
            let response = try await nodes[index % nodes.count].call(.POST, "/api/events", token: token, body: "[" + events.joined(separator: ",") + "]")
            #expect(response.status == 202, "\(response.text)")
        }
    }

    /// Delivery ids the receiver got for leads, and how many times each.
    static func leadDeliveries(_ receiver: TestReceiver) -> [String: Int] {
        var counts: [String: Int] = [:]
        for request in receiver.received where request.header("X-Herald-Event") == "lead.created" {
            counts[request.header("X-Herald-Delivery") ?? "", default: 0] += 1
        }
        return counts
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func threeNodesDeliverEveryEventToEveryHookExactlyOnce() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let team = try await cluster.store.makeTestTeam()
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        try await TestReceiver.run { receiver in
            _ = try await cluster.hook(team: team, url: receiver.url("/a"))
            _ = try await cluster.hook(team: team, url: receiver.url("/b"))
            var nodes: [(process: ChildProcess, api: HeraldHarnessClient)] = []
            defer { for node in nodes { node.process.stop() } }
            for _ in 0..<3 { nodes.append(try await cluster.node()) }
            let started = ContinuousClock.now
            try await Self.emit(5000, through: nodes.map(\.api), token: provider)
            try await eventually("10,000 deliveries arrive", timeout: .seconds(240)) { Self.leadDeliveries(receiver).count == 10_000 }
            let elapsed = ContinuousClock.now - started
            let counts = Self.leadDeliveries(receiver)
            let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
            print("3 nodes: \(counts.count) deliveries in \(elapsed), \(duplicates) sent twice")
            #expect(duplicates == 0)
            let perHook = Dictionary(grouping: receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }, by: \.path).mapValues(\.count)
            #expect(perHook == ["/a": 5000, "/b": 5000])
            // Each recorded as delivered (a record follows its answer), with the two creation pings.
            try await eventually("every delivery is recorded", timeout: .seconds(60)) { try await cluster.store.deliveryCounts()[.succeeded] == 10_000 + 2 }
        }
    }

    /// Ten a second on one hook, claimed by two nodes: one limit for both (the slots are kept in the
    /// store, taken under the team's claim lock), not ten each.
    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func twoNodesKeepOneRateLimit() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let team = try await cluster.store.makeTestTeam()
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        try await TestReceiver.run { receiver in
            let arrivals = Mutex<[ContinuousClock.Instant]>([])
            receiver.respond { _, request in
                if request.header("X-Herald-Event") == "lead.created" { arrivals.withLock { $0.append(.now) } }
                return .init()
            }
            _ = try await cluster.hook(team: team, url: receiver.url("/limited"), policy: DeliveryPolicy(rateLimitPerSecond: 10))
            var nodes: [(process: ChildProcess, api: HeraldHarnessClient)] = []
            defer { for node in nodes { node.process.stop() } }
            for _ in 0..<2 { nodes.append(try await cluster.node()) }
            try await Self.emit(40, through: nodes.map(\.api), token: provider)
            try await eventually("the 40 leads arrive", timeout: .seconds(60)) { arrivals.withLock { $0.count } == 40 }
            let times = arrivals.withLock { $0 }.sorted()
            // Slots 100 ms apart for both nodes: any twelve arrivals in a row span a second (ten,
            // and two for a loaded machine's lateness) — ten each would pack them into half that.
            for index in 0..<(times.count - 12) {
                #expect(times[index + 12] - times[index] >= .seconds(1), "arrivals \(index)…\(index + 12) came within a second")
            }
            #expect(times.last! - times.first! >= .milliseconds(3400))
        }
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func aKilledNodesDeliveriesAreSentByTheOthersAndOnlyThoseCanArriveTwice() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let team = try await cluster.store.makeTestTeam()
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        try await TestReceiver.run { receiver in
            // Slow answers keep many attempts in flight on every node when one dies.
            receiver.respond { _, _ in .init(delay: .milliseconds(20)) }
            _ = try await cluster.hook(team: team, url: receiver.url("/a"), timeoutSeconds: 5)
            _ = try await cluster.hook(team: team, url: receiver.url("/b"), timeoutSeconds: 5)
            var nodes: [(process: ChildProcess, api: HeraldHarnessClient)] = []
            defer { for node in nodes { node.process.stop() } }
            for _ in 0..<3 { nodes.append(try await cluster.node(["--claim-lease-margin", "5"])) }
            try await Self.emit(5000, through: nodes.map(\.api), token: provider)
            try await eventually("a quarter of the deliveries arrive", timeout: .seconds(120)) { Self.leadDeliveries(receiver).count >= 2500 }
            nodes[1].process.kill()
            // What was in flight anywhere the moment it died; the dead node's share stays so until its lease ends.
            let inFlight = try await cluster.store.deliveries(DeliveryQuery(statuses: [.inFlight], limit: 10_000)).map(\.id)
            try await eventually("all 10,000 deliveries arrive", timeout: .seconds(240)) { Self.leadDeliveries(receiver).count == 10_000 }
            let counts = Self.leadDeliveries(receiver)
            let twice = counts.filter { $0.value > 1 }.map(\.key)
            print("node killed with \(inFlight.count) deliveries in flight across the nodes; \(twice.count) arrived twice, all of them among those in flight")
            #expect(Set(twice).isSubset(of: Set(inFlight)))
            #expect(counts.values.allSatisfy { $0 <= 2 })
            try await eventually("every delivery is recorded", timeout: .seconds(60)) { try await cluster.store.deliveryCounts()[.succeeded] == 10_000 + 2 }
        }
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func anOrderedHookKeepsItsOrderAcrossNodesThroughFailures() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let team = try await cluster.store.makeTestTeam()
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        try await TestReceiver.run { receiver in
            // Each lead's first attempt fails, its second succeeds.
            receiver.respond { received, request in
                let id = (try? JSONValue(parsing: request.bodyString))?["id"]?.stringValue
                let seen = received.filter { (try? JSONValue(parsing: $0.bodyString))?["id"]?.stringValue == id }.count
                return request.header("X-Herald-Event") == "lead.created" && seen == 1 ? .init(status: 500) : .init()
            }
            _ = try await cluster.hook(team: team, url: receiver.url(), ordering: .ordered)
            var nodes: [(process: ChildProcess, api: HeraldHarnessClient)] = []
            defer { for node in nodes { node.process.stop() } }
            for _ in 0..<3 { nodes.append(try await cluster.node()) }
            var ids: [String] = []
            for index in 0..<24 {
                let response = try await nodes[index % 3].api.call(
                    .POST, "/api/events", token: provider, body: #"{"type":"lead.created","data":{"lead_id":"l\#(index)"}}"#
                )
                ids.append(response.json["id"]?.stringValue ?? "")
            }
            let expected = ids.count * 2
            try await eventually("every lead arrives twice", timeout: .seconds(120)) {
                receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == expected
            }
            let order = receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.compactMap {
                (try? JSONValue(parsing: $0.bodyString))?["id"]?.stringValue
            }
            #expect(order == ids.flatMap { [$0, $0] })
        }
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func feedReadersOnTwoNodesSeeEveryEventOnceWhileBothAreWritten() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        let admin = try await cluster.store.issueToken(name: "admin", scope: .admin, teamID: nil).secret
        var nodes: [(process: ChildProcess, api: HeraldHarnessClient)] = []
        defer { for node in nodes { node.process.stop() } }
        for _ in 0..<2 { nodes.append(try await cluster.node(["--role", "api"])) }
        let (writers, perWriter) = (8, 150)
        let done = Counter()
        let seen = try await withThrowingTaskGroup(of: [(Int64, String)]?.self) { group in
            // Eight writers, four per node, each event in a transaction of its own: commits interleave.
            for writer in 0..<writers {
                let api = nodes[writer % 2].api
                group.addTask {
                    for index in 0..<perWriter {
                        let response = try await api.call(.POST, "/api/events", token: provider, body: #"{"type":"lead.created","data":{"lead_id":"w\#(writer)-\#(index)"}}"#)
                        #expect(response.status == 202)
                    }
                    done.increment()
                    return nil
                }
            }
            // A reader on each node follows the feed from the start while the writers run.
            for reader in 0..<2 {
                let api = nodes[reader].api
                group.addTask {
                    var since: Int64 = 0
                    var seen: [(Int64, String)] = []
                    while true {
                        let finished = done.value == writers
                        let page = try await api.call(.GET, "/api/events?since=\(since)&limit=50", token: admin)
                        let results = page.json["results"]?.arrayValue ?? []
                        for result in results {
                            seen.append((Int64(result["seq"]?.intValue ?? 0), result["id"]?.stringValue ?? ""))
                        }
                        since = Int64(page.json["last_seq"]?.stringValue ?? "") ?? since
                        if finished && results.isEmpty { return seen }
                    }
                }
            }
            var readers: [[(Int64, String)]] = []
            for try await result in group { if let result { readers.append(result) } }
            return readers
        }
        let appended = try await cluster.store.events(since: 0, limit: 10_000).map(\.id)
        #expect(appended.count == writers * perWriter)
        for reader in seen {
            let seqs = reader.map(\.0)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "a reader saw seqs out of order or twice")
            #expect(reader.map(\.1) == appended, "a reader missed or repeated events: it saw \(reader.count) of \(appended.count)")
        }
        print("two nodes, \(writers) writers: each of \(seen.count) readers saw all \(appended.count) events once, in order")
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func anAPINodeAcceptsAndAWorkerNodeDelivers() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let team = try await cluster.store.makeTestTeam()
        let provider = try await cluster.store.issueToken(name: "provider", scope: .provider, teamID: nil).secret
        try await TestReceiver.run { receiver in
            let hook = try await cluster.hook(team: team, url: receiver.url())
            let api = try await cluster.node(["--role", "api"])
            defer { api.process.stop() }
            let first = try await api.api.call(.POST, "/api/events", token: provider, body: #"{"type":"lead.created","data":{"lead_id":"before"}}"#)
            #expect(first.status == 202)
            let workerStarted = Date()
            let worker = try await cluster.node(["--role", "worker"])
            defer { worker.process.stop() }
            let second = try await api.api.call(.POST, "/api/events", token: provider, body: #"{"type":"lead.created","data":{"lead_id":"after"}}"#)
            #expect(second.status == 202)
            // The worker, woken by the API node's NOTIFY, delivers both.
            try await eventually("both leads delivered by the worker", timeout: .seconds(30)) {
                receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == 2
            }
            // Both leads were fanned out only once the worker ran: the API node runs no engine.
            let leads = try await cluster.store.deliveries(DeliveryQuery(hookID: hook.id, eventType: "lead.created", limit: 10))
            #expect(leads.count == 2)
            #expect(leads.allSatisfy { $0.createdAt >= workerStarted }, "\(leads.map(\.createdAt)) vs worker start \(workerStarted)")
        }
    }

    @Test(.enabled(if: available, "runs in its own step (HERALD_TEST_NODES=1) with a PostgreSQL server (HERALD_TEST_POSTGRES_URL) and the built herald executable"))
    func migrateIsIdempotentAndRefusesANewerSchema() async throws {
        let cluster = try await Cluster.make()
        defer { cluster.store.close() }
        let path = cluster.binary.path
        let first = try await ExternalTools.run(path, ["migrate", "--database", cluster.url])
        let second = try await ExternalTools.run(path, ["migrate", "--database", cluster.url])
        #expect(first.status == 0 && second.status == 0, "\(first.output)\(second.output)")
        #expect(first.output.contains("Schema is current: 001_schema, 002_people, 003_audit_log, 004_nodes, 005_github_headers, 006_version_field, 007_delivery_policy, 008_portal_links, 009_event_type_versions\n"), "\(first.output)")
        #expect(second.output == first.output)
        #expect(try await cluster.store.appliedMigrations() == ["001_schema", "002_people", "003_audit_log", "004_nodes", "005_github_headers", "006_version_field", "007_delivery_policy", "008_portal_links", "009_event_type_versions"])

        // A newer Herald migrated this database: this one refuses it, and changes nothing.
        let psql = try await ExternalTools.run(
            "/usr/bin/psql", [try #require(Self.postgresURL), "-c", "INSERT INTO \(cluster.schema).herald_migrations (name, applied_at) VALUES ('999_from_the_future', 0)"]
        )
        #expect(psql.status == 0, "\(psql.output)")
        let refused = try await ExternalTools.run(path, ["migrate", "--database", cluster.url])
        #expect(refused.status != 0)
        #expect(refused.output.contains("newer than this Herald"), "\(refused.output)")
        let node = try ChildProcess(
            binary: cluster.binary, arguments: ["serve", "--database", cluster.url, "--port", "0"], environment: ["HERALD_MASTER_KEY": cluster.key]
        )
        defer { node.stop() }
        #expect(try await node.exited() != 0)
        #expect(node.output.contains("newer than this Herald"), "\(node.output)")
    }
}

extension PostgresStore {
    func makeTestTeam() async throws -> Team {
        try await createTeam(name: "BDE", slug: "bde", now: Date())
    }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .acquiring) }
    func increment() { count.add(1, ordering: .releasing) }
}
