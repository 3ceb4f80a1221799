import ArgumentParser
import HeraldBench
import HeraldCore
import CHeraldJS
import Foundation

@main
enum Entry {
    /// `herald __js-worker` is the JavaScript worker (``ScriptRunner`` starts it when no
    /// `herald-js` is installed beside this program); anything else is the command line.
    static func main() async {
        let arguments = CommandLine.arguments
        if arguments.count > 1 && arguments[1] == "__js-worker" {
            var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
            exit(herald_js_main(Int32(argv.count - 1), &argv))
        }
        var commandLine = Array(arguments.dropFirst())
        var sources: [String] = []
        if let serveAt = ServeSettings.serveArgumentsStart(commandLine) {
            do {
                let expanded = try ServeSettings.expand(Array(commandLine[serveAt...]))
                commandLine = Array(commandLine[..<serveAt]) + expanded.arguments
                sources = expanded.sources
            } catch {
                Herald.exit(withError: ValidationError(String(describing: error)))
            }
        }
        do {
            var command = try Herald.parseAsRoot(commandLine)
            if var asyncCommand = command as? any AsyncParsableCommand {
                // What a command changes is the command line's in the audit log; a server's requests
                // name their own actor.
                if command is Serve {
                    try await asyncCommand.run()
                } else {
                    try await AuditActor.$current.withValue(.commandLine) {
                        // The command is run once, here, and touched by nothing else.
                        nonisolated(unsafe) var running = asyncCommand
                        try await running.run()
                    }
                }
            } else {
                try command.run()
            }
        } catch {
            // A value from the environment or a settings file is named, not only its option.
            if Herald.exitCode(for: error) != .success, !sources.isEmpty {
                FileHandle.standardError.write(Data(("settings given by " + sources.joined(separator: "; ") + "\n").utf8))
            }
            Herald.exit(withError: error)
        }
    }
}

struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: signed, logged, retried webhooks for your domain events.",
        version: HeraldVersion.current,
        subcommands: [Serve.self, Migrate.self, RotateMasterKey.self, AdminCommand.self, TeamCommand.self, TokenCommand.self, DatabaseCommand.self, Emit.self, Replay.self, Verify.self, Listen.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
