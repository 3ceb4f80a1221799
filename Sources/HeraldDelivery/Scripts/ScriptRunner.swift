import Foundation
import CHeraldJS
import HeraldCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bounds on one script call.
public struct ScriptLimits: Sendable, Hashable {
    /// How long one call may run before its worker is killed.
    public var timeout: Duration = .milliseconds(100)
    /// The most a worker's JavaScript heap may grow to.
    public var memoryMegabytes: Int = 64
    /// Worker processes, each running one call at a time: by default one per core, at least two.
    public var workers: Int = ScriptLimits.defaultWorkers

    /// One worker per core, at least two.
    public static var defaultWorkers: Int { max(2, ProcessInfo.processInfo.activeProcessorCount) }

    public init() {}
}

/// Runs hook filters and transforms (`function (doc, oldDoc) { … }`, ES5) in `herald-js` worker
/// processes, each call bounded in time (the worker is killed and replaced when it overruns) and
/// memory (the worker's allocator refuses past the limit). A script that loops, throws or allocates
/// without bound costs one failed call, never a stalled engine.
///
/// Functions are compiled once per `key` and each key runs in its own JavaScript realm, so one
/// hook's script cannot reach another's globals: callers key by hook and version.
///
/// Workers are shared fairly between tenants: calls waiting for a worker queue per team and a freed
/// worker goes to the next team in turn, so a team with many slow scripts holds at most its share
/// of the workers while another team waits. A call's time limit (and the run time it reports) starts
/// when its worker starts it: waiting for a worker never counts against a script.
public final class ScriptRunner: Sendable {
    public let limits: ScriptLimits
    private let executable: String?
    private let pool: Mutex<Pool>

    private struct Pool {
        var idle: [ScriptWorker] = []
        var spawned = 0
        /// Calls waiting for a worker, per team, and the teams in the order they are served.
        var waiters: [Int64: [CheckedContinuation<ScriptWorker?, Never>]] = [:]
        var turns: [Int64] = []
        var closed = false

        /// The next waiting call, from the team whose turn it is; that team goes to the back.
        mutating func nextWaiter() -> CheckedContinuation<ScriptWorker?, Never>? {
            guard !turns.isEmpty else { return nil }
            let team = turns.removeFirst()
            var queue = waiters[team] ?? []
            let waiter = queue.removeFirst()
            if queue.isEmpty {
                waiters[team] = nil
            } else {
                waiters[team] = queue
                turns.append(team)
            }
            return waiter
        }

        mutating func wait(_ continuation: CheckedContinuation<ScriptWorker?, Never>, team: Int64) {
            if waiters[team] == nil { turns.append(team) }
            waiters[team, default: []].append(continuation)
        }
    }

    /// - Parameter executable: the `herald-js` program; by default ``locateWorker()``.
    public init(limits: ScriptLimits = ScriptLimits(), executable: String? = ScriptRunner.locateWorker()) {
        self.limits = limits
        self.executable = executable
        self.pool = Mutex(Pool())
        signal(SIGPIPE, SIG_IGN)  // a worker killed mid-write is an error return, not a signal
    }

    deinit { shutdown() }

    /// `HERALD_JS_WORKER`, else `herald-js` beside the running executable, else the running
    /// executable itself when it is `herald` (which runs the worker as `herald __js-worker`).
    public static func locateWorker() -> String? {
        if let path = ProcessInfo.processInfo.environment["HERALD_JS_WORKER"], !path.isEmpty { return path }
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let beside = me.deletingLastPathComponent().appendingPathComponent("herald-js").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return me.lastPathComponent == "herald" ? me.path : nil
    }

    /// The arguments that start the worker program, before its own.
    static func workerArguments(_ executable: String) -> [String] {
        URL(fileURLWithPath: executable).lastPathComponent == "herald" ? [executable, "__js-worker"] : [executable]
    }

    /// Calls the function `source` with `arguments` (a JSON array). `key` (letters, digits, `_`,
    /// `-`) names the compiled function and its realm; keys starting with `once-` keep neither.
    public func call(key: String, source: String, arguments: String) async -> ScriptResult {
        await run(key: key, source: source, arguments: arguments, team: 0).result
    }

    /// One call's result and the time its worker spent on it (zero when it never ran).
    public struct Run: Sendable {
        public var result: ScriptResult
        public var ran: Duration
    }

