import Foundation
import HeraldDelivery
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SpawnedProcessTests {
    /// Runs `/bin/sh -c script` with its output in a pipe; returns how it ended and what it wrote.
    private func shell(_ script: String, environment: [String: String]? = nil, directory: String? = nil) throws -> (SpawnedProcess.Termination, String) {
        let output = Pipe()
        let process = try SpawnedProcess(
            executable: "/bin/sh", arguments: ["-c", script], environment: environment, directory: directory,
            standardOutput: output.fileHandleForWriting.fileDescriptor, standardError: output.fileHandleForWriting.fileDescriptor)
        try output.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.waitUntilExit(), text)
    }

    @Test func exitCodesArgumentsEnvironmentAndDirectoryReachTheChild() throws {
        let (ended, text) = try shell("echo \"$GREETING $(pwd)\"; exit 7", environment: ["GREETING": "hello"], directory: "/tmp")
        #expect(ended == .exited(7))
        #expect(text == "hello /tmp\n")
    }

    /// A process with well over a thousand descriptors open starts children again and again (the
    /// case where listing `/proc/self/fd` by whole 256-byte names faults), and none of those
    /// descriptors reaches a child: it sees only standard input, output and error (and the
    /// directory `ls` itself opens).
    @Test func manyOpenDescriptorsStayBehind() throws {
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        for _ in 0..<1_500 {
            let descriptor = open("/dev/null", O_RDONLY)  // without O_CLOEXEC, as a careless library opens one
            guard descriptor >= 0 else { break }
            opened.append(descriptor)
        }
        try #require(opened.count > 1_000, "could open only \(opened.count) descriptors")
        for _ in 0..<20 {
            let (ended, text) = try shell("ls /proc/self/fd")
            #expect(ended == .exited(0))
            let inherited = text.split(separator: "\n").compactMap { Int32($0) }.filter { $0 > 3 }
            #expect(inherited.isEmpty, "the child inherited \(inherited.count) descriptors")
        }
    }

    @Test func aSignalEndsTheChildAndIsReported() throws {
        let process = try SpawnedProcess(executable: "/bin/sleep", arguments: ["60"])
        #expect(process.isRunning)
        process.send(SIGTERM)
        #expect(process.waitUntilExit() == .signalled(SIGTERM))
        #expect(!process.isRunning)
        #expect(process.termination == .signalled(SIGTERM))
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: SpawnedProcess.SpawnError.self) {
            try SpawnedProcess(executable: "/nonexistent/program", arguments: [])
        }
    }
}
