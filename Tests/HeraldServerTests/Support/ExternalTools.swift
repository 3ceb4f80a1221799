import Foundation
import Synchronization
import HeraldDelivery
import Testing

/// Paths and services the cross-process tests need, and the rule for when they are missing:
/// skip with a message on a developer machine, fail under CI (`CI=true`).
enum ExternalTools {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The `herald` executable built next to the test bundle.
    static var heraldBinary: URL? {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("herald")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let fallback = packageRoot.appendingPathComponent(".build/debug/herald")
        return FileManager.default.isExecutableFile(atPath: fallback.path) ? fallback : nil
    }

    /// A Python interpreter that can import `module`: `HERALD_TEST_PYTHON`, then `.venv-test`, then
    /// `python3`. Found once per module list: each look starts Python, which holds the calling
    /// thread — a thread of the concurrency pool, when a test's trait or body asks — while it imports.
    static func python(importing module: String) -> String? {
        if let found = pythons.withLock({ $0[module] }) { return found }
        let found = findPython(importing: module)
        pythons.withLock { $0[module] = .some(found) }
        return found
    }

    private static let pythons = Mutex<[String: String?]>([:])

    private static func findPython(importing module: String) -> String? {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["HERALD_TEST_PYTHON"] { candidates.append(configured) }
        candidates.append(packageRoot.appendingPathComponent(".venv-test/bin/python").path)
        candidates.append("/usr/bin/python3")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            if (try? runBlocking(candidate, ["-c", "import \(module)"]).status) == 0 { return candidate }
        }
        return nil
    }

    /// Runs a program to completion and returns its exit status and combined output. The wait is on a
    /// dispatch thread: the concurrency pool has as many threads as the machine has cores (two here),
    /// and a program that holds one for seconds (a Python library, a browser) starves every other
    /// test running beside it, and any server in this process the program talks to.
    static func run(_ path: String, _ arguments: [String], stdin: String? = nil) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try runBlocking(path, arguments, stdin: stdin) }) }
        }
    }

    /// ``run(_:_:stdin:)`` on the calling thread: only where nothing can wait (a `defer`), for a
    /// program that ends at once.
    static func runBlocking(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
        let input = Pipe(), output = Pipe()
        let process = try SpawnedProcess(
            executable: path, arguments: arguments, standardInput: input.fileHandleForReading.fileDescriptor,
            standardOutput: output.fileHandleForWriting.fileDescriptor, standardError: output.fileHandleForWriting.fileDescriptor)
        try input.fileHandleForReading.close()
        try output.fileHandleForWriting.close()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return (process.waitUntilExit().code, String(decoding: data, as: UTF8.self))
    }

    /// For `@Test(.enabled(if:))`: a test that needs a tool runs under CI always (a missing tool then
    /// fails it) and elsewhere only when the tool is here, so a skip shows as a skip, never as a pass.
    /// Under CI the tool's look is not even made (it would start a program while the trait is read).
    static func runs(needing available: @autoclosure () -> Bool) -> Bool { isCI || available() }
    /// The tenant-isolation loads: under CI, in their own step (`HERALD_TEST_ISOLATION=1`); elsewhere always.
    static var isolationStep: Bool { ProcessInfo.processInfo.environment["HERALD_TEST_ISOLATION"] == "1" || !isCI }

    static var hasHeraldBinary: Bool { heraldBinary != nil }
    /// The `herald-js` worker for hook filters and transforms, built beside the test binary.
    static var jsWorkerBuilt: Bool { runs(needing: ScriptRunner.locateWorker() != nil) }
    static func hasPython(_ module: String) -> Bool { python(importing: module) != nil }
    static var node: String? { ["/usr/bin/node", "/usr/local/bin/node"].first(where: FileManager.default.isExecutableFile(atPath:)) }
    /// adnanh/webhook, as Debian installs it.
    static var webhook: String? { ["/usr/bin/webhook", "/usr/local/bin/webhook"].first(where: FileManager.default.isExecutableFile(atPath:)) }

    /// Debian's tinyproxy (an HTTP proxy) and microsocks (a SOCKS5 proxy), for the egress proxy.
    static var tinyproxy: String? { ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"].first(where: FileManager.default.isExecutableFile(atPath:)) }
    static var microsocks: String? { ["/usr/bin/microsocks", "/usr/local/bin/microsocks"].first(where: FileManager.default.isExecutableFile(atPath:)) }

    static var go: String? { ["/usr/bin/go", "/usr/local/go/bin/go"].first(where: FileManager.default.isExecutableFile(atPath:)) }

    /// ``python(importing:)`` looked for on a dispatch thread, required as ``require(_:_:)`` does.
    static func requirePython(importing modules: String) async throws -> String {
        try require(await lookUpPython(importing: modules), "Python with \(modules)")
    }

    /// ``python(importing:)`` looked for on a dispatch thread (the first look runs Python).
    static func lookUpPython(importing modules: String) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: python(importing: modules)) }
        }
    }

    /// The tool a test's `.enabled(if:)` trait found: under CI that trait runs the test whether or
    /// not the tool is here, and a missing one fails it through this error.
    static func require<T>(_ tool: T?, _ what: String) throws -> T {
        guard let tool else { throw MissingTool(description: "\(what) is required under CI (.ci/run installs it)") }
        return tool
    }

    struct MissingTool: Error, CustomStringConvertible {
        let description: String
    }
}