    /// Calls the function as ``call(key:source:arguments:)`` does, waiting for a worker in `team`'s
    /// queue (teams are served in turn), and says how long the script itself ran.
    public func run(key: String, source: String, arguments: String, team: Int64) async -> Run {
        guard let executable else {
            return Run(
                result: .failure(.unavailable("the JavaScript worker (herald-js) was not found beside the herald executable; set HERALD_JS_WORKER")),
                ran: .zero
            )
        }
        guard Self.isValidKey(key) else { return Run(result: .failure(.unavailable("invalid script key \(key)")), ran: .zero) }
        guard let worker = await checkOut(team: team) else { return Run(result: .failure(.unavailable("the server is stopping")), ran: .zero) }
        let limits = self.limits
        let run = await withCheckedContinuation { (continuation: CheckedContinuation<Run, Never>) in
            DispatchQueue.global().async {
                let started = ContinuousClock.now
                let result = worker.exchange(key: key, source: source, arguments: arguments, executable: executable, limits: limits)
                continuation.resume(returning: Run(result: result, ran: ContinuousClock.now - started))
            }
        }
        checkIn(worker)
        return run
    }

    static func isValidKey(_ key: String) -> Bool {
        (1...200).contains(key.utf8.count)
            && key.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    /// Compiles `source` without calling it: nil when it is a function, otherwise why not.
    public func check(source: String) async -> ScriptFailure? {
        if case .failure(let failure) = await call(key: Self.onceKey(), source: source, arguments: "") { return failure }
        return nil
    }

    /// A key for a single call: its realm is not kept.
    public static func onceKey() -> String { "once-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) }

    /// Kills the idle workers; workers in use stop when their call returns. Waiting calls get no worker.
    public func shutdown() {
        let (idle, waiters) = pool.withLock { pool in
            pool.closed = true
            defer {
                pool.idle.removeAll()
                pool.waiters.removeAll()
                pool.turns.removeAll()
            }
            return (pool.idle, pool.turns.flatMap { pool.waiters[$0] ?? [] })
        }
        for worker in idle { worker.stop() }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Calls waiting for a worker (for tests of the turns).
    var waitingCalls: Int { pool.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }

    /// The processes of the idle workers (for tests that kill one).
    func idleWorkerPIDs() -> [pid_t] { pool.withLock { $0.idle.map(\.processID) } }

    private func checkOut(team: Int64) async -> ScriptWorker? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ScriptWorker?, Never>) in
            // Deciding and queueing under one lock: a worker checked in meanwhile cannot be missed.
            let ready: ScriptWorker?? = pool.withLock { pool in
                if pool.closed { return .some(nil) }
                if let worker = pool.idle.popLast() { return .some(worker) }
                if pool.spawned < max(1, limits.workers) {
                    pool.spawned += 1
                    return .some(ScriptWorker())
                }
                pool.wait(continuation, team: team)
                return .none
            }
            if case .some(let worker) = ready { continuation.resume(returning: worker) }
        }
    }

    private func checkIn(_ worker: ScriptWorker) {
        enum Next { case handOff(CheckedContinuation<ScriptWorker?, Never>), keep, stop }
        let next: Next = pool.withLock { pool in
            if pool.closed { return .stop }
            if let waiter = pool.nextWaiter() { return .handOff(waiter) }
            pool.idle.append(worker)
            return .keep
        }
        switch next {
        case .handOff(let waiter): waiter.resume(returning: worker)
        case .keep: break
        case .stop: worker.stop()
        }
    }
}

extension ScriptRunner {
    /// What a filter makes of `event`: its verdict, or why it gave none.
    public func filter(key: String, source: String, event: Event) async -> FilterVerdict {
        FilterVerdict(await call(key: key, source: source, arguments: HookScripts.filterArguments(for: event)))
    }

    /// A transform applied to `body`: the object or array to send instead. It waits for a worker in
    /// `team`'s queue.
    public func transform(key: String, source: String, body: String, team: Int64 = 0) async throws(TransformError) -> String {
        switch await run(key: key, source: source, arguments: "[" + body + "]", team: team).result {
        case .success(let value): return try HookScripts.transformedBody(type: value.type, json: value.json).get()
        case .failure(let failure): throw TransformError(message: failure.description)
        }
    }
}

extension FilterVerdict {
    /// The verdict of a filter call: its boolean, or the note for why it gave none.
    public init(_ result: ScriptResult) {
        switch result {
        case .success(let value): self = HookScripts.verdict(type: value.type, json: value.json)
        case .failure(.timedOut): self = .skip(note: FilterVerdict.timedOut)
        case .failure(let failure): self = FilterVerdict.error(failure.description)
        }
    }
}

/// A script's return value: its `typeof` and its JSON (`null` for `undefined`).
public struct ScriptValue: Sendable, Hashable {
    /// `boolean`, `number`, `string`, `object`, `array`, `null`, `undefined`, `function`.
    public var type: String
    public var json: String
}

