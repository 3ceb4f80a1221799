import Foundation
import HeraldCore
import HeraldSQLite
import Testing

/// What the `herald` program checks and sets up before it serves.
@Suite struct CommandLineTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func versionIsPrinted() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let result = try await ExternalTools.run(binary.path, ["--version"])
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

    /// `/healthz` shows two settings (`max_backlog`, `min_free_disk_bytes`) of a running server.
    func servedSettings(_ arguments: [String], environment: [String: String]) async throws -> JSONValue {
        let binary = try #require(ExternalTools.heraldBinary)
        let child = try ChildProcess(binary: binary, arguments: arguments, environment: environment)
        defer { child.stop() }
        let port = try await child.waitForPort()
        return try await HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)").call(.GET, "/healthz", token: nil).json
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func settingsComeFromTheCommandLineTheEnvironmentAndAFileInThatOrder() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("herald.json")
        try #"{"max_backlog": 1111, "min-free-disk-mb": 3, "allow_private_targets": true, "port": 0}"#.write(to: file, atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("data").path
        // The file alone.
        let fromFile = try await servedSettings(["serve", "--data-dir", data, "--settings", file.path], environment: [:])
        #expect(fromFile["max_backlog"] == .int(1111))
        #expect(fromFile["min_free_disk_bytes"] == .int(3 * 1_048_576))
        // The environment over the file (HERALD_SETTINGS names the file), the command line over both.
        let environment = ["HERALD_SETTINGS": file.path, "HERALD_MAX_BACKLOG": "2222"]
        let fromEnvironment = try await servedSettings(["serve", "--data-dir", data], environment: environment)
        #expect(fromEnvironment["max_backlog"] == .int(2222))
        #expect(fromEnvironment["min_free_disk_bytes"] == .int(3 * 1_048_576))
        let fromCommandLine = try await servedSettings(["--data-dir", data, "--max-backlog", "3333"], environment: environment)
        #expect(fromCommandLine["max_backlog"] == .int(3333))

        // A mistake stops the start, naming where it is (ServeSettingsTests has the others).
        let binary = try #require(ExternalTools.heraldBinary)
        try #"{"max_backlog": "lots"}"#.write(to: file, atomically: true, encoding: .utf8)
        let child = try ChildProcess(binary: binary, arguments: ["serve", "--data-dir", data, "--settings", file.path])
        defer { child.stop() }
        #expect(try await child.exited() != 0)
        #expect(child.output.contains("settings given by settings file \(file.path): --max-backlog lots"), "\(child.output)")
        #expect(child.output.contains("'lots' is invalid for '--max-backlog"), "\(child.output)")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func anInstalledHeraldFindsItsPagesBesideItself() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let manager = FileManager.default
        let prefix = manager.temporaryDirectory.appendingPathComponent("herald-install-\(UUID().uuidString)")
        defer { try? manager.removeItem(at: prefix) }
        // deploy/install.sh (what the container image runs) puts bin/herald, bin/herald-js and
        // share/herald/{Templates,Public} in the prefix; Herald runs from a directory that has neither.
        let install = try await ExternalTools.run(
            "/bin/bash",
            [ExternalTools.packageRoot.appendingPathComponent("deploy/install.sh").path, "--prefix", prefix.path, "--bin-path", binary.deletingLastPathComponent().path]
        )
        try #require(install.status == 0, "\(install.output)")
        for installed in ["bin/herald", "bin/herald-js", "share/herald/Templates/login.mustache", "share/herald/Public/herald.css"] {
            #expect(manager.fileExists(atPath: prefix.appendingPathComponent(installed).path), "\(installed) not installed")
        }
        try manager.createDirectory(at: prefix.appendingPathComponent("work"), withIntermediateDirectories: true)
        let herald = try ChildProcess(
            binary: prefix.appendingPathComponent("bin/herald"), arguments: ["serve", "--data-dir", "data", "--port", "0"],
            currentDirectory: prefix.appendingPathComponent("work")
        )
        defer { herald.stop() }
        let port = try await herald.waitForPort()
        let page = try await WebClient(baseURL: "http://127.0.0.1:\(port)").get("/login")
        #expect(page.status == 200 && page.html.contains("Sign in"), "\(page.html.prefix(300))")
        let css = try await HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)").call(.GET, "/public/herald.css", token: nil)
        #expect(css.status == 200)
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theDeploymentFilesUseOnlyFlagsHeraldHas() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let help = try await ExternalTools.run(binary.path, ["serve", "--help"])
        let root = ExternalTools.packageRoot
        let unit = try String(contentsOf: root.appendingPathComponent("deploy/herald.service"), encoding: .utf8)
        let dockerfile = try String(contentsOf: root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let execStart = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let command = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("CMD [\"serve\"") })
        let flags = (execStart + " " + command).split(whereSeparator: { " \",[]".contains($0) }).filter { $0.hasPrefix("--") }
        for flag in flags { #expect(help.output.contains(String(flag)), "herald serve has no \(flag)") }
        #expect(execStart.hasPrefix("ExecStart=/usr/local/bin/herald serve"))
        // The unit's HERALD_… settings are options of serve (or the key file).
        // The unit's and the image's HERALD_… settings are options of serve (or the key file): the
        // image sets its port and host as environment, so `docker run -e HERALD_PORT=…` wins.
        let unitNames = unit.split(separator: "\n").filter { $0.hasPrefix("Environment=") }.flatMap { $0.dropFirst("Environment=".count).split(separator: " ") }
        let imageNames = dockerfile.split(separator: "\n").filter { $0.hasPrefix("ENV ") }.flatMap { $0.dropFirst("ENV ".count).split(separator: " ") }
        let names = (unitNames + imageNames).map { String($0.prefix { $0 != "=" }) }
        #expect(names.contains("HERALD_PORT") && names.contains("HERALD_HOST"))
        #expect(dockerfile.contains("USER 10001:10001") && dockerfile.contains("${HERALD_PORT}/readyz"))
        for name in names where name != "HERALD_MASTER_KEY_FILE" {
            let option = "--" + name.dropFirst("HERALD_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            #expect(help.output.contains(option), "\(name) is no option of herald serve")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func rotatingTheMasterKeySealsEverySecretAnewAndResumesWhenInterrupted() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-rotate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        #expect(try await ExternalTools.run(binary.path, ["migrate", "--data-dir", dataDirectory.path]).status == 0)
        let keyFile = dataDirectory.appendingPathComponent("master.key")
        let original = try SecretBox.load(dataDirectory: dataDirectory, environment: [:])
        let hookID: Int64
        do {
            let store = try SQLiteStore(directory: dataDirectory)
            let team = try await store.createTeam(name: "BDE", slug: "bde", now: Date())
            var settings = HookSettings(url: "https://example.org/hook")
            settings.events = ["*"]
            hookID = try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try original.seal("whsec_first"), now: Date()).hook.id
        }
        func sealedSecret() async throws -> Data { try #require(try await SQLiteStore(directory: dataDirectory).hook(id: hookID)).encryptedSecret }

        let rotated = try await ExternalTools.run(binary.path, ["rotate-master-key", "--data-dir", dataDirectory.path])
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("Sealed the secrets of 1 hooks"))
        #expect(!FileManager.default.fileExists(atPath: SecretBox.previousKeyFile(keyFile).path))
        let second = try SecretBox.load(dataDirectory: dataDirectory, environment: [:])
        #expect(try second.open(try await sealedSecret()) == "whsec_first")
        #expect((try? original.open(try await sealedSecret())) == nil, "the old key no longer opens it")

        // Interrupted after the new key was written and before anything was sealed anew: run again,
        // it finishes with that key instead of making a third.
        let interrupted = try SecretBox.beginRotation(keyFile: keyFile)
        let keyDuringRotation = try #require(FileManager.default.contents(atPath: keyFile.path))
        #expect(try interrupted.open(try await sealedSecret()) == "whsec_first", "both keys open secrets meanwhile")
        let resumed = try await ExternalTools.run(binary.path, ["rotate-master-key", "--data-dir", dataDirectory.path])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(FileManager.default.contents(atPath: keyFile.path) == keyDuringRotation)
        #expect(!FileManager.default.fileExists(atPath: SecretBox.previousKeyFile(keyFile).path))
        #expect((try? second.open(try await sealedSecret())) == nil)
        #expect(try SecretBox.load(dataDirectory: dataDirectory, environment: [:]).open(try await sealedSecret()) == "whsec_first")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theDataDirectoryAndDatabaseAreTheOwnersOnly() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let result = try await ExternalTools.run(binary.path, ["migrate", "--data-dir", dataDirectory.path])
        #expect(result.status == 0, "\(result.output)")
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        #expect(try mode(dataDirectory.path) == 0o700)
        #expect(try mode(dataDirectory.appendingPathComponent("herald.sqlite").path) == 0o600)
    }

    /// `emit` and `replay` against a server that is not there: one clear line and a failure status,
    /// not a wait of half a minute.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theCommandsThatCallAServerSayClearlyWhenItIsNotThere() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        // A port nothing listens on: bound, then closed.
        let closed = try RawSocketPort.unused()
        for arguments in [["emit", "lead.created", "--url", "http://127.0.0.1:\(closed)", "--token", "hrld_x"],
                          ["replay", "--hook", "1", "--since", "1h", "--url", "http://127.0.0.1:\(closed)", "--token", "hrld_x"]] {
            let result = try await ExternalTools.run(binary.path, arguments)
            #expect(result.status != 0)
            #expect(result.output.contains("cannot reach the Herald server at http://127.0.0.1:\(closed) (connection refused)"), "\(result.output)")
        }
    }

    /// A start whose PostgreSQL cannot be reached fails after its bound, saying so, instead of
    /// retrying for ever without listening.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"), .timeLimit(.minutes(1)))
    func aStartWhoseDatabaseCannotBeReachedFailsLoudly() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let closed = try RawSocketPort.unused()
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-nodb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let herald = try ChildProcess(
            binary: binary,
            arguments: [
                "serve", "--data-dir", dataDirectory.path, "--port", "0", "--database", "postgres://herald:herald@127.0.0.1:\(closed)/herald",
                "--database-connect-timeout-seconds", "2",
            ]
        )
        defer { herald.stop() }
        #expect(try await herald.exited(timeout: .seconds(40)) != 0)
        #expect(herald.output.contains("cannot reach PostgreSQL at 127.0.0.1:\(closed) within 2 s"), "\(herald.output.suffix(2000))")
    }
}
