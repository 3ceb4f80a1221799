import CHeraldJS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program started with `posix_spawn`: standard input, output and error set by the caller, every
/// other descriptor of this process closed in the child, default signal dispositions and an empty
/// signal mask, so the child answers `SIGINT`/`SIGTERM` whichever thread started it.
///
/// Herald starts its script workers and benchmark nodes this way rather than with Foundation's
/// `Process`: on Linux, `Process.run` lists `/proc/self/fd` copying each entry's name as a whole
/// 256-byte field, which reads past the end of the directory buffer — and faults — when a busy
/// process (a server with a thousand sockets open) has an entry near the end of a page.
public final class SpawnedProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Termination?

    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or the signal's number as Foundation's `terminationStatus` gives it.
        public var code: Int32 {
            switch self {
            case .exited(let code), .signalled(let code): code
            }
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts `executable`. `environment` replaces this process's environment when given;
    /// descriptors left nil are inherited (0, 1 and 2 only).
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        standardInput: Int32? = nil, standardOutput: Int32? = nil, standardError: Int32? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, target) in [(standardInput, Int32(0)), (standardOutput, 1), (standardError, 2)] {
            if let descriptor { posix_spawn_file_actions_adddup2(&actions, descriptor, target) }
        }
        let closing = herald_spawn_close_inherited(&actions)
        guard closing == 0 else { throw SpawnError(description: "cannot prepare descriptors: \(String(cString: strerror(closing)))") }
        if let directory {
            let changing = herald_spawn_chdir(&actions, directory)
            guard changing == 0 else { throw SpawnError(description: "cannot start in \(directory): \(String(cString: strerror(changing)))") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }

        var child: pid_t = 0
        let rc = envp.map { envp in posix_spawn(&child, executable, &actions, &attributes, argv, envp) }
            ?? posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Whether the child has not ended yet (reaps it when it has).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// How the child ended, nil while it runs.
    public var termination: Termination? { reap(blocking: false) }

    /// Waits for the child to end, blocking the calling thread.
    @discardableResult
    public func waitUntilExit() -> Termination {
        while true {
            if let ended = reap(blocking: true) { return ended }
            // Another thread reaped it at the same moment and is about to store how it ended.
            usleep(1_000)
        }
    }

    /// Sends `signal` to the child unless it has been reaped (its pid may then be another's).
    public func send(_ signal: Int32) {
        lock.withLock { if status == nil { _ = kill(pid, signal) } }
    }

    private func reap(blocking: Bool) -> Termination? {
        if let ended = lock.withLock({ status }) { return ended }
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while result == -1 && errno == EINTR
        guard result == pid else { return lock.withLock { status } }
        // WIFEXITED / WTERMSIG, which Swift does not import as functions.
        let ended: Termination = raw & 0x7f == 0 ? .exited((raw >> 8) & 0xff) : .signalled(raw & 0x7f)
        return lock.withLock {
            if status == nil { status = ended }
            return status
        }
    }
}
