import Foundation
import HeraldCore
import HummingbirdBcrypt
import NIOPosix

/// People and teams as an administrator manages them: one set of rules under the API, the web UI
/// and the command line. Refusals are ``Problem``s: `422` naming the field, `404`, or `409` when
/// the change would leave nobody able to administer Herald or would orphan a team's resources.
public struct People: Sendable {
    public let store: any HeraldStore
    /// Called after tokens are revoked, so a cache of checked tokens forgets them.
    let tokensRevoked: @Sendable () -> Void

    public init(store: any HeraldStore, tokensRevoked: @escaping @Sendable () -> Void = {}) {
        self.store = store
        self.tokensRevoked = tokensRevoked
    }

    /// A new password of 20 random characters, shown once.
    public static func generatedPassword() -> String { String(Session.randomToken().prefix(20)) }

    /// bcrypt on the thread pool: it takes a quarter of a second of CPU at the default cost.
    static func hash(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password) }
    }

    // MARK: users

    /// Adds a user who signs in to the web UI. Without `password`, one is generated and returned
    /// (and must be changed at the first sign-in); a member needs a team, an admin has none.
    public func addUser(email: String, password: String?, role: User.Role, team: Team?) async throws -> (user: User, generatedPassword: String?) {
        var errors: [Problem.FieldError] = []
        if !User.isValidEmail(email) { errors.append(.init(field: "/email", message: "must be an email address")) }
        if let password, let problem = User.passwordProblem(password) { errors.append(.init(field: "/password", message: problem)) }
        if role == .member && team == nil { errors.append(.init(field: "/team", message: "a member must belong to a team")) }
        if role == .admin && team != nil { errors.append(.init(field: "/team", message: "an administrator belongs to no team")) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let chosen = password ?? Self.generatedPassword()
        do {
            var user = try await store.createUser(email: email, passwordHash: try await Self.hash(chosen), role: role, teamID: team?.id, now: Date())
            if password == nil {
                user.mustChangePassword = true
                user = try await store.saveUser(user) ?? user
            }
            try await store.audit("user.created", target: "user \(user.email)", teamID: user.teamID, changes: AuditEntry.changes(before: nil, after: Self.view(user)))
            return (user, password == nil ? chosen : nil)
        } catch StoreError.conflict {
            throw Problem.validation([.init(field: "/email", message: "someone already signs in with \(email)")], status: .conflict)
        }
    }

    func existingUser(_ id: Int64) async throws -> User {
        guard let user = try await store.user(id: id) else { throw Problem.notFound("No such user.") }
        return user
    }

    /// Changes a user's role, team or whether they are disabled; a disabled user's sessions end at
    /// once. `team` is applied only when `changesTeam` (so "no team" can be said for an admin).
    public func updateUser(id: Int64, role: User.Role?, team: Team?, changesTeam: Bool, disabled: Bool?) async throws -> User {
        let before = try await existingUser(id)
        var user = before
        if let role { user.role = role }
        if changesTeam { user.teamID = team?.id }
        // Made an admin, the user leaves their team; an admin made a member must be given one.
        if role == .admin && !changesTeam { user.teamID = nil }
        if let disabled { user.disabled = disabled }
        if user.role == .member && user.teamID == nil { throw Problem.validation([.init(field: "/team", message: "a member must belong to a team")]) }
        if user.role == .admin && user.teamID != nil { throw Problem.validation([.init(field: "/team", message: "an administrator belongs to no team")]) }
        if before.role == .admin && !before.disabled && (user.role != .admin || user.disabled) { try await refuseLastAdmin(before) }
        guard let saved = try await store.saveUser(user) else { throw Problem.notFound("No such user.") }
        try await store.audit(
            "user.updated", target: "user \(saved.email)", teamID: saved.teamID ?? before.teamID,
            changes: AuditEntry.changes(before: Self.view(before), after: Self.view(saved))
        )
        return saved
    }

    /// What the audit log shows of a user (never their password).
    static func view(_ user: User) -> JSONValue {
        .object([
            ("email", .string(user.email)), ("role", .string(user.role.rawValue)), ("team_id", user.teamID.map { .int($0) } ?? .null),
            ("disabled", .bool(user.disabled)), ("must_change_password", .bool(user.mustChangePassword)),
        ])
    }

    /// What the audit log shows of a team.
    static func view(_ team: Team) -> JSONValue {
        .object([("name", .string(team.name)), ("slug", .string(team.slug)), ("channels", .array(team.extraChannels.sorted().map(JSONValue.string)))])
    }

    /// Deletes a user and ends their sessions; with `revokeTokens`, also the API tokens they made.
    /// Returns how many tokens were revoked.
    @discardableResult
    public func deleteUser(id: Int64, revokeTokens: Bool) async throws -> Int {
        let user = try await existingUser(id)
        if user.role == .admin && !user.disabled { try await refuseLastAdmin(user) }
        let made = revokeTokens ? try await tokensMade(by: user) : []
        guard try await store.deleteUser(id: id) else { throw Problem.notFound("No such user.") }
        var revoked = 0
        for token in made where try await store.deleteToken(id: token.id) { revoked += 1 }
        if revoked > 0 { tokensRevoked() }
        try await store.audit(
            "user.deleted", target: "user \(user.email)", teamID: user.teamID,
            changes: .object([("tokens_revoked", .int(Int64(revoked)))])
        )
        return revoked
    }

    /// The API tokens `user` made that still exist.
    public func tokensMade(by user: User) async throws -> [APIToken] {
        try await store.tokens(teamID: nil).filter { $0.createdByUserID == user.id }
    }

    /// An administrator's reset: a one-time password, returned to be shown once, which must be
    /// changed at the next sign-in. Every session of the user ends.
    public func resetPassword(id: Int64) async throws -> (user: User, password: String) {
        var user = try await existingUser(id)
        let password = Self.generatedPassword()
        user.passwordHash = try await Self.hash(password)
        user.mustChangePassword = true
        guard let saved = try await store.saveUser(user) else { throw Problem.notFound("No such user.") }
        try await store.deleteSessions(userID: id, keeping: nil)
        try await store.audit("user.password-reset", target: "user \(saved.email)", teamID: saved.teamID)
        return (saved, password)
    }

    /// A user's own change: the current password must match. Every other session of theirs ends
    /// (`keeping` is the session that asked, if any).
    public func changePassword(userID: Int64, current: String, new: String, keeping session: String?) async throws -> User {
        var user = try await existingUser(userID)
        guard try await Self.verify(current, hash: user.passwordHash) else {
            throw Problem.validation([.init(field: "/current_password", message: "is not your current password")])
        }
        if let problem = User.passwordProblem(new) { throw Problem.validation([.init(field: "/new_password", message: problem)]) }
        if new == current { throw Problem.validation([.init(field: "/new_password", message: "must differ from the current password")]) }
        user.passwordHash = try await Self.hash(new)
        user.mustChangePassword = false
        guard let saved = try await store.saveUser(user) else { throw Problem.notFound("No such user.") }
        try await store.deleteSessions(userID: userID, keeping: session)
        try await store.audit("user.password-changed", target: "user \(saved.email)", teamID: saved.teamID)
        return saved
    }

    static func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// Refuses to demote, disable or delete `admin` when no other administrator could sign in.
    func refuseLastAdmin(_ admin: User) async throws {
        let others = try await store.users(teamID: nil).filter { $0.role == .admin && !$0.disabled && $0.id != admin.id }
        guard others.isEmpty else { return }
        throw Problem.conflict("\(admin.email) is the last administrator who can sign in: make someone else an administrator first.")
    }

    // MARK: teams

    func existingTeam(slug: String) async throws -> Team {
        guard let team = try await store.team(slug: slug) else { throw Problem.notFound("No such team.") }
        return team
    }

    /// Creates a team; `409` when its slug is taken.
    public func createTeam(name: String, slug: String) async throws -> Team {
        var errors: [Problem.FieldError] = []
        if !Team.isValidName(name) || !(1...200).contains(name.count) {
            errors.append(.init(field: "/name", message: "must be 1 to 200 characters of readable text, without control characters or bidirectional controls"))
        }
        if !Team.isValidSlug(slug) { errors.append(.init(field: "/slug", message: "must be lower-case letters, digits and dashes")) }
        if Team.isReservedSlug(slug) { errors.append(.init(field: "/slug", message: "\(slug) is reserved for the config file's hooks")) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        do {
            let team = try await store.createTeam(name: name, slug: slug, now: Date())
            try await store.audit("team.created", target: "team \(team.slug)", teamID: team.id, changes: AuditEntry.changes(before: nil, after: Self.view(team)))
            return team
        } catch StoreError.conflict(let message) {
            throw Problem.conflict(message)
        }
    }

    /// Renames a team; its slug, and so its channel and URLs, stay.
    public func renameTeam(slug: String, name: String) async throws -> Team {
        let team = try await existingTeam(slug: slug)
        guard Team.isValidName(name), (1...200).contains(name.count) else {
            throw Problem.validation([.init(field: "/name", message: "must be 1 to 200 characters of readable text, without control characters")])
        }
        guard let renamed = try await store.renameTeam(id: team.id, name: name) else { throw Problem.notFound("No such team.") }
        try await store.audit(
            "team.renamed", target: "team \(team.slug)", teamID: team.id, changes: AuditEntry.changes(before: Self.view(team), after: Self.view(renamed))
        )
        return renamed
    }

    /// The channels the team may subscribe to and read besides its own slug, which it always has.
    /// Hooks lose a revoked channel at once.
    public func grantChannels(slug: String, channels: [String]) async throws -> Team {
        let team = try await existingTeam(slug: slug)
        var errors: [Problem.FieldError] = []
        if channels.count > 500 { errors.append(.init(field: "/channels", message: "at most 500 channels")) }
        for channel in channels where channel.isEmpty || channel.unicodeScalars.count > 128 {
            errors.append(.init(field: "/channels", message: "a channel is 1 to 128 characters"))
        }
        for channel in channels where channel.hasPrefix("_") { errors.append(.init(field: "/channels", message: "channels starting with _ are reserved")) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let extra = Array(Set(channels).subtracting([team.slug])).sorted()
        guard let saved = try await store.setExtraChannels(extra, teamID: team.id) else { throw Problem.notFound("No such team.") }
        try await store.audit(
            "team.channels-granted", target: "team \(team.slug)", teamID: team.id,
            changes: AuditEntry.changes(before: Self.view(team), after: Self.view(saved))
        )
        return saved
    }

    /// Deletes a team that owns nothing any more; otherwise a `409` naming what is left.
    public func deleteTeam(slug: String) async throws {
        let team = try await existingTeam(slug: slug)
        switch try await store.deleteTeam(id: team.id) {
        case .deleted:
            try await store.audit("team.deleted", target: "team \(team.slug)", teamID: team.id, changes: AuditEntry.changes(before: Self.view(team), after: nil))
        case .notFound: throw Problem.notFound("No such team.")
        case .inUse(let hooks, let members, let tokens):
            let left = [(hooks, "webhook"), (members, "member"), (tokens, "API token")].filter { $0.0 > 0 }
                .map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }
            throw Problem.conflict("Team \(team.slug) still has \(Self.list(left)): delete or move them first.")
        }
    }

    /// "a", "a and b", "a, b and c".
    static func list(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }
}

extension HeraldServices {
    public var people: People { People(store: store, tokensRevoked: { [tokens] in tokens.removeAll() }) }
}
