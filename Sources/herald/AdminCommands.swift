import ArgumentParser
import Foundation
import HeraldCore
import HeraldServer
import HummingbirdBcrypt

struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "team", abstract: "Manage teams.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team (a tenant that owns hooks).")
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Option(help: "Display name, e.g. \"Economic Development Bank\".") var name: String
        @Option(help: "Short lower-case id used in URLs and channels, e.g. bde.") var slug: String

        func run() async throws {
            guard Team.isValidSlug(slug) else { throw ValidationError("--slug must be lower-case letters, digits and dashes") }
            guard !Team.isReservedSlug(slug) else { throw ValidationError("--slug \(slug) is reserved for the config file's hooks") }
            guard Team.isValidName(name) else { throw ValidationError("--name must be readable text, without control characters") }
            let store = try await openCommandStore(dataDirectory)
            do {
                let team = try await store.createTeam(name: name, slug: slug, now: Date())
                print("Created team \(team.slug) (id \(team.id)).")
            } catch StoreError.conflict(let message) {
                throw ValidationError(message)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List teams.")
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() async throws {
            for team in try await openCommandStore(dataDirectory).teams() { print("\(team.id)\t\(team.slug)\t\(team.name)") }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage API tokens.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API token and print it (it is shown once).")
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Option(help: "admin (everything), provider (emit events, read logs) or team (one team's hooks).") var scope: String
        @Option(help: "The team's slug (team tokens only).") var team: String?
        @Option(help: "A name to recognise the token by.") var name: String = "cli"

        func run() async throws {
            guard let scope = TokenScope(rawValue: scope) else { throw ValidationError("--scope must be admin, provider or team") }
            let store = try await openCommandStore(dataDirectory)
            var teamID: Int64?
            if scope == .team {
                guard let slug = team else { throw ValidationError("a team token needs --team SLUG") }
                guard let found = try await store.team(slug: slug) else { throw ValidationError("no team with slug \(slug)") }
                teamID = found.id
            } else if team != nil {
                throw ValidationError("only team tokens take --team")
            }
            print(try await store.issueToken(name: name, scope: scope, teamID: teamID, createdBy: "command line").secret)
        }
    }
}

func openCommandStore(_ option: DataDirectoryOption) async throws -> any HeraldStore {
    var configuration = HeraldConfiguration()
    option.apply(to: &configuration)
    return try await openStore(configuration: configuration).0
}

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin", abstract: "Manage web UI administrators.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an administrator who signs in to the web UI.")
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Option(help: "The administrator's email address.") var email: String
        @Option(help: "Their password (at least 10 characters); omitted, one is generated and printed.") var password: String?

        func run() async throws {
            guard User.isValidEmail(email) else { throw ValidationError("--email must be an email address") }
            if let password, password.count < 10 { throw ValidationError("--password must have at least 10 characters") }
            let chosen = password ?? String(Session.randomToken().prefix(20))
            let store = try await openCommandStore(dataDirectory)
            do {
                _ = try await store.createUser(email: email, passwordHash: Bcrypt.hash(chosen), role: .admin, teamID: nil, now: Date())
            } catch StoreError.conflict(let message) {
                throw ValidationError(message)
            }
            print(password == nil ? "Created administrator \(email) with password: \(chosen)" : "Created administrator \(email).")
        }
    }
}

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Manage document databases.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a document database, served at /db/NAME; its writes are NAME.document_changed events."
        )
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Argument(help: "Lower-case letters, digits, _ and -, starting with a letter, e.g. leads.") var name: String

        func run() async throws {
            guard DatabaseInfo.isValidName(name) else { throw ValidationError("NAME must be lower-case letters, digits, _ and -, starting with a letter") }
            do {
                _ = try await openCommandStore(dataDirectory).createDocumentDatabase(name)
                print("Created database \(name): /db/\(name), events \(DatabaseInfo.changeEventType(name)).")
            } catch StoreError.conflict(let message) {
                throw ValidationError(message)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List document databases.")
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() async throws {
            for name in try await openCommandStore(dataDirectory).databaseNames() { print(name) }
        }
    }
}
