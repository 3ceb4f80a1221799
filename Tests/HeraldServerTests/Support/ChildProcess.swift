import Foundation
import HeraldDelivery
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `herald` child process whose output goes to a log file the test can read.
final class ChildProcess: @unchecked Sendable {
    let process: SpawnedProcess
    let log: URL

    init(
        binary: URL, arguments: [String], environment: [String: String] = [:], currentDirectory: URL? = nil,
        logDirectory: URL = FileManager.default.temporaryDirectory
    ) throws {
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        log = logDirectory.appendingPathComponent("herald-child-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process = try SpawnedProcess(
            executable: binary.path, arguments: arguments,
            environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 },
            directory: currentDirectory?.path, standardOutput: handle.fileDescriptor, standardError: handle.fileDescriptor)
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits until the output matches `pattern` and returns the first capture group (or the match).
    func waitFor(_ pattern: String, timeout: Duration = .seconds(30)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = Range(match.range(at: match.numberOfRanges > 1 ? 1 : 0), in: text)!
                return String(text[range])
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ChildProcessError(description: "no match for \(pattern) in output:\n\(output)")
    }

    /// Waits for the process to exit without holding a thread of the concurrency pool (receivers in
    /// this process need those threads to answer it meanwhile).
    func exited(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw ChildProcessError(description: "still running after \(timeout):\n\(output)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.waitUntilExit().code
    }

    /// Waits until something accepts connections on 127.0.0.1:`port` (a tool that prints no port).
    static func waitForPort(_ port: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? RawSocket(port: port)) != nil { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ChildProcessError(description: "nothing listens on 127.0.0.1:\(port) after \(timeout)")
    }

    /// Waits for the port printed in a `http://127.0.0.1:PORT` line.
    func waitForPort() async throws -> Int {
        Int(try await waitFor(#"http://127\.0\.0\.1:(\d+)"#)) ?? 0
    }

    func kill() {
        process.send(SIGKILL)
        process.waitUntilExit()
    }

    /// Asks the process to stop (SIGINT) and gives it 30 s to finish gracefully; past that it is
    /// killed and the test fails, so a shutdown that hangs shows as a failure instead of a stuck run.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) {
        if process.isRunning {
            process.send(SIGINT)
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
            if process.isRunning {
                Issue.record("herald did not stop within 30 s of SIGINT:\n\(output.suffix(4000))", sourceLocation: sourceLocation)
                kill()
            }
        }
        try? FileManager.default.removeItem(at: log)
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
}
