import Foundation
import HeraldCore
import HeraldDelivery
import HeraldVerify
import Hummingbird

/// Hooks: a team manages its own; an admin manages any, naming the team.
struct HooksController {
    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/hooks", use: create)
        router.get("/api/hooks", use: list)
        router.get("/api/hooks/{id}", use: show)
        router.patch("/api/hooks/{id}", use: update)
        router.delete("/api/hooks/{id}", use: delete)
        router.post("/api/hooks/{id}/pings", use: ping)
        router.post("/api/hooks/{id}/secret/rotate", use: rotateSecret)
        router.post("/api/hooks/{id}/secret/finish", use: finishRotation)
        router.post("/api/hooks/{id}/tests", use: test)
        router.post("/api/hooks/{id}/sync", use: syncNow)
    }

    /// How long a rotated-out secret keeps signing, by default.

    static let settingsFields: Set<String> = [
        "url", "content_type", "secret", "events", "channels", "active", "insecure_ssl", "timeout_seconds", "ordering", "signature",
        "filter", "transform", "payload_format", "headers", "oauth2", "tls_client_certificate", "mode", "sync", "github_headers",
        "retry_policy", "disable_after_seconds", "rate_limit_per_second",
    ]

    /// A body in GitHub's shape — `name` (`web`) and `config` {url, content_type, secret,
    /// insecure_ssl} beside `events` and `active` — in Herald's words, so a client written for
    /// GitHub's hook API creates and edits hooks unchanged. Herald's own body passes as it is.
    static func heraldShape(_ body: JSONValue) throws -> JSONValue {
        guard case .object(var pairs) = body, pairs.contains(where: { $0.key == "config" || $0.key == "name" }) else { return body }
        var errors: [Problem.FieldError] = []
        if let name = pairs.first(where: { $0.key == "name" })?.value, name != .string("web") {
            errors.append(.init(field: "/name", message: "must be \"web\" (GitHub's name for a webhook)"))
        }
        var config: [(key: String, value: JSONValue)] = []
        switch pairs.first(where: { $0.key == "config" })?.value {
        case .object(let members)?: config = members
        case nil: break
        default: errors.append(.init(field: "/config", message: "must be an object {url, content_type, secret, insecure_ssl}"))
        }
        pairs.removeAll { $0.key == "config" || $0.key == "name" }
        for (key, value) in config {
            guard ["url", "content_type", "secret", "insecure_ssl"].contains(key) else {
                errors.append(.init(field: "/config/\(key)", message: "is not a hook setting (url, content_type, secret, insecure_ssl)"))
                continue
            }
            if pairs.contains(where: { $0.key == key }) {
                errors.append(.init(field: "/config/\(key)", message: "is given twice, in config and beside it"))
                continue
            }
            var converted = value
            if key == "insecure_ssl" {
                // GitHub writes "0" or "1" (a string or a number).
                switch value {
                case .string("0"), .int(0), .bool(false): converted = .bool(false)
                case .string("1"), .int(1), .bool(true): converted = .bool(true)
                default: errors.append(.init(field: "/config/insecure_ssl", message: "must be \"0\" or \"1\""))
                }
            }
            pairs.append((key, converted))
        }
        if !errors.isEmpty { throw Problem.validation(errors) }
        return .object(pairs)
    }

    func json(_ hook: Hook, team: String, catalog: [String: EventTypeCatalog.Entry]) -> JSONValue {
        // Shown masked: a credential is never returned once stored.
        let credentials = hook.encryptedCredentials.flatMap { try? HookCredentials.open($0, with: services.secretBox) }
        var basicAuth = JSONValue.null
        if let user = credentials?.basicUser {
            basicAuth = .object([("username", .string(user)), ("password", .string(HookCredentials.mask))])
        }
        let masked: [(key: String, value: JSONValue)] = (credentials?.headers ?? []).map { ($0.name, JSONValue.string(HookCredentials.mask)) }
        let headers = JSONValue.object(masked)
        var sync = JSONValue.null
        if hook.mode == .sync {
            sync = .object([
                ("page_size", .int(Int64(hook.sync.pageSize))), ("period_seconds", .int(Int64(hook.sync.periodSeconds))),
                ("cursor", .string(String(hook.sync.cursor))), ("last_synced_at", hook.sync.lastSyncedAt.json),
            ])
        }
        var oauth2 = JSONValue.null
        if let client = credentials?.oauth2 {
            oauth2 = .object([
                ("token_url", .string(client.tokenURL)), ("client_id", .string(client.clientID)), ("client_secret", .string(HookCredentials.mask)),
                ("scope", client.scope.map(JSONValue.string) ?? .null),
            ])
        }
        let base = services.configuration.baseURL + "/api/hooks/\(hook.id)"
        let policy = Self.policyFields(hook.policy)
        return .object([
            ("id", .int(hook.id)), ("team", .string(team)), ("url", .string(hook.url)), ("content_type", .string(hook.contentType.rawValue)),
            ("events", .array(hook.events.map(JSONValue.string))),
            ("event_notices", .array(EventTypeCatalog.notices(for: hook.events, in: catalog).map(JSONValue.string))),
            ("channels", .array(hook.channels.map(JSONValue.string))),
            ("active", .bool(hook.active)), ("insecure_ssl", .bool(hook.insecureSSL)), ("timeout_seconds", .int(Int64(hook.timeoutSeconds))),
            ("ordering", .string(hook.ordering.rawValue)), ("signature", .string(hook.signature.rawValue)),
            ("public_key", hook.signature == .ed25519 ? hook.publicKey.map(JSONValue.string) ?? .null : .null),
            ("previous_secret_expires_at", hook.encryptedPreviousSecret == nil ? .null : hook.previousSecretExpiresAt.json),
            ("created_at", hook.createdAt.json), ("updated_at", hook.updatedAt.json),
            (
                "last_response",
                .object([
                    ("code", hook.lastResponse.code.map { .int(Int64($0)) } ?? .null), ("status", .string(hook.lastResponse.status)),
                    ("message", hook.lastResponse.message.map(JSONValue.string) ?? .null),
                ])
            ),
            ("disabled_reason", hook.disabledReason.map(JSONValue.string) ?? .null),
            ("filter", hook.filter.map(JSONValue.string) ?? .null), ("transform", hook.transform.map(JSONValue.string) ?? .null),
            ("payload_format", .string(hook.payloadFormat.rawValue)),
            ("managed_by", hook.managedKey.map { .string("config file: " + $0) } ?? .null),
            ("basic_auth", basicAuth), ("headers", headers), ("oauth2", oauth2),
            ("mode", .string(hook.mode.rawValue)), ("sync", sync),
            ("tls_client_certificate", credentials?.clientCertificate == nil ? .null : .object([("private_key", .string(HookCredentials.mask))])),
            ("github_headers", .bool(hook.githubHeaders)),
            ("retry_policy", policy.retry), ("disable_after_seconds", policy.disableAfter), ("rate_limit_per_second", policy.rateLimit),
            ("circuit_breaker", Self.circuitField(hook.circuit)),
            // GitHub's names for the same settings, for clients written for its hook API.
            ("name", .string("web")),
            (
                "config",
                .object([
                    ("url", .string(hook.url)), ("content_type", .string(hook.contentType.rawValue)),
                    ("insecure_ssl", .string(hook.insecureSSL ? "1" : "0")), ("secret", .string("********")),
                ])
            ),
            ("deliveries_url", .string(base + "/deliveries")), ("ping_url", .string(base + "/pings")), ("test_url", .string(base + "/tests")),
        ])
    }

    /// The hook's circuit breaker: `closed`, `open` (until a time) or `half_open` (one probe decides).
    static func circuitField(_ circuit: CircuitState, now: Date = Date()) -> JSONValue {
        let state = circuit.openUntil.map { $0 > now ? "open" : "half_open" } ?? "closed"
        return .object([
            ("state", .string(state)), ("failures_in_a_row", .int(Int64(circuit.failures))), ("open_until", circuit.openUntil?.json ?? .null),
        ])
    }

    /// The hook's own delivery policy, each field null where the server's setting applies.
    static func policyFields(_ policy: DeliveryPolicy) -> (retry: JSONValue, disableAfter: JSONValue, rateLimit: JSONValue) {
        (
            policy.retry?.json ?? .null, policy.disableAfterSeconds.map { .int(Int64($0)) } ?? .null,
            policy.rateLimitPerSecond.map { .int(Int64($0)) } ?? .null
        )
    }

    func teamSlug(_ id: Int64) async throws -> String {
        try await store.team(id: id)?.slug ?? String(id)
    }

    @Sendable func create(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.require(.team, .admin)
        let body = try Self.heraldShape(try await request.jsonBody(limit: 64 * 1024))
        var reader = try FieldReader(body)
        reader.rejectUnknown(Self.settingsFields.union(["team"]))
        let team = try await services.team(for: principal, named: reader.value("team"))
        if !reader.has("url") { reader.fail("url", "is required") }
        var settings = HookSettings(url: "")
        try await services.readSettings(&reader, into: &settings)
        HeraldServices.checkChannels(settings.channels, of: team, &reader)
        let suppliedSecret = reader.string("secret", maxLength: 512)
        if let suppliedSecret, suppliedSecret.count < 8 { reader.fail("secret", "must be at least 8 characters") }
        try reader.check()
        let secret = suppliedSecret.map(WebhookSecret.init) ?? WebhookSecret.generate()
        if settings.mode == .sync, let refusal = await services.engine.sendTestPage(settings: settings, secret: secret) {
            throw Problem.validation([.init(field: "/url", message: refusal)])
        }
        let hook = try await services.createHook(teamID: team.id, settings: settings, secret: secret)
        var object = json(hook, team: team.slug, catalog: try await services.catalog.entries())
        if case .object(var pairs) = object {
            pairs.append(("secret", .string(suppliedSecret == nil ? secret.string : "********")))
            object = .object(pairs)
        }
        return JSONResponse(status: .created, body: object, headers: [.location: "/api/hooks/\(hook.id)"])
    }

    @Sendable func list(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let principal = try context.require(.team, .admin, .provider)
        let hooks = try await store.hooks(teamID: principal.scope == .team ? principal.teamID : nil)
        let teams = Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0.slug) })
        let catalog = try await services.catalog.entries()
        return .object([("hooks", .array(hooks.map { json($0, team: teams[$0.teamID] ?? String($0.teamID), catalog: catalog) }))])
    }

    @Sendable func show(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.requirePrincipal())
        return json(hook, team: try await teamSlug(hook.teamID), catalog: try await services.catalog.entries())
    }

    @Sendable func update(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let principal = try context.require(.team, .admin)
        let hook = try await services.editableHook(context.parameters.get("id"), for: principal)
        var reader = try FieldReader(try Self.heraldShape(try await request.jsonBody(limit: 64 * 1024)))
        reader.rejectUnknown(Self.settingsFields.union(["add_events", "remove_events"]))
        var settings = try services.currentSettings(of: hook)
        try await services.readSettings(&reader, into: &settings)
        if settings.mode != hook.mode { reader.fail("mode", "a hook's mode is chosen when it is created") }
        if reader.has("channels"), let team = try await store.team(id: hook.teamID) { HeraldServices.checkChannels(settings.channels, of: team, &reader) }
        var events = settings.events
        if let add = reader.stringArray("add_events") {
            let catalog = try await services.catalog.entries()
            for pattern in add { if let problem = EventTypeCatalog.problem(with: pattern, in: catalog) { reader.fail("add_events", problem) } }
            events += add.filter { !events.contains($0) }
        }
        if let remove = reader.stringArray("remove_events") { events.removeAll(where: remove.contains) }
        if events.isEmpty { reader.fail("events", "a hook must subscribe to at least one event") }
        var secret: String?
        if reader.has("secret") {
            secret = reader.string("secret", required: true, maxLength: 512)
            if let s = secret, s.count < 8 { reader.fail("secret", "must be at least 8 characters") }
        }
        try reader.check()
        settings.events = events
        let saved = try await services.updateHook(hook, settings: settings, secret: secret)
        return json(saved, team: try await teamSlug(saved.teamID), catalog: try await services.catalog.entries())
    }

    @Sendable func delete(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let hook = try await services.editableHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        try await services.deleteHook(hook)
        return Response(status: .noContent)
    }

    /// Issues a new secret. The old one keeps signing (a second `v1` signature in
    /// `webhook-signature`) until `previous_expires_at`, so receivers can switch without dropping
    /// deliveries. Body (optional): `{secret?, grace_seconds?}`.
    @Sendable func rotateSecret(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let hook = try await services.editableHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        var reader = try FieldReader(try await request.jsonBody(limit: 16 * 1024, ifEmpty: .object([])))
        reader.rejectUnknown(["secret", "grace_seconds"])
        let supplied = reader.string("secret", maxLength: 512)
        if let supplied, supplied.count < 8 { reader.fail("secret", "must be at least 8 characters") }
        let grace = reader.int("grace_seconds", in: 0...(7 * 86_400)) ?? Int(HeraldServices.defaultRotationGrace.components.seconds)
        try reader.check()
        let secret = supplied.map(WebhookSecret.init) ?? WebhookSecret.generate()
        let saved = try await services.rotateSecret(of: hook, to: secret, grace: .seconds(grace))
        return .object([
            ("secret", .string(supplied == nil ? secret.string : "********")), ("previous_expires_at", saved.previousSecretExpiresAt.json),
        ])
    }

    /// Ends a rotation's grace now (after every receiver has the new secret): the previous secret
    /// stops signing and GitHub's signatures move to the new one. 409 when no rotation is under way.
    @Sendable func finishRotation(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let hook = try await services.editableHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        guard let saved = try await services.finishRotation(of: hook) else {
            throw Problem.conflict("No rotation of this hook's secret is under way.")
        }
        return json(saved, team: try await teamSlug(saved.teamID), catalog: try await services.catalog.entries())
    }

    /// GitHub's "test push": the hook's most recent event is sent to it again as a new delivery.
    /// 204 whether or not one was found, as GitHub answers.
    @Sendable func test(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let hook = try await services.visibleHook(context.parameters.get("id"), for: try context.require(.team, .admin))
        _ = try await services.testHook(hook)
        return Response(status: .noContent)
    }

    /// "Sync now": the next page of an HTTP Sync hook is made at once, full or not.
    @Sendable func syncNow(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await services.syncNow(try await services.visibleHook(context.parameters.get("id"), for: try context.require(.team, .admin)))
        return Response(status: .accepted)
    }

    @Sendable func ping(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await services.ping(try await services.visibleHook(context.parameters.get("id"), for: try context.require(.team, .admin)))
        return Response(status: .noContent)
    }
}
