import Foundation
import HeraldCore
import Hummingbird

/// Teams and tokens (admin).
struct AdminController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/teams", use: createTeam)
        router.get("/api/teams", use: listTeams)
        router.get("/api/teams/{slug}", use: showTeam)
        router.patch("/api/teams/{slug}", use: renameTeam)
        router.delete("/api/teams/{slug}", use: deleteTeam)
        router.put("/api/teams/{slug}/channels", use: grantChannels)
        router.get("/api/users", use: listUsers)
        router.post("/api/users", use: createUser)
        router.get("/api/users/{id}", use: showUser)
        router.patch("/api/users/{id}", use: updateUser)
        router.delete("/api/users/{id}", use: deleteUser)
        router.post("/api/users/{id}/password-reset", use: resetPassword)
        router.post("/api/tokens", use: createToken)
        router.get("/api/tokens", use: listTokens)
        router.delete("/api/tokens/{id}", use: deleteToken)
    }

    static func json(_ team: Team) -> JSONValue {
        .object([
            ("id", .int(team.id)), ("name", .string(team.name)), ("slug", .string(team.slug)),
            ("channels", .array(team.channels.sorted().map(JSONValue.string))), ("created_at", team.createdAt.json),
        ])
    }

    func namedTeam(_ context: HeraldRequestContext) async throws -> Team {
        guard let slug = context.parameters.get("slug"), let team = try await store.team(slug: slug) else { throw Problem.notFound("No such team.") }
        return team
    }

    @Sendable func showTeam(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        return Self.json(try await namedTeam(context))
    }

    /// `PUT /api/teams/{slug}/channels {"channels": [...]}`: the channels the team may subscribe to
    /// and read besides its own slug, which it always has. Hooks lose a revoked channel at once.
    @Sendable func grantChannels(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        guard let slug = context.parameters.get("slug") else { throw Problem.notFound("No such team.") }
        var reader = try FieldReader(try await request.jsonBody(limit: 64 * 1024))
        reader.rejectUnknown(["channels"])
        let channels = reader.stringArray("channels", required: true, maxCount: 500) ?? []
        try reader.check()
        return Self.json(try await services.people.grantChannels(slug: slug, channels: channels))
    }

    @Sendable func createTeam(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["name", "slug"])
        let name = reader.string("name", required: true, maxLength: 200)
        let slug = reader.string("slug", required: true, maxLength: 63)
        try reader.check()
        return JSONResponse(status: .created, body: Self.json(try await services.people.createTeam(name: name ?? "", slug: slug ?? "")))
    }

    @Sendable func listTeams(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        return .object([("teams", .array(try await store.teams().map(Self.json)))])
    }

    func json(_ token: APIToken, teams: [Int64: Team]) -> JSONValue {
        .object([
            ("id", .int(token.id)), ("name", .string(token.name)), ("scope", .string(token.scope.rawValue)),
            ("team", token.teamID.flatMap { teams[$0] }.map { .string($0.slug) } ?? .null), ("prefix", .string(token.prefix)),
            ("created_at", token.createdAt.json), ("created_by", token.createdBy.map(JSONValue.string) ?? .null),
            ("last_used_at", token.lastUsedAt?.json ?? .null),
        ])
    }

    @Sendable func createToken(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["scope", "team", "name"])
        let scope = reader.choice("scope", as: TokenScope.self)
        if reader.value("scope")?.isNull ?? true { reader.fail("scope", "is required") }
        let name = reader.string("name", maxLength: .max)
        var team: Team?
        if let slug = reader.string("team", maxLength: 63) {
            team = try await store.team(slug: slug)
            if team == nil { reader.fail("team", "no such team") }
        }
        // Absent and null alike: a team token without a team would be nobody's.
        if scope == .team && team == nil && reader.value("team")?.isNull ?? true { reader.fail("team", "a team token must name its team") }
        if scope != nil && scope != .team && team != nil { reader.fail("team", "only team tokens belong to a team") }
        try reader.check()
        guard let scope else { throw Problem.validation([.init(field: "/scope", message: "is required")]) }
        let (token, secret) = try await services.issueToken(name: name, scope: scope, team: team, createdBy: "token \(context.principal?.tokenID ?? 0)", createdByUserID: nil)
        var body = json(token, teams: team.map { [$0.id: $0] } ?? [:])
        if case .object(var pairs) = body {
            pairs.insert(("token", .string(secret)), at: 1)
            body = .object(pairs)
        }
        return JSONResponse(status: .created, body: body)
    }

    @Sendable func listTokens(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        let teams = Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0) })
        return .object([("tokens", .array(try await store.tokens(teamID: nil).map { json($0, teams: teams) }))])
    }

    @Sendable func deleteToken(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        guard let id = context.parameters.get("id", as: Int64.self), try await services.revokeToken(id: id) else {
            throw Problem.notFound("No such token.")
        }
        return Response(status: .noContent)
    }
}

