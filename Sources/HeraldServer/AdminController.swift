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
        router.put("/api/teams/{slug}/channels", use: grantChannels)
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
        let team = try await namedTeam(context)
        var reader = try FieldReader(try await request.jsonBody(limit: 64 * 1024))
        reader.rejectUnknown(["channels"])
        let channels = reader.stringArray("channels", required: true, maxCount: 500) ?? []
        for channel in channels where channel.isEmpty || channel.unicodeScalars.count > 128 { reader.fail("channels", "a channel is 1 to 128 characters") }
        for channel in channels where channel.hasPrefix("_") { reader.fail("channels", "channels starting with _ are reserved") }
        try reader.check()
        let extra = Array(Set(channels).subtracting([team.slug])).sorted()
        guard let saved = try await store.setExtraChannels(extra, teamID: team.id) else { throw Problem.notFound("No such team.") }
        return Self.json(saved)
    }

    @Sendable func createTeam(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["name", "slug"])
        let name = reader.string("name", required: true, maxLength: 200)
        let slug = reader.string("slug", required: true, maxLength: 63)
        if let name, !Team.isValidName(name) { reader.fail("name", "must be readable text, without control characters or bidirectional controls") }
        if let slug, !Team.isValidSlug(slug) { reader.fail("slug", "must be lower-case letters, digits and dashes") }
        if let slug, Team.isReservedSlug(slug) { reader.fail("slug", "\(slug) is reserved for the config file's hooks") }
        try reader.check()
        do {
            let team = try await store.createTeam(name: name!, slug: slug!, now: Date())
            return JSONResponse(status: .created, body: Self.json(team))
        } catch StoreError.conflict(let message) {
            throw Problem.conflict(message)
        }
    }

    @Sendable func listTeams(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        _ = try context.require(.admin)
        return .object([("teams", .array(try await store.teams().map(Self.json)))])
    }

    func json(_ token: APIToken, teams: [Int64: Team]) -> JSONValue {
        .object([
            ("id", .int(token.id)), ("name", .string(token.name)), ("scope", .string(token.scope.rawValue)),
            ("team", token.teamID.flatMap { teams[$0] }.map { .string($0.slug) } ?? .null), ("prefix", .string(token.prefix)),
            ("created_at", token.createdAt.json),
        ])
    }

    @Sendable func createToken(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        _ = try context.require(.admin)
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024))
        reader.rejectUnknown(["scope", "team", "name"])
        let scope = reader.choice("scope", as: TokenScope.self)
        if reader.value("scope")?.isNull ?? true { reader.fail("scope", "is required") }
        let name = reader.string("name", maxLength: 200) ?? "token"
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
        let (token, secret) = try await services.issueToken(name: name, scope: scope, team: team)
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
    func issueToken(name: String, scope: TokenScope, team: Team?) async throws -> (APIToken, String) {
        if scope == .team, let team, try await store.tokens(teamID: team.id).filter({ $0.scope == .team }).count >= configuration.maxTokensPerTeam {
            throw Problem.validation([
                .init(field: "/team", message: "team \(team.slug) has \(configuration.maxTokensPerTeam) tokens, the most a team may have: revoke one first")
            ])
        }
        return try await store.issueToken(name: name, scope: scope, teamID: team?.id)
    }
}
