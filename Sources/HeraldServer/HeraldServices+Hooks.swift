import Foundation
import HeraldCore
import HeraldDelivery
import HeraldVerify

/// Hook rules and changes shared by the API and the web UI, so both follow the same rules.
extension HeraldServices {
    /// How long a rotated-out secret keeps signing, unless the caller says otherwise.
    static let defaultRotationGrace: Duration = .seconds(86_400)

    /// `scheme://host:port` of a URL, lower-cased, with the scheme's default port; nil when it has none.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host?.lowercased() else {
            return nil
        }
        return "\(scheme)://\(host):\(components.port ?? (scheme == "https" ? 443 : 80))"
    }

    /// Reads the settings fields present in the body into `settings`, validating each.
    func readSettings(_ reader: inout FieldReader, into settings: inout HookSettings) async throws {
        if reader.has("url"), var url = reader.string("url", required: true, maxLength: 2048) {
            // Credentials in the URL become an Authorization header, stored sealed, never echoed;
            // a new URL without them drops the old ones, so they never follow the hook to another host.
            var credentials = settings.credentials ?? HookCredentials()
            if let split = HookCredentials.splitURL(url) {
                url = split.url
                (credentials.basicUser, credentials.basicPassword) = (split.user, split.password)
            } else if url != settings.url {
                (credentials.basicUser, credentials.basicPassword) = (nil, nil)
            }
            // Custom headers and the OAuth2 bearer are shown masked: sent to another origin they
            // would be readable there. A move to another origin drops them unless this body sets them.
            if Self.origin(of: url) != Self.origin(of: settings.url) {
                credentials.headers = []
                credentials.oauth2 = nil
            }
            settings.credentials = credentials
            if let refusal = await configuration.engine.targetGuard.refusal(for: url) {
                reader.fail("url", refusal)
            }
            settings.url = url
        }
        if reader.has("headers") {
            var headers: [HTTPHeaderField] = []
            switch reader.value("headers") {
            case .object(let members)?:
                if members.count > 20 { reader.fail("headers", "at most 20 custom headers") }
                for (name, value) in members {
                    guard HookCredentials.isValidHeaderName(name) else {
                        reader.fail("headers", "\(name) is not a valid header name")
                        continue
                    }
                    if HookCredentials.isReservedHeader(name) {
                        reader.fail("headers", "\(name) is set by Herald (put Basic credentials in the URL: https://user:password@host/)")
                    }
                    guard let text = value.stringValue, HookCredentials.isValidHeaderValue(text) else {
                        reader.fail("headers", "the value of \(name) must be a string of at most 4096 bytes without control characters")
                        continue
                    }
                    headers.append(HTTPHeaderField(name, text))
                }
            case .null?: break
            default: reader.fail("headers", "must be an object of header names and values")
            }
            var credentials = settings.credentials ?? HookCredentials()
            credentials.headers = headers
            settings.credentials = credentials
        }
        if reader.has("oauth2") {
            var credentials = settings.credentials ?? HookCredentials()
            switch reader.value("oauth2") {
            case .null?:
                credentials.oauth2 = nil
            case .object(let members)?:
                let fields = Dictionary(members, uniquingKeysWith: { _, last in last })
                for key in fields.keys where !["token_url", "client_id", "client_secret", "scope"].contains(key) {
                    reader.fail("oauth2", "\(key) is not an OAuth2 setting (token_url, client_id, client_secret, scope)")
                }
                let text = { (key: String) in fields[key]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
                if let tokenURL = text("token_url"), let clientID = text("client_id"), let clientSecret = text("client_secret"),
                    tokenURL.count <= 2048, clientID.count <= 512, clientSecret.count <= 2048
                {
                    if let refusal = await configuration.engine.targetGuard.refusal(for: tokenURL) {
                        reader.fail("oauth2", "token_url: \(refusal)")
                    }
                    credentials.oauth2 = OAuth2ClientCredentials(tokenURL: tokenURL, clientID: clientID, clientSecret: clientSecret, scope: text("scope"))
                } else {
                    reader.fail("oauth2", "needs token_url, client_id and client_secret (strings), and may have a scope")
                }
            default:
                reader.fail("oauth2", "must be an object {token_url, client_id, client_secret, scope} or null")
            }
            settings.credentials = credentials
        }
        if reader.has("tls_client_certificate") {
            var credentials = settings.credentials ?? HookCredentials()
            switch reader.value("tls_client_certificate") {
            case .null?:
                (credentials.clientCertificate, credentials.clientKey) = (nil, nil)
            case .object(let members)?:
                let fields = Dictionary(members, uniquingKeysWith: { _, last in last })
                if let certificate = fields["certificate"]?.stringValue, let key = fields["private_key"]?.stringValue,
                    certificate.utf8.count <= 64 * 1024, key.utf8.count <= 64 * 1024, fields.count == 2
                {
                    if let problem = HookCredentials.clientCertificateProblem(certificate: certificate, key: key) {
                        reader.fail("tls_client_certificate", problem)
                    }
                    (credentials.clientCertificate, credentials.clientKey) = (certificate, key)
                } else {
                    reader.fail("tls_client_certificate", "needs certificate and private_key, both PEM strings")
                }
            default:
                reader.fail("tls_client_certificate", "must be an object {certificate, private_key} or null")
            }
            settings.credentials = credentials
        }
        if settings.credentials?.oauth2 != nil && settings.credentials?.basicUser != nil {
            reader.fail("oauth2", "a hook authenticates with OAuth2 or with Basic credentials in its URL, not both")
        }
        if let contentType = reader.choice("content_type", as: ContentType.self) { settings.contentType = contentType }
        if let events = reader.stringArray("events") {
            let catalog = try await catalog.entries()
            if events.isEmpty { reader.fail("events", "must name at least one event, or \"*\"") }
            for pattern in events { if let problem = EventTypeCatalog.problem(with: pattern, in: catalog) { reader.fail("events", problem) } }
            settings.events = Array(NSOrderedSet(array: events)) as? [String] ?? events
        }
        if let channels = reader.stringArray("channels", maxCount: 50) { settings.channels = channels }
        if let active = reader.bool("active") { settings.active = active }
        if let insecure = reader.bool("insecure_ssl") { settings.insecureSSL = insecure }
        // Up to what WebhookDB and Sync Gateway allow (and the config file takes).
        if let timeout = reader.int("timeout_seconds", in: 1...Hook.maxTimeoutSeconds) { settings.timeoutSeconds = timeout }
        if let github = reader.bool("github_headers") { settings.githubHeaders = github }
        Self.readPolicy(&settings.policy, from: &reader)
        if let ordering = reader.choice("ordering", as: Ordering.self) { settings.ordering = ordering }
        if let signature = reader.choice("signature", as: SignatureScheme.self) { settings.signature = signature }
        if let format = reader.choice("payload_format", as: PayloadFormat.self) { settings.payloadFormat = format }
        if let mode = reader.choice("mode", as: HookMode.self) { settings.mode = mode }
        if reader.has("sync") {
            if case .object(let members)? = reader.value("sync") {
                for (key, value) in members {
                    switch (key, value.intValue.map(Int.init)) {
                    case ("page_size", let size?) where SyncSettings.pageSizes.contains(size): settings.sync.pageSize = size
                    case ("period_seconds", let period?) where SyncSettings.periods.contains(period): settings.sync.periodSeconds = period
                    case ("page_size", _): reader.fail("sync", "page_size must be from 1 to 1000")
                    case ("period_seconds", _): reader.fail("sync", "period_seconds must be from 60 to 86400")
                    default: reader.fail("sync", "\(key) is not a sync setting (page_size, period_seconds)")
                    }
                }
            } else {
                reader.fail("sync", "must be an object {page_size, period_seconds}")
            }
        }
        // HTTP Sync posts whole tables: HTTPS only, outside local development.
        if settings.mode == .sync, !configuration.engine.allowPrivateTargets, !settings.url.lowercased().hasPrefix("https://") {
            reader.fail("url", "an HTTP Sync hook needs an https:// URL")
        }
        for (field, path) in [("filter", \HookSettings.filter), ("transform", \HookSettings.transform)] where reader.has(field) {
            let source = reader.string(field, maxLength: Self.maxScriptLength)?.trimmingCharacters(in: .whitespacesAndNewlines)
            if let source, !source.isEmpty {
                if let failure = await trialScripts.check(source: source) { reader.fail(field, failure.description) }
                settings[keyPath: path] = source
            } else {
                settings[keyPath: path] = nil
            }
        }
    }

    /// The hook's own delivery policy: each field, when sent, replaces the hook's; null goes back to
    /// the server's setting.
    static func readPolicy(_ policy: inout DeliveryPolicy, from reader: inout FieldReader) {
        if reader.has("retry_policy") {
            switch reader.value("retry_policy") {
            case .null?, nil: policy.retry = nil
            case let value?:
                do { policy.retry = try RetryPolicy(json: value) } catch { reader.fail("retry_policy", error.description) }
            }
        }
        let disable = DeliveryPolicy.disableAfterRange
        if reader.has("disable_after_seconds") { policy.disableAfterSeconds = reader.int("disable_after_seconds", in: disable) }
        if reader.has("rate_limit_per_second") { policy.rateLimitPerSecond = reader.int("rate_limit_per_second", in: DeliveryPolicy.rateLimitRange) }
    }

    /// A hook's settings to change, its credentials opened.
    func currentSettings(of hook: Hook) throws -> HookSettings {
        var settings = HookSettings(hook: hook)
        settings.credentials = try hook.encryptedCredentials.map { try HookCredentials.open($0, with: secretBox) }
        return settings
    }

    /// The longest filter or transform accepted.
    static let maxScriptLength = 64 * 1024

    /// A team may subscribe only to channels granted to it: channels route events to teams.
    static func checkChannels(_ channels: [String], of team: Team, _ reader: inout FieldReader) {
        for channel in team.ungranted(channels) {
            reader.fail("channels", Self.ungrantedMessage(channel, team: team))
        }
    }

    static func ungrantedMessage(_ channel: String, team: Team) -> String {
        "channel \(channel) is not granted to team \(team.slug) (granted: \(team.channels.sorted().joined(separator: ", ")))"
    }

    /// Sealed key material for a new hook: its secret and, for `ed25519` hooks, a signing key.
    func newKeys(secret: WebhookSecret, signature: SignatureScheme, credentials: HookCredentials? = nil) throws -> HookKeys {
        var keys = HookKeys(encryptedSecret: try secretBox.seal(secret.string), encryptedCredentials: try credentials?.sealed(with: secretBox))
        if signature == .ed25519 { (keys.encryptedSigningKey, keys.publicKey) = try newSigningKey() }
        return keys
    }

    /// A new Ed25519 key: sealed private key and published `whpk_` public key.
    func newSigningKey() throws -> (Data, String) {
        let signingKey = WebhookSigningKey.generate()
        return (try secretBox.seal(signingKey.string), signingKey.publicKey.string)
    }

    /// Creates the hook (and its first ping) and wakes the engine.
    func createHook(teamID: Int64, settings: HookSettings, secret: WebhookSecret) async throws -> Hook {
        let count = try await store.hooks(teamID: teamID).count
        guard count < configuration.maxHooksPerTeam else {
            throw Problem(
                status: .unprocessableContent, type: "/problems/hook-quota", title: "Too many hooks",
                detail: "This team has \(count) hooks, the most a team may have (\(configuration.maxHooksPerTeam)); delete one first."
            )
        }
        let keys = try newKeys(secret: secret, signature: settings.signature, credentials: settings.credentials)
        let (hook, _) = try await store.createHook(teamID: teamID, settings: settings, keys: keys, now: Date())
        try await auditHook("hook.created", before: nil, after: hook)
        return hook
    }

    /// Deletes the hook and its delivery log.
    func deleteHook(_ hook: Hook) async throws {
        guard try await store.deleteHook(id: hook.id) else { return }
        try await auditHook("hook.deleted", before: hook, after: nil)
    }

    /// Records a change to a hook: its settings before and after, secrets never (a new secret or
    /// credentials show as changed, masked).
    func auditHook(_ action: String, before: Hook?, after: Hook?) async throws {
        guard let hook = after ?? before else { return }
        try await store.audit(
            action, target: "hook \(hook.id)", teamID: hook.teamID, changes: AuditEntry.changes(before: before.map(Self.auditView), after: after.map(Self.auditView))
        )
    }

    /// What the audit log shows of a hook.
    static func auditView(_ hook: Hook) -> JSONValue {
        .object([
            ("url", .string(hook.url)), ("events", .array(hook.events.map(JSONValue.string))), ("channels", .array(hook.channels.map(JSONValue.string))),
            ("active", .bool(hook.active)), ("content_type", .string(hook.contentType.rawValue)), ("insecure_ssl", .bool(hook.insecureSSL)),
            ("timeout_seconds", .int(Int64(hook.timeoutSeconds))), ("ordering", .string(hook.ordering.rawValue)),
            ("signature", .string(hook.signature.rawValue)), ("mode", .string(hook.mode.rawValue)),
            ("filter", hook.filter.map(JSONValue.string) ?? .null), ("transform", hook.transform.map(JSONValue.string) ?? .null),
            ("delivery_policy", hook.policy.json),
            ("secret", .string(hook.encryptedSecret.base64EncodedString())),
            ("credentials", hook.encryptedCredentials.map { .string($0.base64EncodedString()) } ?? .null),
        ])
    }

    /// Saves new settings (and a new secret, if given). Turning a disabled hook back on clears
    /// why it was disabled and lets its waiting deliveries go.
    func updateHook(_ hook: Hook, settings: HookSettings, secret: String?) async throws -> Hook {
        let before = hook
        var hook = hook
        let reactivated = settings.active && !hook.active
        hook.url = settings.url
        hook.contentType = settings.contentType
        hook.events = settings.events
        hook.channels = settings.channels
        hook.active = settings.active
        hook.insecureSSL = settings.insecureSSL
        hook.timeoutSeconds = settings.timeoutSeconds
        hook.ordering = settings.ordering
        hook.signature = settings.signature
        hook.filter = settings.filter
        hook.transform = settings.transform
        hook.payloadFormat = settings.payloadFormat
        hook.sync.pageSize = settings.sync.pageSize
        hook.sync.periodSeconds = settings.sync.periodSeconds
        hook.githubHeaders = settings.githubHeaders
        hook.policy = settings.policy
        if let credentials = settings.credentials { hook.encryptedCredentials = try credentials.sealed(with: secretBox) }
        if let secret { hook.encryptedSecret = try secretBox.seal(secret) }
        if hook.signature == .ed25519 && hook.encryptedSigningKey == nil {
            let (sealed, publicKey) = try newSigningKey()
            hook.encryptedSigningKey = sealed
            hook.publicKey = publicKey
        }
        if reactivated { Self.reactivate(&hook) }
        // A new address (or new credentials) is a new receiver: its breaker starts closed.
        if hook.url != before.url || hook.encryptedCredentials != before.encryptedCredentials { hook.circuit = CircuitState() }
        let saved = try await store.updateHook(hook, now: Date())
        try await auditHook("hook.updated", before: before, after: saved)
        return saved
    }

    /// Turns a disabled hook back on: why it was disabled is cleared and its waiting deliveries go.
    /// The caller has checked the hook may be changed (``editableHook(_:for:)``): a hook its config
    /// file retired comes back only with the file.
    func enableHook(_ hook: Hook) async throws -> Hook {
        guard !hook.active else { return hook }
        var enabled = hook
        Self.reactivate(&enabled)
        let saved = try await store.updateHook(enabled, now: Date())
        try await auditHook("hook.enabled", before: hook, after: saved)
        return saved
    }

    private static func reactivate(_ hook: inout Hook) {
        hook.active = true
        hook.disabledReason = nil
        hook.failingSince = nil
        hook.circuit = CircuitState()
    }

    /// Queues a `ping` delivery for the hook; returns its id.
    @discardableResult func ping(_ hook: Hook) async throws -> String {
        let id = try await store.ping(hookID: hook.id, now: Date())
        try await store.audit("hook.pinged", target: "hook \(hook.id)", teamID: hook.teamID, changes: .object([("delivery", .string(id))]))
        return id
    }

    /// Queues one of the hook's finished deliveries again, as a redelivery.
    func redeliver(_ deliveryID: String?, of hook: Hook) async throws -> Delivery {
        guard let deliveryID, let delivery = try await store.delivery(id: deliveryID), delivery.hookID == hook.id else {
            throw Problem.notFound("No such delivery.")
        }
        guard try await store.redeliver(deliveryID: delivery.id, now: Date()) else {
            throw Problem.conflict("The delivery is being sent right now; redeliver it once this attempt finishes.")
        }
        try await store.audit(
            "delivery.redelivered", target: "delivery \(delivery.id)", teamID: hook.teamID,
            changes: .object([("hook", .int(hook.id)), ("event", .string(delivery.eventID))])
        )
        return delivery
    }

    /// "Sync now": the next page of an HTTP Sync hook is made at once, full or not.
    func syncNow(_ hook: Hook) async throws {
        guard hook.mode == .sync else { throw Problem.conflict("This hook is not an HTTP Sync hook.") }
        try await store.requestSync(hookID: hook.id, at: Date())
        try await store.audit("hook.sync-requested", target: "hook \(hook.id)", teamID: hook.teamID)
    }

    /// Ends a rotation's grace now: the previous secret stops signing, and GitHub's signatures
    /// (`X-Hub-Signature-256`, `X-Hub-Signature`) move to the new secret. Nil when no rotation is under way.
    func finishRotation(of hook: Hook) async throws -> Hook? {
        guard hook.encryptedPreviousSecret != nil, let expires = hook.previousSecretExpiresAt, expires > Date() else { return nil }
        let before = hook
        var hook = hook
        hook.encryptedPreviousSecret = nil
        hook.previousSecretExpiresAt = nil
        let saved = try await store.updateHook(hook, now: Date())
        try await auditHook("hook.secret-rotation-finished", before: before, after: saved)
        return saved
    }

    /// GitHub's "test push": the hook's most recent event (among the last ``testLookback`` of the
    /// log) is sent to it again as a new delivery. Nil when none of them goes to the hook.
    func testHook(_ hook: Hook) async throws -> String? {
        guard hook.mode == .push else { throw Problem.conflict("An HTTP Sync hook posts pages of rows, not events: use Sync now.") }
        guard let team = try await store.team(id: hook.teamID) else { return nil }
        let last = try await store.lastSeq()
        let recent = try await store.events(since: max(0, last - Int64(Self.testLookback)), limit: Self.testLookback)
        // Any event the hook subscribes to, older than the hook or not: a test shows what it would get.
        guard let event = recent.last(where: { EventMatcher.listens(hook, to: $0, grantedChannels: team.channels) }) else { return nil }
        return try await store.deliver(eventSeq: event.seq, toHook: hook.id, now: Date())
    }

    /// How far back a hook's test looks for an event to send.
    static let testLookback = 1_000

    /// Issues `secret`; the current one keeps signing for `grace`.
    func rotateSecret(of hook: Hook, to secret: WebhookSecret, grace: Duration) async throws -> Hook {
        let before = hook
        var hook = hook
        let now = Date()
        hook.encryptedPreviousSecret = hook.encryptedSecret
        hook.previousSecretExpiresAt = now.addingTimeInterval(grace.seconds)
        hook.encryptedSecret = try secretBox.seal(secret.string)
        let saved = try await store.updateHook(hook, now: now)
        try await auditHook("hook.secret-rotated", before: before, after: saved)
        return saved
    }
}