extension HeraldServices {
    /// Issues a token, unless it is a team token and the team has ``HeraldConfiguration/maxTokensPerTeam``
    /// already (then a 422 problem naming the field `team`): per-token limits bound a team only if
    /// its members cannot mint tokens without end.
    func issueToken(name given: String?, scope: TokenScope, team: Team?, createdBy: String, createdByUserID: Int64?) async throws -> (APIToken, String) {
        let name = APIToken.name(given)
        guard name.count <= APIToken.maxNameLength else {
            throw Problem.validation([.init(field: "/name", message: "must be at most \(APIToken.maxNameLength) characters")])
        }
        if scope == .team, let team, try await store.tokens(teamID: team.id).filter({ $0.scope == .team }).count >= configuration.maxTokensPerTeam {
            throw Problem.validation([
                .init(field: "/team", message: "team \(team.slug) has \(configuration.maxTokensPerTeam) tokens, the most a team may have: revoke one first")
            ])
        }
        let issued = try await store.issueToken(name: name, scope: scope, teamID: team?.id, createdBy: createdBy, createdByUserID: createdByUserID)
        try await store.audit(
            "token.created", target: "token \(issued.token.id) (\(name))", teamID: team?.id,
            changes: .object([("scope", .string(scope.rawValue)), ("prefix", .string(issued.token.prefix))])
        )
        return issued
    }
}

// MARK: people

extension AdminController {
    static func json(_ user: User, teams: [Int64: Team]) -> JSONValue {
        .object([
            ("id", .int(user.id)), ("email", .string(user.email)), ("role", .string(user.role.rawValue)),
            ("team", user.teamID.flatMap { teams[$0] }.map { .string($0.slug) } ?? .null), ("disabled", .bool(user.disabled)),
            ("must_change_password", .bool(user.mustChangePassword)), ("last_sign_in_at", user.lastSignInAt?.json ?? .null),
            ("created_at", user.createdAt.json),
        ])
    }

    func teamsByID() async throws -> [Int64: Team] {
        Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0) })
    }

    func userID(_ context: HeraldRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self) else { throw Problem.notFound("No such user.") }
        return id
    }

    /// Reads `team` (a slug, or null for none); `.some(nil)` when null was sent.
    func readTeam(_ reader: inout FieldReader) async throws -> Team?? {
        guard reader.has("team") else { return .none }
        if reader.value("team")?.isNull == true { return .some(nil) }
        guard let slug = reader.string("team", maxLength: 63) else { return .none }
        guard let team = try await store.team(slug: slug) else {
            reader.fail("team", "no such team")
            return .none
        }
        return .some(team)
    }

    @Sendable func listUsers(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        let teams = try await teamsByID()
        return .object([("users", .array(try await store.users(teamID: nil).map { Self.json($0, teams: teams) }))])
    }

    @Sendable func showUser(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        return Self.json(try await services.people.existingUser(try userID(context)), teams: try await teamsByID())
    }

    /// `POST /api/users {"email", "password"?, "team"?, "role"?}`: without a password, one is
    /// generated, answered once as `password`, and must be changed at the first sign-in.
    @Sendable func createUser(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["email", "password", "team", "role"])
        reader.rejectNull(["password", "role"])
        let email = reader.string("email", required: true, maxLength: 254)
        let password = reader.string("password", maxLength: 200)
        let role = reader.choice("role", as: User.Role.self) ?? .member
        let team = try await readTeam(&reader)
        try reader.check()
        let (user, generated) = try await services.people.addUser(email: email ?? "", password: password, role: role, team: team ?? nil)
        var body = Self.json(user, teams: try await teamsByID())
        if let generated, case .object(var pairs) = body {
            pairs.append(("password", .string(generated)))
            body = .object(pairs)
        }
        return JSONResponse(status: .created, body: body)
    }

    /// `PATCH /api/users/{id} {"role"?, "team"?, "disabled"?}`.
    @Sendable func updateUser(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        let id = try userID(context)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["role", "team", "disabled"])
        reader.rejectNull(["role", "disabled"])
        let role = reader.choice("role", as: User.Role.self)
        let team = try await readTeam(&reader)
        let disabled = reader.bool("disabled")
        try reader.check()
        let user = try await services.people.updateUser(id: id, role: role, team: team ?? nil, changesTeam: team != nil, disabled: disabled)
        return Self.json(user, teams: try await teamsByID())
    }

    /// `DELETE /api/users/{id}[?revoke_tokens=true]`.
    @Sendable func deleteUser(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        let revoke = request.uri.queryParameters.get("revoke_tokens")
        guard revoke == nil || revoke == "true" || revoke == "false" else { throw Problem.badRequest("revoke_tokens is true or false.") }
        try await services.people.deleteUser(id: try userID(context), revokeTokens: revoke == "true")
        return Response(status: .noContent)
    }

    /// `POST /api/users/{id}/password-reset`: a one-time password, answered once.
    @Sendable func resetPassword(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        let (user, password) = try await services.people.resetPassword(id: try userID(context))
        return .object([("user", Self.json(user, teams: try await teamsByID())), ("password", .string(password))])
    }

    /// `PATCH /api/teams/{slug} {"name"}`.
    @Sendable func renameTeam(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        guard let slug = context.parameters.get("slug") else { throw Problem.notFound("No such team.") }
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["name"])
        let name = reader.string("name", required: true, maxLength: 200)
        try reader.check()
        return Self.json(try await services.people.renameTeam(slug: slug, name: name ?? ""))
    }

    @Sendable func deleteTeam(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        guard let slug = context.parameters.get("slug") else { throw Problem.notFound("No such team.") }
        try await services.people.deleteTeam(slug: slug)
        return Response(status: .noContent)
    }
}
