import Foundation
import Logging
import HeraldCore
import Synchronization
import Testing

@testable import HeraldDelivery

/// The JavaScript sandbox, with the real `herald-js` worker: bounded in time and memory, one realm
/// per script key.
@Suite struct ScriptRunnerTests {
    /// Under CI a missing worker is a failure, never a skip.
    static var workerBuilt: Bool { ProcessInfo.processInfo.environment["CI"] == "true" || ScriptRunner.locateWorker() != nil }

    func runner(memoryMegabytes: Int = 16, timeout: Duration = .milliseconds(100), workers: Int = 2) -> ScriptRunner {
        var limits = ScriptLimits()
        limits.memoryMegabytes = memoryMegabytes
        limits.timeout = timeout
        limits.workers = workers
        return ScriptRunner(limits: limits)
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func filtersDecideOnTheDocumentAndItsPreviousRevision() async throws {
        let scripts = runner()
        defer { scripts.shutdown() }
        let source = #"function (doc, oldDoc) { return doc.type == "A" && (oldDoc === null || oldDoc.type != "A"); }"#
        let cases: [(String, Bool)] = [(#"[{"type":"A"},null]"#, true), (#"[{"type":"B"},null]"#, false), (#"[{"type":"A"},{"type":"A"}]"#, false)]
        for (arguments, expected) in cases {
            let value = try await scripts.call(key: "k1", source: source, arguments: arguments).get()
            #expect(value.type == "boolean")
            #expect(value.json == String(expected), "\(arguments)")
        }
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func eachKeyRunsInItsOwnRealm() async throws {
        let scripts = runner()
        defer { scripts.shutdown() }
        let source = "function (set) { if (set) { Object.prototype.stolen = 1; leaked = 'x'; } return typeof leaked; }"
        #expect(try await scripts.call(key: "a", source: source, arguments: "[true]").get().json == #""string""#)
        let other = try await scripts.call(key: "b", source: "function (d) { return typeof leaked + ',' + d.stolen; }", arguments: "[{}]").get()
        #expect(other.json == #""undefined,undefined""#)
        // The same key keeps its realm (and its compiled function).
        let same = try await scripts.call(key: "a", source: source, arguments: "[false]").get()
        #expect(same.json == #""string""#)
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func anEndlessLoopIsCutAtTheTimeLimitAndTheNextCallRuns() async throws {
        let scripts = runner()
        defer { scripts.shutdown() }
        let started = ContinuousClock.now
        let result = await scripts.call(key: "loop", source: "function () { while (true) {} }", arguments: "[]")
        #expect(result == .failure(.timedOut(.milliseconds(100))))
        print("endless loop cut after \(ContinuousClock.now - started)")
        #expect(try await scripts.call(key: "ok", source: "function (x) { return x + 1; }", arguments: "[41]").get().json == "42")
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func unboundedAllocationHitsTheMemoryLimitAndTheNextCallRuns() async throws {
        // A generous time limit, so the memory limit is what stops it.
        let scripts = runner(memoryMegabytes: 16, timeout: .seconds(5))
        defer { scripts.shutdown() }
        let hog = "function () { var a = new Array(1e9); for (var i = 0; ; i++) { a[i] = i; } }"
        let result = await scripts.call(key: "hog", source: hog, arguments: "[]")
        #expect(result == .failure(.memory(16)))
        #expect(try await scripts.call(key: "ok", source: "function () { return [1, 2]; }", arguments: "[]").get() == ScriptValue(type: "array", json: "[1,2]"))
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func throwsNonFunctionsAndNonBooleansAreReportedAsSuch() async throws {
        let scripts = runner()
        defer { scripts.shutdown() }
        // Again and again on the same realm: a throw leaves it usable.
        for _ in 0..<3 {
            #expect(await scripts.call(key: "t", source: "function () { throw new Error('no lead') }", arguments: "[]") == .failure(.threw("Error: no lead")))
        }
        guard case .failure(.compile(let message)) = await scripts.call(key: "c", source: "function (", arguments: "[]") else {
            Issue.record("a syntax error is a compile failure")
            return
        }
        #expect(message.contains("SyntaxError"))
        #expect(await scripts.check(source: "42") != nil)
        #expect(await scripts.check(source: "function (doc) { return true; }") == nil)
        let yes = try await scripts.call(key: "y", source: #"function () { return "yes"; }"#, arguments: "[]").get()
        #expect(HookScripts.verdict(type: yes.type, json: yes.json) == .skip(note: "filter error: returned a string, not a boolean"))
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func callsRunInParallelOnTheWorkers() async throws {
        // A loose limit: this is about parallel calls, not time limits, and a busy machine is slow.
        let scripts = runner(timeout: .seconds(5))
        defer { scripts.shutdown() }
        let results = await withTaskGroup(of: String.self) { group in
            for n in 0..<50 {
                group.addTask { (try? await scripts.call(key: "p\(n % 3)", source: "function (n) { return n * 2; }", arguments: "[\(n)]").get().json) ?? "-" }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(results) == Set((0..<50).map { String($0 * 2) }))
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func aWorkerHoldsNoDescriptorOfThisProcessButItsPipes() async throws {
        // Foundation opens pipes without FD_CLOEXEC: a worker started while one is open must not
        // keep its write end, or the pipe's reader waits for an end of file that never comes.
        let pipe = Pipe()
        var limits = ScriptLimits()
        limits.workers = 1
        let scripts = ScriptRunner(limits: limits)
        defer { scripts.shutdown() }
        #expect(try await scripts.call(key: "a", source: "function () { return 1; }", arguments: "[]").get().json == "1")
        let pids = scripts.idleWorkerPIDs()
        #expect(pids.count == 1)
        for pid in pids {
            let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int32.init).sorted()
            #expect(descriptors == [0, 1, 2])
        }
        withExtendedLifetime(pipe) {}
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func aWorkerThatDiedWhileIdleIsReplacedAndTheCallMadeAgain() async throws {
        var limits = ScriptLimits()
        limits.workers = 1
        let scripts = ScriptRunner(limits: limits)
        defer { scripts.shutdown() }
        #expect(try await scripts.call(key: "a", source: "function () { return 1; }", arguments: "[]").get().json == "1")
        let pids = scripts.idleWorkerPIDs()
        #expect(pids.count == 1)
        for pid in pids { kill(pid, SIGKILL) }
        // The replacement is a new process: the key is compiled afresh, from the source given now.
        #expect(try await scripts.call(key: "a", source: "function () { return 2; }", arguments: "[]").get().json == "2")
        #expect(scripts.idleWorkerPIDs() != pids)
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func oneScriptsLeftoversDoNotFailTheNextCaller() async throws {
        let scripts = runner(memoryMegabytes: 32, timeout: .seconds(5))
        defer { scripts.shutdown() }
        // No Duktape object (its finalizers would run in other callers' time).
        #expect(try await scripts.call(key: "d", source: "function () { return typeof Duktape; }", arguments: "[]").get().json == #""undefined""#)
        // A script that keeps more than half the heap in a global: the heap is renewed after its call…
        let hoarder = "function () { kept = []; for (var i = 0; i < 1000000; i++) kept.push(i); return kept.length; }"
        #expect(try await scripts.call(key: "hoard", source: hoarder, arguments: "[]").get().json == "1000000")
        // …so another script that needs as much still gets it (without the renewal it runs out).
        let needy = "function () { var a = []; for (var i = 0; i < 1000000; i++) a.push(i); return a.length; }"
        #expect(try await scripts.call(key: "needy", source: needy, arguments: "[]").get().json == "1000000")
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func aResultIsTypedByWhatItEncodesTo() async throws {
        let scripts = runner()
        defer { scripts.shutdown() }
        let nothing = try await scripts.call(key: "t1", source: "function () { return {toJSON: function () {}}; }", arguments: "[]").get()
        #expect(nothing == ScriptValue(type: "undefined", json: "null"))
        #expect(throws: TransformError.self) { try HookScripts.transformedBody(type: nothing.type, json: nothing.json).get() }
        let five = try await scripts.call(key: "t2", source: "function () { return {toJSON: function () { return 5; }}; }", arguments: "[]").get()
        #expect(five == ScriptValue(type: "number", json: "5"))
        #expect(await scripts.call(key: "bad key", source: "function () {}", arguments: "[]") == .failure(.unavailable("invalid script key bad key")))
    }

    @Test func withoutAWorkerAFanOutBatchFailsRatherThanSkipping() async throws {
        let scripts = ScriptRunner(limits: ScriptLimits(), executable: nil)
        let hook = Hook(
            id: 1, teamID: 1, url: "http://127.0.0.1:9/", contentType: .json, encryptedSecret: Data(), events: ["*"], channels: [], active: true,
            insecureSSL: false, timeoutSeconds: 10, ordering: .none, signature: .hmac, createdAt: Date(), updatedAt: Date(),
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil,
            filter: "function () { return true; }"
        )
        let event = Event(seq: 1, id: "evt_1", type: "lead.created", data: "{}", channels: [], idempotencyKey: nil, timestamp: Date())
        let filters = HookFilters(runner: scripts, logger: Logger(label: "test"))
        await #expect(throws: HookFilters.Unavailable.self) { try await filters.decide([PlannedDelivery(hook: hook, event: event)]) }
    }

    /// Sleeps `milliseconds` of the script's own time.
    static let busy = "function (ms) { var end = Date.now() + ms; while (Date.now() < end) {} return true; }"

    func hook(id: Int64, team: Int64, filter: String) -> Hook {
        Hook(
            id: id, teamID: team, url: "http://127.0.0.1:9/", contentType: .json, encryptedSecret: Data(), events: ["*"], channels: [], active: true,
            insecureSSL: false, timeoutSeconds: 10, ordering: .none, signature: .hmac, createdAt: Date(), updatedAt: Date(),
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil,
            filter: filter
        )
    }

    /// One worker, a team with a queue of calls, then another team's call: the freed worker goes to
    /// the other team next, not to the end of the first team's queue.
    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func aFreedWorkerGoesToTheNextTeamInTurn() async throws {
        let scripts = runner(timeout: .seconds(2), workers: 1)
        defer { scripts.shutdown() }
        // Each call returns when the worker started it (the worker's clock): the order served.
        let started = "function (ms) { var start = Date.now(); while (Date.now() < start + ms) {} return start; }"
        let served = Order()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                group.addTask {
                    let run = await scripts.run(key: "a\(index)", source: started, arguments: index == 0 ? "[1500]" : "[100]", team: 1)
                    served.append("a\(index)", at: (try? run.result.get().json).flatMap(Double.init) ?? -1)
                }
            }
            // The first call runs, four wait; then the other team's call comes.
            #expect(await waitUntil { scripts.waitingCalls == 4 })
            group.addTask {
                let run = await scripts.run(key: "b", source: started, arguments: "[1]", team: 2)
                served.append("b", at: (try? run.result.get().json).flatMap(Double.init) ?? -1)
            }
        }
        let order = served.all
        #expect(order.count == 6)
        // First come, first served would start b last; in turns it is served by the second freed worker at the latest.
        #expect((order.firstIndex(of: "b") ?? 99) <= 2, "\(order)")
    }

    /// The time a filter waits for a worker is not its own: with the only worker busy with another
    /// team's long calls, a quick filter's deliveries are decided, none skipped as timed out.
    @Test(.enabled(if: workerBuilt, "needs the herald-js worker beside the test binary (swift build)"))
    func waitingForAWorkerNeverCountsAgainstAFilter() async throws {
        let scripts = runner(timeout: .seconds(2), workers: 1)
        defer { scripts.shutdown() }
        // Another team's calls hold the worker for about 1.5 s, more than a hook's budget per batch.
        let holding = Task {
            for index in 0..<3 { _ = await scripts.run(key: "slow\(index)", source: Self.busy, arguments: "[500]", team: 7) }
        }
        try await Task.sleep(for: .milliseconds(50))
        let quick = hook(id: 1, team: 1, filter: "function (data) { return data.n % 2 == 0; }")
        let planned = (1...6).map {
            PlannedDelivery(hook: quick, event: Event(seq: Int64($0), id: "evt_\($0)", type: "lead.created", data: #"{"n":\#($0)}"#, channels: [], idempotencyKey: nil, timestamp: Date()))
        }
        async let decided = HookFilters(runner: scripts, logger: Logger(label: "test")).decide(planned)
        // More waiting: another round of the other team's calls queued behind the filter's.
        let more = Task { for index in 0..<3 { _ = await scripts.run(key: "more\(index)", source: Self.busy, arguments: "[500]", team: 7) } }
        let notes = try await decided.map(\.note)
        await holding.value
        await more.value
        #expect(notes == [FilterVerdict.filteredOut, nil, FilterVerdict.filteredOut, nil, FilterVerdict.filteredOut, nil])
    }

    @Test func teamsTakeTurnsInABatch() {
        let teams: [Int64] = [1, 1, 1, 2, 3, 3]
        #expect(HookFilters.inTurns(Array(0..<6), team: { teams[$0] }) == [0, 3, 4, 1, 5, 2])
        #expect(HookFilters.inTurns([4, 5], team: { teams[$0] }) == [4, 5])
    }
}

/// Names ordered by the time given with each, from any task.
final class Order: Sendable {
    private let names = Mutex<[(String, Double)]>([])
    func append(_ name: String, at time: Double) { names.withLock { $0.append((name, time)) } }
    var all: [String] { names.withLock { $0 }.sorted { $0.1 < $1.1 }.map(\.0) }
}

/// Waits (polling) until `condition` holds, at most 10 s; whether it did.
func waitUntil(_ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    return condition()
}
