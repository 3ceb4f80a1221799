import Foundation
import HeraldCore
import Hummingbird

/// People, teams and one's own account, in the web UI: the same ``People`` rules as the API.
extension WebController {
    func addPeopleRoutes(to web: RouterGroup<HeraldRequestContext>) {
        web.get("/admin/users", use: usersPage)
        web.get("/admin/users/{id}", use: userPage)
        web.post("/admin/users/{id}", use: updateUser)
        web.post("/admin/users/{id}/disable", use: disableUser)
        web.post("/admin/users/{id}/enable", use: enableUser)
        web.post("/admin/users/{id}/reset-password", use: resetPassword)
        web.post("/admin/users/{id}/delete", use: deleteUser)
        web.get("/admin/teams/{slug}", use: teamPage)
        web.post("/admin/teams/{slug}", use: renameTeam)
        web.post("/admin/teams/{slug}/channels", use: grantChannels)
        web.post("/admin/teams/{slug}/delete", use: deleteTeam)
        web.get("/account", use: accountPage)
        web.post("/account/password", use: changePassword)
    }

    /// Runs `change`; a refusal it throws (422, 409) comes back as a message on `page`, where the
    /// form was, instead of an error page.
    func refusalShown(on page: String, _ signIn: WebSignIn, _ change: () async throws -> Response) async throws -> Response {
        do {
            return try await change()
        } catch let problem as Problem where problem.status == .unprocessableContent || problem.status == .conflict {
            let message = problem.errors.isEmpty ? problem.detail : problem.errors.map { Self.sentence($0) }.joined(separator: " ")
            try await setFlash(["error": message], signIn, for: page)
            return Response.redirect(to: page)
        }
    }

    /// `/new_password: must have…` read as "New password must have…".
    static func sentence(_ error: Problem.FieldError) -> String {
        let field = error.field.split(separator: "/").last.map { $0.replacingOccurrences(of: "_", with: " ") } ?? ""
        let text = field.isEmpty ? error.message : "\(field.prefix(1).uppercased())\(field.dropFirst()) \(error.message)"
        return text.hasSuffix(".") ? text : text + "."
    }

    func flashValues(_ flash: [String: String]) -> [String: Any] {
        [
            "notice": flash["notice"] ?? "", "hasNotice": flash["notice"] != nil, "error": flash["error"] ?? "", "hasError": flash["error"] != nil,
            "oneTimePassword": flash["password"] ?? "", "hasOneTimePassword": flash["password"] != nil,
            "portalURL": flash["portal"] ?? "", "hasPortalURL": flash["portal"] != nil,
        ]
    }

    // MARK: people

    /// `2026-12-06 04:30:00 UTC`.
    static func readableTime(_ date: Date) -> String {
        Timestamp.string(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    static func status(_ user: User) -> String {
        user.disabled ? "Disabled" : user.mustChangePassword ? "Must change password" : "Active"
    }

    @Sendable func usersPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        let teams = try await teamsByID()
        let users = try await store.users(teamID: nil)
        var values = flashValues(try await takeFlash(signIn, for: "/admin/users"))
        values["users"] = users.map { user in
            [
                "id": user.id, "email": user.email, "role": user.role.rawValue, "team": user.teamID.flatMap { teams[$0]?.name } ?? "—",
                "lastSignIn": user.lastSignInAt.map(Self.readableTime) ?? "never", "status": Self.status(user), "disabled": user.disabled,
            ] as [String: Any]
        }
        values["teams"] = teams.values.sorted { $0.name < $1.name }.map { ["id": $0.id, "name": $0.name] }
        values["memberFormFrom"] = "/admin/users"
        return renderer.render("users", page(signIn, title: "People", values))
    }

    func namedUser(_ context: HeraldRequestContext) async throws -> User {
        guard let id = context.parameters.get("id", as: Int64.self), let user = try await store.user(id: id) else { throw Problem.notFound("No such user.") }
        return user
    }

    @Sendable func userPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        let user = try await namedUser(context)
        let teams = try await teamsByID()
        let tokens = try await services.people.tokensMade(by: user)
        var values = flashValues(try await takeFlash(signIn, for: "/admin/users/\(user.id)"))
        values["user"] = [
            "id": user.id, "email": user.email, "status": Self.status(user), "disabled": user.disabled, "isAdmin": user.role == .admin,
            "lastSignIn": user.lastSignInAt.map(Self.readableTime) ?? "never", "created": Self.readableTime(user.createdAt),
            "team": user.teamID.flatMap { teams[$0]?.name } ?? "—", "isSelf": user.id == signIn.user.id,
        ] as [String: Any]
        values["teams"] = teams.values.sorted { $0.name < $1.name }.map { ["id": $0.id, "name": $0.name, "selected": $0.id == user.teamID] }
        values["tokenCount"] = tokens.count
        values["hasTokens"] = !tokens.isEmpty
        return renderer.render("user", page(signIn, title: user.email, values))
    }