/// Why a script call gave no value.
public enum ScriptFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The source is not a function (a syntax error, or another kind of value).
    case compile(String)
    /// The function threw.
    case threw(String)
    /// The function allocated past the memory limit.
    case memory(Int)
    /// The function ran past the time limit.
    case timedOut(Duration)
    /// No worker could run it.
    case unavailable(String)

    public var description: String {
        switch self {
        case .compile(let message): "the script is not a function: \(message)"
        case .threw(let message): message
        case .memory(let megabytes): "the script used more than \(megabytes) MiB"
        case .timedOut(let limit): "the script ran longer than \(limit.milliseconds) ms"
        case .unavailable(let message): message
        }
    }
}

public typealias ScriptResult = Result<ScriptValue, ScriptFailure>

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// One `herald-js` process, used by one call at a time (the pool hands it out).
final class ScriptWorker: @unchecked Sendable {
    // Only touched by the call that has checked the worker out.
    private var process: SpawnedProcess?
    var processID: pid_t { process?.pid ?? 0 }
    private var input: Int32 = -1
    private var output: Int32 = -1

    func exchange(key: String, source: String, arguments: String, executable: String, limits: ScriptLimits) -> ScriptResult {
        let sourceBytes = Array(source.utf8), argumentBytes = Array(arguments.utf8)
        let request = Array("\(key) \(sourceBytes.count) \(argumentBytes.count)\n".utf8) + sourceBytes + argumentBytes
        // A worker that died while idle (killed, out of memory at the OS level) is replaced and the
        // call made again once; a fresh worker that dies is an error.
        var response = Response.closed
        for _ in 0..<2 {
            let fresh = process == nil
            if fresh, let error = spawn(executable: executable, memoryMegabytes: limits.memoryMegabytes) { return .failure(.unavailable(error)) }
            let deadline = ContinuousClock.now + limits.timeout
            response = writeAll(request) ? readResponse(until: deadline) : .closed
            if case .closed = response {
                stop()
                if !fresh { continue }
            }
            break
        }
        switch response {
        case .timedOut:
            stop()
            return .failure(.timedOut(limits.timeout))
        case .closed:
            stop()
            return .failure(.unavailable("the JavaScript worker stopped"))
        case .response(let status, let kind, let body):
            if status == "ok" { return .success(ScriptValue(type: kind, json: body)) }
            switch kind {
            case "memory": return .failure(.memory(limits.memoryMegabytes))
            case "compile": return .failure(.compile(body))
            default: return .failure(.threw(body))
            }
        }
    }

    func stop() {
        guard let process else { return }
        process.send(SIGKILL)
        process.waitUntilExit()
        close(input)
        close(output)
        self.process = nil
        input = -1
        output = -1
    }

    /// Serialises spawns, so no worker inherits another's pipe ends between `pipe` and `FD_CLOEXEC`.
    private static let spawning = Mutex(())

    /// Starts the process; returns why it could not.
    private func spawn(executable: String, memoryMegabytes: Int) -> String? {
        Self.spawning.withLock { _ in spawnLocked(executable: executable, memoryMegabytes: memoryMegabytes) }
    }

    private func spawnLocked(executable: String, memoryMegabytes: Int) -> String? {
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0 else { return "cannot create a pipe: \(String(cString: strerror(errno)))" }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0])
            close(toChild[1])
            return "cannot create a pipe: \(String(cString: strerror(errno)))"
        }
        for descriptor in toChild + fromChild { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let arguments = ScriptRunner.workerArguments(executable).dropFirst() + [String(memoryMegabytes)]
        let child: SpawnedProcess
        do {
            child = try SpawnedProcess(executable: executable, arguments: Array(arguments), standardInput: toChild[0], standardOutput: fromChild[1])
        } catch {
            close(toChild[0]); close(toChild[1]); close(fromChild[0]); close(fromChild[1])
            return "\(error)"
        }
        close(toChild[0])
        close(fromChild[1])
        process = child
        input = toChild[1]
        output = fromChild[0]
        return nil
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(input, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    private enum Response {
        case response(status: String, kind: String, body: String)
        case timedOut
        case closed
    }

    private func readResponse(until deadline: ContinuousClock.Instant) -> Response {
        var buffer: [UInt8] = []
        var bodyLength: Int?
        var headerEnd = 0
        var header: [Substring] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if headerEnd == 0, let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                header = String(decoding: buffer[..<newline], as: UTF8.self).split(separator: " ")
                guard header.count == 3, let length = Int(header[2]) else { return .closed }
                bodyLength = length
                headerEnd = newline + 1
            }
            if let bodyLength, buffer.count >= headerEnd + bodyLength {
                let body = String(decoding: buffer[headerEnd..<(headerEnd + bodyLength)], as: UTF8.self)
                return .response(status: String(header[0]), kind: String(header[1]), body: body)
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return .timedOut }
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(clamping: max(1, remaining.milliseconds)))
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if ready == 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return .closed }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}
