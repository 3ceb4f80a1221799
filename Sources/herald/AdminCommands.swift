import ArgumentParser
import Foundation
import HeraldCore
import HeraldServer
import HummingbirdBcrypt

struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team", abstract: "Manage teams.", subcommands: [Create.self, List.self, Rename.self, Delete.self]
    )

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
            let team = try await refusalsAsMessages { try await People(store: store).createTeam(name: name, slug: slug) }
            print("Created team \(team.slug) (id \(team.id)).")
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

extension TeamCommand {
    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename a team; its slug, channel and URLs stay.")
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Argument(help: "The team's slug.") var slug: String
        @Option(help: "The new display name.") var name: String

        func run() async throws {
            let team = try await refusalsAsMessages { try await People(store: openCommandStore(dataDirectory)).renameTeam(slug: slug, name: name) }
            print("Team \(team.slug) is now \(team.name).")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a team that has no webhooks, members or API tokens left.")
        @OptionGroup var dataDirectory: DataDirectoryOption
        @Argument(help: "The team's slug.") var slug: String

        func run() async throws {
            try await refusalsAsMessages { try await People(store: openCommandStore(dataDirectory)).deleteTeam(slug: slug) }
            print("Deleted team \(slug).")
        }
    }
}

/// Runs `body`, turning a refusal of the rules (a ``Problem``) into the command's error message.
func refusalsAsMessages<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let problem as Problem {
        let fields = problem.errors.map { "--\($0.field.split(separator: "/").last.map { $0.replacingOccurrences(of: "_", with: "-") } ?? "") \($0.message)" }
        throw ValidationError(fields.isEmpty ? problem.detail : fields.joined(separator: "; "))
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
            let (token, secret) = try await store.issueToken(name: name, scope: scope, teamID: teamID, createdBy: "command line")
            try await store.audit("token.created", target: "token \(token.id) (\(name))", teamID: teamID, changes: .object([("scope", .string(scope.rawValue))]))
            print(secret)
        }
    }
}

func openCommandStore(_ option: DataDirectoryOption) async throws -> any HeraldStore {
    var configuration = HeraldConfiguration()
    option.apply(to: &configuration)
    return try await openStore(configuration: configuration).0
}

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "Manage administrators and the people who sign in to the web UI.", subcommands: [Create.self, Users.self]
    )

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

extension AdminCommand {
    struct Users: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "users", abstract: "List, add, change, disable, enable and delete the people who sign in.",
            subcommands: [List.self, Add.self, Set.self, Disable.self, Enable.self, ResetPassword.self, Delete.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List people: id, email, role, team, status, last sign-in.")
            @OptionGroup var dataDirectory: DataDirectoryOption

            func run() async throws {
                let store = try await openCommandStore(dataDirectory)
                let teams = Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0.slug) })
                for user in try await store.users(teamID: nil) {
                    let status = user.disabled ? "disabled" : user.mustChangePassword ? "must-change-password" : "active"
                    let team = user.teamID.flatMap { teams[$0] } ?? "-"
                    print([String(user.id), user.email, user.role.rawValue, team, status, user.lastSignInAt.map(Timestamp.string) ?? "never"].joined(separator: "\t"))
                }
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a person; without --password, a one-time password is printed.")
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Option(help: "Their email address.") var email: String
            @Option(help: "member (one team's hooks) or admin.") var role: String = "member"
            @Option(help: "A member's team (its slug).") var team: String?
            @Option(help: "Their password (at least 10 characters).") var password: String?

            func run() async throws {
                guard let role = User.Role(rawValue: role) else { throw ValidationError("--role must be member or admin") }
                let store = try await openCommandStore(dataDirectory)
                let team = try await Users.namedTeam(team, in: store)
                let (user, generated) = try await refusalsAsMessages {
                    try await People(store: store).addUser(email: email, password: password, role: role, team: team)
                }
                if let generated {
                    print("Added \(user.email) with one-time password: \(generated) (to be changed at the first sign-in)")
                } else {
                    print("Added \(user.email).")
                }
            }
        }

        struct Set: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Change a person's role or team.")
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Argument(help: "Their email address.") var email: String
            @Option(help: "member or admin.") var role: String?
            @Option(help: "A member's team (its slug).") var team: String?

            func run() async throws {
                let role = try role.map { guard let role = User.Role(rawValue: $0) else { throw ValidationError("--role must be member or admin") }; return role }
                let store = try await openCommandStore(dataDirectory)
                let user = try await Users.namedUser(email, in: store)
                let team = try await Users.namedTeam(team, in: store)
                let saved = try await refusalsAsMessages {
                    try await People(store: store).updateUser(id: user.id, role: role, team: team, changesTeam: team != nil, disabled: nil)
                }
                print("\(saved.email) is \(saved.role.rawValue)\(team.map { " of team \($0.slug)" } ?? "").")
            }
        }

        struct Disable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Disable a person: their sessions end and they cannot sign in.")
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Argument(help: "Their email address.") var email: String

            func run() async throws { try await Users.setDisabled(true, email: email, dataDirectory) }
        }

        struct Enable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Let a disabled person sign in again.")
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Argument(help: "Their email address.") var email: String

            func run() async throws { try await Users.setDisabled(false, email: email, dataDirectory) }
        }

        struct ResetPassword: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "reset-password", abstract: "Give a person a one-time password (printed); their sessions end."
            )
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Argument(help: "Their email address.") var email: String

            func run() async throws {
                let store = try await openCommandStore(dataDirectory)
                let user = try await Users.namedUser(email, in: store)
                let (_, password) = try await refusalsAsMessages { try await People(store: store).resetPassword(id: user.id) }
                print("One-time password for \(user.email): \(password) (to be changed at the next sign-in)")
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a person; their sessions end.")
            @OptionGroup var dataDirectory: DataDirectoryOption
            @Argument(help: "Their email address.") var email: String
            @Flag(help: "Also revoke the API tokens they made.") var revokeTokens = false

            func run() async throws {
                let store = try await openCommandStore(dataDirectory)
                let user = try await Users.namedUser(email, in: store)
                let revoked = try await refusalsAsMessages { try await People(store: store).deleteUser(id: user.id, revokeTokens: revokeTokens) }
                print("Deleted \(user.email)\(revokeTokens ? "; revoked \(revoked) API token(s) they made" : "").")
            }
        }

        static func setDisabled(_ disabled: Bool, email: String, _ dataDirectory: DataDirectoryOption) async throws {
            let store = try await openCommandStore(dataDirectory)
            let user = try await namedUser(email, in: store)
            _ = try await refusalsAsMessages {
                try await People(store: store).updateUser(id: user.id, role: nil, team: nil, changesTeam: false, disabled: disabled)
            }
            print("\(disabled ? "Disabled" : "Enabled") \(user.email).")
        }

        static func namedUser(_ email: String, in store: any HeraldStore) async throws -> User {
            guard let user = try await store.user(email: email) else { throw ValidationError("nobody signs in as \(email)") }
            return user
        }

        static func namedTeam(_ slug: String?, in store: any HeraldStore) async throws -> Team? {
            guard let slug else { return nil }
            guard let team = try await store.team(slug: slug) else { throw ValidationError("no team with slug \(slug)") }
            return team
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
