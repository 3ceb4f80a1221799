import Foundation
import HeraldCore
import Testing

/// What the `herald` program checks and sets up before it serves.
@Suite struct CommandLineTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func versionIsPrinted() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let result = try await ExternalTools.runOffPool(binary.path, ["--version"])
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == HeraldVersion.current)
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func aBadPortInTheEnvironmentIsAnErrorNotTheDefault() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let child = try ChildProcess(binary: binary, arguments: ["serve", "--data-dir", dataDirectory.path], environment: ["HERALD_PORT": "80x"])
        defer { child.stop() }
        #expect(try await child.exited() != 0)
        #expect(child.output.contains("HERALD_PORT=80x is not a port"), "\(child.output)")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theDataDirectoryAndDatabaseAreTheOwnersOnly() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let result = try await ExternalTools.runOffPool(binary.path, ["migrate", "--data-dir", dataDirectory.path])
        #expect(result.status == 0, "\(result.output)")
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        #expect(try mode(dataDirectory.path) == 0o700)
        #expect(try mode(dataDirectory.appendingPathComponent("herald.sqlite").path) == 0o600)
    }
}
