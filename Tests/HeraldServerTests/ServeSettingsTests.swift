import Foundation
import Testing

@testable import herald

/// Which source gives `herald serve` each setting (the process-level test in `CommandLineTests`
/// reads the effective values back from a running server).
@Suite struct ServeSettingsTests {
    static let options: [String: ServeSettings.Kind] = ["max-backlog": .value, "allow-target": .list, "allow-private-targets": .flag, "port": .value, "database": .value]

    func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-settings-\(UUID().uuidString).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theOptionsAreReadFromTheParsersDescriptionOfServe() {
        let options = ServeSettings.options()
        #expect(options["max-in-flight"] == .value)
        #expect(options["allow-private-targets"] == .flag)
        #expect(options["allow-target"] == .list)
        #expect(options["trusted-proxy"] == .list)
        #expect(options["data-dir"] == .value)
        #expect(options["help"] == nil && options["settings"] == nil)
        // Every option the help lists is a setting, and nothing else is.
        let listed = Set(Serve.helpMessage(columns: 10_000).split(separator: " ").compactMap { word -> String? in
            guard word.hasPrefix("--") else { return nil }
            return String(word.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" })
        }).subtracting(["help", "version", "settings", ""])
        #expect(Set(options.keys) == listed)
    }

    @Test func aRepeatableOptionTakesItsWholeListFromOneSource() throws {
        let path = try file(#"{"allow_target": ["10.0.0.0/8", "10.9.0.0/16"]}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fileOnly = try ServeSettings.expand(["--settings", path], environment: [:], options: Self.options).arguments
        #expect(fileOnly == ["--allow-target", "10.0.0.0/8", "--allow-target", "10.9.0.0/16"])
        let environment = ["HERALD_ALLOW_TARGET": "192.168.1.0/24"]
        #expect(try ServeSettings.expand(["--settings", path], environment: environment, options: Self.options).arguments == ["--allow-target", "192.168.1.0/24"])
        let commandLine = try ServeSettings.expand(["--settings", path, "--allow-target", "172.16.0.0/12"], environment: environment, options: Self.options)
        #expect(commandLine.arguments == ["--allow-target", "172.16.0.0/12"])
    }

    @Test func everyRepeatableOptionTakesACommaSeparatedListFromTheEnvironment() throws {
        let expanded = try ServeSettings.expand([], environment: ["HERALD_TRUSTED_PROXY": "10.0.0.0/8, 192.168.0.0/16"]).arguments
        #expect(expanded == ["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "192.168.0.0/16"])
    }

    @Test func aFlagSetToZeroInTheEnvironmentTakesBackTheFilesTrue() throws {
        let path = try file(#"{"allow_private_targets": true, "max_backlog": 10}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try ServeSettings.expand([], environment: ["HERALD_SETTINGS": path], options: Self.options).arguments == ["--allow-private-targets", "--max-backlog", "10"])
        let off = try ServeSettings.expand([], environment: ["HERALD_SETTINGS": path, "HERALD_ALLOW_PRIVATE_TARGETS": "0"], options: Self.options)
        #expect(off.arguments == ["--max-backlog", "10"])
    }

    @Test func heraldPortAndDatabaseURLKeepTheirNamesAndBeatTheFile() throws {
        let path = try file(#"{"port": 9000, "database": "postgres://file/herald"}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try ServeSettings.expand(["--settings", path], environment: [:], options: Self.options).arguments == [
            "--database", "postgres://file/herald", "--port", "9000",
        ])
        // HERALD_PORT is read (and checked) by serve itself: the file's port gives way to it.
        let environment = ["HERALD_PORT": "9100", "HERALD_DATABASE_URL": "postgres://env/herald", "HERALD_DATABASE": "ignored"]
        #expect(try ServeSettings.expand(["--settings", path], environment: environment, options: Self.options).arguments == [
            "--database", "postgres://env/herald",
        ])
    }

    @Test(arguments: [
        (#"{"max_backlogg": 5}"#, #""max_backlogg" is not a setting of herald serve"#),
        (#"{"allow_private_targets": "yes"}"#, "is a flag: true or false"), ("{", "invalid JSON"), ("[1]", "must hold a JSON object"),
        (#"{"max_backlog": [1, 2]}"#, "takes one value, not a list"), (#"{"max_backlog": {"a": 1}}"#, "must be a string or a number"),
    ])
    func aMistakeInTheFileIsAnErrorNamingTheFileAndKey(_ json: String, _ message: String) throws {
        let path = try file(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ServeSettings.expand(["--settings", path], environment: [:], options: Self.options)
            Issue.record("\(json) was accepted")
        } catch {
            #expect("\(error)".contains(message) && "\(error)".contains(path), "\(error)")
        }
    }

    @Test func aFlagInTheEnvironmentIsOneOrZero() {
        #expect(throws: ServeSettings.Failure.self) { try ServeSettings.expand([], environment: ["HERALD_ALLOW_PRIVATE_TARGETS": "maybe"], options: Self.options) }
    }

    @Test func serveIsTheCommandWhenNoneIsNamed() {
        #expect(ServeSettings.serveArgumentsStart([]) == 0)
        #expect(ServeSettings.serveArgumentsStart(["--port", "1"]) == 0)
        #expect(ServeSettings.serveArgumentsStart(["serve", "--port", "1"]) == 1)
        #expect(ServeSettings.serveArgumentsStart(["migrate"]) == nil)
        #expect(ServeSettings.serveArgumentsStart(["--version"]) == nil)
    }
}