    @Sendable func updateUser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let user = try await namedUser(context)
        let role = User.Role(rawValue: form["role"] ?? "") ?? user.role
        let team = try await Int64(form["team"] ?? "").asyncFlatMap { try await store.team(id: $0) }
        return try await refusalShown(on: "/admin/users/\(user.id)", signIn) {
            _ = try await services.people.updateUser(id: user.id, role: role, team: role == .admin ? nil : team, changesTeam: true, disabled: nil)
            try await setFlash(["notice": "\(user.email) is now \(role == .admin ? "an administrator" : "a member of \(team?.name ?? "")")."], signIn, for: "/admin/users/\(user.id)")
            return Response.redirect(to: "/admin/users/\(user.id)")
        }
    }

    func setDisabled(_ disabled: Bool, _ request: Request, _ context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        _ = try await checkedForm(request, signIn)
        let user = try await namedUser(context)
        return try await refusalShown(on: "/admin/users/\(user.id)", signIn) {
            _ = try await services.people.updateUser(id: user.id, role: nil, team: nil, changesTeam: false, disabled: disabled)
            let notice = disabled ? "\(user.email) is disabled: their sessions have ended and they cannot sign in." : "\(user.email) can sign in again."
            try await setFlash(["notice": notice], signIn, for: "/admin/users/\(user.id)")
            return Response.redirect(to: "/admin/users/\(user.id)")
        }
    }

    @Sendable func disableUser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await setDisabled(true, request, context)
    }

    @Sendable func enableUser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await setDisabled(false, request, context)
    }

    @Sendable func resetPassword(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        _ = try await checkedForm(request, signIn)
        let user = try await namedUser(context)
        let (_, password) = try await services.people.resetPassword(id: user.id)
        // Shown once, on the page redirected to; sealed at rest like every flash.
        try await setFlash(["password": password], signIn, for: "/admin/users/\(user.id)")
        return Response.redirect(to: "/admin/users/\(user.id)")
    }

    @Sendable func deleteUser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let user = try await namedUser(context)
        return try await refusalShown(on: "/admin/users/\(user.id)", signIn) {
            let revoked = try await services.people.deleteUser(id: user.id, revokeTokens: form["revoke_tokens"] == "on")
            let tokens = revoked == 0 ? "" : " and \(revoked) API token\(revoked == 1 ? "" : "s") they made revoked"
            try await setFlash(["notice": "\(user.email) deleted\(tokens)."], signIn, for: "/admin/users")
            return Response.redirect(to: "/admin/users")
        }
    }

    // MARK: teams

    func namedTeam(_ context: HeraldRequestContext) async throws -> Team {
        guard let slug = context.parameters.get("slug"), let team = try await store.team(slug: slug) else { throw Problem.notFound("No such team.") }
        return team
    }

    @Sendable func teamPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        let team = try await namedTeam(context)
        let members = try await store.users(teamID: team.id)
        let hooks = try await store.hooks(teamID: team.id)
        let tokens = try await store.tokens(teamID: team.id)
        let portalLinks = try await portalLinkRows(team: team)
        var values = flashValues(try await takeFlash(signIn, for: "/admin/teams/\(team.slug)"))
        values["team"] = [
            "name": team.name, "slug": team.slug, "channels": team.extraChannels.sorted().joined(separator: "\n"),
            "members": members.map { ["id": $0.id, "email": $0.email, "status": Self.status($0)] as [String: Any] }, "noMembers": members.isEmpty,
            "hookCount": hooks.count, "tokenCount": tokens.count, "portalLinks": portalLinks, "hasPortalLinks": !portalLinks.isEmpty,
        ] as [String: Any]
        return renderer.render("team", page(signIn, title: team.name, values))
    }

    @Sendable func renameTeam(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        return try await refusalShown(on: "/admin/teams/\(team.slug)", signIn) {
            let renamed = try await services.people.renameTeam(slug: team.slug, name: form.trimmed("name"))
            try await setFlash(["notice": "Team renamed to \(renamed.name)."], signIn, for: "/admin/teams/\(team.slug)")
            return Response.redirect(to: "/admin/teams/\(team.slug)")
        }
    }

    @Sendable func grantChannels(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        // One channel per line, or separated by commas.
        let channels = (form["channels"] ?? "").split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "," })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try await refusalShown(on: "/admin/teams/\(team.slug)", signIn) {
            let saved = try await services.people.grantChannels(slug: team.slug, channels: channels)
            let granted = saved.extraChannels.isEmpty ? "only its own channel, \(team.slug)" : saved.extraChannels.sorted().joined(separator: ", ")
            try await setFlash(["notice": "\(team.name) now reads \(granted)."], signIn, for: "/admin/teams/\(team.slug)")
            return Response.redirect(to: "/admin/teams/\(team.slug)")
        }
    }

    @Sendable func deleteTeam(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        _ = try await checkedForm(request, signIn)
        let team = try await namedTeam(context)
        return try await refusalShown(on: "/admin/teams/\(team.slug)", signIn) {
            try await services.people.deleteTeam(slug: team.slug)
            try await setFlash(["notice": "Team \(team.name) deleted."], signIn, for: "/admin")
            return Response.redirect(to: "/admin")
        }
    }

    // MARK: one's own account

    @Sendable func accountPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let teams = try await teamsByID()
        var values = flashValues(try await takeFlash(signIn, for: "/account"))
        values["mustChange"] = signIn.user.mustChangePassword
        values["role"] = signIn.user.role.rawValue
        values["team"] = signIn.user.teamID.flatMap { teams[$0]?.name } ?? "—"
        values["minimumLength"] = User.minimumPasswordLength
        return renderer.render("account", page(signIn, title: "Your account", values))
    }

    @Sendable func changePassword(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let form = try await checkedForm(request, signIn)
        let new = form["new_password"] ?? ""
        return try await refusalShown(on: "/account", signIn) {
            guard new == form["confirm_password"] else {
                throw Problem.validation([.init(field: "/confirm_password", message: "does not match the new password")])
            }
            _ = try await services.people.changePassword(
                userID: signIn.user.id, current: form["current_password"] ?? "", new: new, keeping: signIn.session.tokenHash
            )
            try await setFlash(["notice": "Your password is changed. Your other sessions have ended."], signIn, for: "/account")
            return Response.redirect(to: "/account")
        }
    }
}
