import ArgumentParser

@main
struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: signed, logged, retried webhooks for your domain events.",
        subcommands: [Serve.self, Migrate.self, AdminCommand.self, TeamCommand.self, TokenCommand.self, DatabaseCommand.self, Emit.self, Replay.self, Verify.self, Listen.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}
