import Foundation
import HeraldCore
import HummingbirdBcrypt
import Hummingbird

extension WebController {
    // MARK: tokens

    @Sendable func tokensPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        return try await tokensView(signIn, shownToken: try await takeFlash(signIn, for: "/tokens")["token"], error: nil)
    }

    func tokensView(_ signIn: WebSignIn, shownToken: String?, error: String?, status: HTTPResponse.Status = .ok) async throws -> HTML {
        let isAdmin = signIn.user.role == .admin
        let tokens = try await store.tokens(teamID: isAdmin ? nil : signIn.user.teamID ?? -1)
        let teams = try await teamsByID()
        return renderer.render(
            "tokens",
            page(signIn, title: "API tokens", [
                "tokens": tokens.map { token in
                    [
                        "id": token.id, "name": token.name, "scope": token.scope.rawValue, "prefix": token.prefix,
                        "team": token.teamID.flatMap { teams[$0]?.name } ?? "—", "created": Self.readableTime(token.createdAt),
                        "createdBy": token.createdBy ?? "—", "lastUsed": token.lastUsedAt.map(Self.readableTime) ?? "never",
                    ] as [String: Any]
                },
                "noTokens": tokens.isEmpty, "shownToken": shownToken ?? "", "hasShownToken": shownToken != nil,
                "error": error ?? "", "hasError": error != nil, "teams": isAdmin ? teams.values.sorted { $0.name < $1.name }.map { ["id": $0.id, "name": $0.name] } : [],
            ]),
            status: status
        )
    }

    @Sendable func createToken(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let form = try await checkedForm(request, signIn)
        let name = form["name"]
        // Members create tokens for their own team; admins may also create provider and admin tokens.
        var scope = TokenScope.team
        var team: Team?
        if signIn.user.role == .admin {
            scope = TokenScope(rawValue: form["scope"] ?? "") ?? .team
            if scope == .team {
                team = try await Int64(form["team"] ?? "").asyncFlatMap { try await store.team(id: $0) }
                guard team != nil else {
                    return try await tokensView(signIn, shownToken: nil, error: "Choose the team for a team token.", status: .unprocessableContent)
                        .response(from: request, context: context)
                }
            }
        } else {
            guard let teamID = signIn.user.teamID else { throw Problem.forbidden("Your account does not belong to a team.") }
            team = try await store.team(id: teamID)
        }
        let secret: String
        do {
            secret = try await services.issueToken(name: name, scope: scope, team: team, createdBy: signIn.user.email, createdByUserID: signIn.user.id).1
        } catch let problem as Problem where problem.status == .unprocessableContent {
            return try await tokensView(signIn, shownToken: nil, error: problem.errors.first?.message ?? problem.detail, status: .unprocessableContent)
                .response(from: request, context: context)
        }
        // Post/Redirect/Get; the token is shown once, on the page redirected to.
        try await setFlash(["token": secret], signIn, for: "/tokens")
        return Response.redirect(to: "/tokens")
    }

    @Sendable func revokeToken(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        _ = try await checkedForm(request, signIn)
        let visible = try await store.tokens(teamID: signIn.user.role == .admin ? nil : signIn.user.teamID ?? -1)
        guard let id = context.parameters.get("id", as: Int64.self), visible.contains(where: { $0.id == id }) else {
            throw Problem.notFound("There is no such token, or it belongs to another team.")
        }
        _ = try await services.revokeToken(id: id)
        return Response.redirect(to: "/tokens")
    }

    // MARK: admin

    func requireAdmin(_ context: HeraldRequestContext) throws -> WebSignIn {
        let signIn = try signedIn(context)
        guard signIn.user.role == .admin else { throw Problem.forbidden("Only administrators can open this page.") }
        return signIn
    }

    @Sendable func adminPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try requireAdmin(context)
        return try await adminView(signIn, flash: try await takeFlash(signIn, for: "/admin"), errors: [:], status: .ok)
    }

    func adminView(_ signIn: WebSignIn, flash: [String: String], errors: [String: String], status: HTTPResponse.Status) async throws -> HTML {
        let teams = try await store.teams()
        let users = try await store.users(teamID: nil)
        let hooks = try await store.hooks(teamID: nil)
        var values = flashValues(flash)
        values["teams"] = teams.map { team in
            [
                "id": team.id, "name": team.name, "slug": team.slug,
                "members": users.filter { $0.teamID == team.id }.map(\.email).joined(separator: ", "),
                "hookCount": hooks.filter { $0.teamID == team.id }.count,
            ] as [String: Any]
        }
        values["admins"] = users.filter { $0.role == .admin && !$0.disabled }.map(\.email).joined(separator: ", ")
        values["noTeams"] = teams.isEmpty
        for (field, message) in errors { values["error_\(field)"] = message }
        return renderer.render("admin", page(signIn, title: "Administration", values), status: status)
    }

    @Sendable func createTeam(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let name = form.trimmed("name")
        let slug = form.trimmed("slug")
        var errors: [String: String] = [:]
        if !Team.isValidName(name) { errors["team_name"] = "Enter the team's name: readable text, without control characters." }
        if !Team.isValidSlug(slug) { errors["team_slug"] = "Use lower-case letters, digits and dashes, like bde." }
        if Team.isReservedSlug(slug) { errors["team_slug"] = "This slug is reserved for the config file's hooks." }
        if errors.isEmpty {
            do {
                _ = try await services.people.createTeam(name: name, slug: slug)
                try await setFlash(["notice": "Team \(name) created."], signIn, for: "/admin")
                return Response.redirect(to: "/admin")
            } catch let problem as Problem where problem.status == .conflict {
                errors["team_slug"] = "A team with this slug exists."
            }
        }
        return try await adminView(signIn, flash: [:], errors: errors, status: .unprocessableContent).response(from: request, context: context)
    }

    /// Adds a person from the form on the administration or the people page, and goes back there.
    /// Without a password, one is generated, shown once, and must be changed at the first sign-in.
    @Sendable func createMember(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try requireAdmin(context)
        let form = try await checkedForm(request, signIn)
        let back = form["from"] == "/admin/users" ? "/admin/users" : "/admin"
        let email = form.trimmed("email")
        let password = form["password"] ?? ""
        let role = User.Role(rawValue: form["role"] ?? "") ?? .member
        let team = try await Int64(form["team"] ?? "").asyncFlatMap { try await store.team(id: $0) }
        do {
            let (_, generated) = try await services.people.addUser(
                email: email, password: password.isEmpty ? nil : password, role: role, team: role == .admin ? nil : team
            )
            var flash = ["notice": "\(email) can now sign in."]
            if let generated {
                flash["notice"] = "\(email) can now sign in with this one-time password, and must choose their own at once."
                flash["password"] = generated
            }
            try await setFlash(flash, signIn, for: back)
            return Response.redirect(to: back)
        } catch let problem as Problem where problem.status == .unprocessableContent || problem.status == .conflict {
            var errors: [String: String] = [:]
            for error in problem.errors {
                let field = "member_" + (error.field.split(separator: "/").last.map(String.init) ?? "email")
                errors[field] = errors[field] ?? Self.sentence(error)
            }
            if back == "/admin/users" {
                try await setFlash(["error": errors.values.sorted().joined(separator: " ")], signIn, for: back)
                return Response.redirect(to: back)
            }
            return try await adminView(signIn, flash: [:], errors: errors, status: .unprocessableContent).response(from: request, context: context)
        }
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