/// What a hook's filter and transform make of an example event (the form's Test button).
struct ScriptTrial: Sendable {
    var eventType: String
    /// `delivered`, `filtered out`, or the filter's error; nil without a filter.
    var filterOutcome: String?
    /// The body the receiver would get (after the transform), pretty-printed; nil when filtered out.
    var body: String?
    var transformError: String?
}

extension HeraldServices {
    /// Runs `filter` and `transform` against the example payload of `eventType` (its catalog
    /// example, or `{}`), exactly as fan-out and sending would, without storing anything.
    func trialRun(filter: String?, transform: String?, eventType: String, format: PayloadFormat) async throws -> ScriptTrial {
        // `lead.created@2` is version 2's example; a type with versions alone, its current version's.
        let (name, named) = EventMatcher.versioned(eventType).map { ($0.name, Optional($0.version)) } ?? (eventType, nil)
        let type = try await catalog.entry(named: name)?.type
        let version = named ?? type?.currentVersion?.number
        let example = version.flatMap { type?.version($0)?.example } ?? type?.example ?? .object([])
        let event = Event(
            seq: 0, id: "evt_example", type: name, data: example.jsonString, channels: [], idempotencyKey: nil, timestamp: Date(), version: version
        )
        let key = ScriptRunner.onceKey()
        var trial = ScriptTrial(eventType: name + (version.map { " version \($0)" } ?? ""))
        if let filter {
            switch await trialScripts.filter(key: key + "-f", source: filter, event: event) {
            case .deliver: trial.filterOutcome = "delivered"
            case .skip(let note): trial.filterOutcome = note
            }
            guard trial.filterOutcome == "delivered" else { return trial }
        }
        var body = HookScripts.body(for: event, format: format)
        if let transform {
            do {
                body = try await trialScripts.transform(key: key + "-t", source: transform, body: body)
            } catch {
                trial.transformError = error.description
                return trial
            }
        }
        trial.body = (try? JSONValue(parsing: body).prettyString) ?? body
        return trial
    }
}
