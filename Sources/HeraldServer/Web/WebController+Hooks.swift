import Foundation
import HeraldCore
import HeraldVerify
import Hummingbird
import ServiceLifecycle

extension WebController {
    /// The hook if the signed-in user may see it; another team's hook is a 404.
    func visibleHook(_ id: String?, _ signIn: WebSignIn) async throws -> Hook {
        guard let id, let hookID = Int64(id), let hook = try await store.hook(id: hookID), signIn.user.canAccess(team: hook.teamID) else {
            throw Problem.notFound("There is no such hook, or it belongs to another team.")
        }
        return hook
    }

    func hookSummary(_ hook: Hook, teams: [Int64: Team]) -> [String: Any] {
        let status = hook.lastResponse.status
        return [
            "id": hook.id, "url": hook.url, "events": hook.events.joined(separator: ", "), "active": hook.active,
            "disabledReason": hook.disabledReason ?? "", "hasDisabledReason": hook.disabledReason != nil,
            "team": teams[hook.teamID]?.name ?? "", "hasTeam": teams[hook.teamID] != nil,
            "lastStatus": status, "lastCode": hook.lastResponse.code.map(String.init) ?? "", "hasLastCode": hook.lastResponse.code != nil,
            "statusIcon": status == "active" ? "✔" : status == "failed" ? "✖" : "•",
            "statusClass": status == "active" ? "ok" : status == "failed" ? "bad" : "idle",
        ]
    }

    func teamsByID() async throws -> [Int64: Team] {
        Dictionary(uniqueKeysWithValues: try await store.teams().map { ($0.id, $0) })
    }

    @Sendable func hookList(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let list = try await store.hooks(teamID: signIn.user.role == .admin ? nil : signIn.user.teamID ?? -1)
        let teams = try await teamsByID()
        return renderer.render(
            "hooks",
            page(signIn, title: "Webhooks", [
                "hooks": list.map { hookSummary($0, teams: teams) }, "empty": list.isEmpty,
                "teamName": signIn.user.teamID.flatMap { teams[$0]?.name } ?? "All teams",
            ])
        )
    }

    // MARK: the form

    /// The form's view of a hook's settings, with the user's values and the errors next to fields.
    func formContext(
        _ signIn: WebSignIn, title: String, action: String, values: FormValues, errors: [String: String], hookID: Int64?
    ) async throws -> [String: Any] {
        let catalog = try await store.eventTypes().filter { $0.name != PingPayload.eventType }
        let teams = signIn.user.role == .admin ? try await store.teams() : []
        let ownTeam = try await signIn.user.teamID.asyncFlatMap { try await store.team(id: $0) }
        var context = page(signIn, title: title, [
            "action": action, "hookID": hookID ?? 0, "isEdit": hookID != nil,
            "url": values.url, "secretHint": hookID == nil ? "Leave empty and Herald generates one, shown once." : "Leave empty to keep the current secret.",
            "json": values.contentType == .json, "form": values.contentType == .form,
            "sslOn": !values.insecureSSL, "sslOff": values.insecureSSL, "active": values.active,
            "modeDefault": values.mode == "default", "modeAll": values.mode == "all", "modeCustom": values.mode == "custom",
            "channels": values.channels, "teamChannels": ownTeam.map { $0.channels.sorted().joined(separator: ", ") } ?? "", "hasTeamChannels": ownTeam != nil,
            "ordered": values.ordering == .ordered, "ed25519": values.signature == .ed25519,
            "modePush": values.deliveryMode == .push, "modeSync": values.deliveryMode == .sync, "syncPageSize": values.syncPageSize,
            "headers": values.headers, "basicUser": values.basicUser, "hasBasic": values.hasBasic,
            "oauthTokenURL": values.oauthTokenURL, "oauthClientID": values.oauthClientID, "oauthScope": values.oauthScope, "hasOAuth2": values.hasOAuth2,
            "hasCertificate": values.hasCertificate,
            "authOpen": values.deliveryMode == .sync || !values.headers.isEmpty || !values.basicUser.isEmpty || !values.oauthTokenURL.isEmpty
                || values.hasCertificate || ["headers", "oauth2", "tls_client_certificate", "basic_password", "sync", "mode"].contains { errors[$0] != nil },
            "timeout": values.timeout, "githubHeaders": values.githubHeaders, "filter": values.filter, "transform": values.transform,
            "retryServer": values.retryKind != "delays" && values.retryKind != "exponential", "retryDelays": values.retryDelays,
            "retryListed": values.retryKind == "delays", "retryExponential": values.retryKind == "exponential",
            "retryInitial": values.retryInitial, "retryMax": values.retryMax, "retryAttempts": values.retryAttempts,
            "disableAfter": values.disableAfter, "rateLimit": values.rateLimit,
            "serverRetries": RetryPolicy.delays(services.configuration.engine.retrySchedule.delays.map(\.seconds)).summary,
            "policyOpen": values.retryKind != "server" || !values.disableAfter.isEmpty || !values.rateLimit.isEmpty
                || ["retry_policy", "disable_after_seconds", "rate_limit_per_second"].contains { errors[$0] != nil },
            "scriptsOpen": !values.filter.isEmpty || !values.transform.isEmpty || errors["filter"] != nil || errors["transform"] != nil,
            "eventTypes": catalog.filter { !$0.archived || values.events.contains($0.name) }.map { type in
                [
                    "name": type.name, "description": type.description, "checked": values.events.contains(type.name), "deprecated": type.deprecated, "hasVersions": !type.versions.isEmpty,
                    "versions": type.versions.filter { !$0.archived || values.events.contains("\(type.name)@\($0.number)") }.map { version in
                        ["pattern": "\(type.name)@\(version.number)", "number": version.number, "deprecated": version.deprecated,
                         "checked": values.events.contains("\(type.name)@\(version.number)")] as [String: Any]
                    },
                ] as [String: Any]
            },
            "isAdmin": signIn.user.role == .admin,
            "teams": teams.map { ["id": $0.id, "name": $0.name, "selected": $0.id == values.teamID] },
            "hasErrors": !errors.isEmpty,
        ])
        for (field, message) in errors { context["error_\(field)"] = message }
        return context
    }

    /// The values a hook form shows.
    struct FormValues {
        var url = ""
        var contentType = ContentType.json
        var insecureSSL = false
        var active = true
        var mode = "default"
        var events: [String] = []
        var channels = ""
        var ordering = Ordering.none
        var signature = SignatureScheme.hmac
        var timeout = 10
        var githubHeaders = true
        /// The delivery policy: `server`, `delays` or `exponential`, with its fields as typed.
        var retryKind = "server"
        var retryDelays = ""
        var retryInitial = ""
        var retryMax = ""
        var retryAttempts = ""
        var disableAfter = ""
        var rateLimit = ""
        var policyGiven = false
        var teamID: Int64?
        var filter = ""
        var transform = ""
        /// `push` (deliver each event) or `sync` (HTTP Sync pages).
        var deliveryMode = HookMode.push
        var syncPageSize = 200
        /// `Name: value` lines; a value shown masked (``masked``) keeps the stored one.
        var headers = ""
        var basicUser = ""
        var basicPassword = ""
        var basicRemove = false
        var oauthTokenURL = ""
        var oauthClientID = ""
        var oauthClientSecret = ""
        var oauthScope = ""
        var oauthRemove = false
        var tlsCertificate = ""
        var tlsKey = ""
        var tlsRemove = false
        /// Whether the submitted form had these fields at all: a form without them keeps what is stored.
        var headersGiven = false
        var modeGiven = false
        /// What is set now, for the form's hints (nothing secret).
        var hasBasic = false
        var hasOAuth2 = false
        var hasCertificate = false

        static let masked = "••••"

        init() {}

        init(hook: Hook) {
            url = hook.url
            contentType = hook.contentType
            insecureSSL = hook.insecureSSL
            active = hook.active
            mode = hook.events == ["*"] ? "all" : hook.events == ["lead.created"] ? "default" : "custom"
            events = hook.events
            channels = hook.channels.joined(separator: ", ")
            ordering = hook.ordering
            signature = hook.signature
            timeout = hook.timeoutSeconds
            githubHeaders = hook.githubHeaders
            switch hook.policy.retry {
            case .delays(let seconds)?:
                retryKind = "delays"
                retryDelays = seconds.map(Self.duration).joined(separator: ", ")
            case .exponential(let initial, let max, let attempts)?:
                (retryKind, retryInitial, retryMax, retryAttempts) = ("exponential", Self.duration(initial), Self.duration(max), String(attempts))
            case nil:
                break
            }
            disableAfter = hook.policy.disableAfterSeconds.map { Self.duration(Double($0)) } ?? ""
            rateLimit = hook.policy.rateLimitPerSecond.map(String.init) ?? ""
            teamID = hook.teamID
            filter = hook.filter ?? ""
            transform = hook.transform ?? ""
            deliveryMode = hook.mode
            syncPageSize = hook.sync.pageSize
        }

        /// The hook's credentials as the form shows them: names, users and ids; secrets masked.
        mutating func show(_ credentials: HookCredentials?) {
            guard let credentials else { return }
            headers = credentials.headers.map { "\($0.name): \(Self.masked)" }.joined(separator: "\n")
            basicUser = credentials.basicUser ?? ""
            hasBasic = credentials.basicUser != nil
            if let oauth2 = credentials.oauth2 {
                (oauthTokenURL, oauthClientID, oauthScope, hasOAuth2) = (oauth2.tokenURL, oauth2.clientID, oauth2.scope ?? "", true)
            }
            hasCertificate = credentials.clientCertificate != nil
        }

        init(form: FormData) {
            url = form.trimmed("url")
            contentType = ContentType(rawValue: form["content_type"] ?? "") ?? .json
            insecureSSL = form["insecure_ssl"] == "1"
            active = form["active"] == "1"
            mode = form["events_mode"] ?? "default"
            events = form.all("events")
            channels = form.trimmed("channels")
            ordering = Ordering(rawValue: form["ordering"] ?? "") ?? .none
            signature = SignatureScheme(rawValue: form["signature"] ?? "") ?? .hmac
            timeout = Int(form.trimmed("timeout_seconds")) ?? 10
            githubHeaders = form["github_headers"] == "1"
            policyGiven = form["retry_kind"] != nil
            retryKind = form["retry_kind"] ?? "server"
            retryDelays = form.trimmed("retry_delays")
            retryInitial = form.trimmed("retry_initial")
            retryMax = form.trimmed("retry_max")
            retryAttempts = form.trimmed("retry_attempts")
            disableAfter = form.trimmed("disable_after")
            rateLimit = form.trimmed("rate_limit")
            teamID = Int64(form["team"] ?? "")
            filter = form.trimmed("filter")
            transform = form.trimmed("transform")
            deliveryMode = HookMode(rawValue: form["delivery_mode"] ?? "") ?? .push
            modeGiven = form["delivery_mode"] != nil
            headersGiven = form["headers"] != nil
            syncPageSize = Int(form.trimmed("sync_page_size")) ?? 200
            headers = form["headers"] ?? ""
            basicUser = form.trimmed("basic_user")
            basicPassword = form["basic_password"] ?? ""
            basicRemove = form["basic_remove"] == "1"
            oauthTokenURL = form.trimmed("oauth2_token_url")
            oauthClientID = form.trimmed("oauth2_client_id")
            oauthClientSecret = form["oauth2_client_secret"] ?? ""
            oauthScope = form.trimmed("oauth2_scope")
            oauthRemove = form["oauth2_remove"] == "1"
            tlsCertificate = form.trimmed("tls_certificate")
            tlsKey = form.trimmed("tls_key")
            tlsRemove = form["tls_remove"] == "1"
        }

        /// The API's fields for the mode and the credentials, given what the hook has now (`current`):
        /// a secret left empty, or a header value left masked, keeps the stored one.
        func credentialFields(current: HookCredentials?, into fields: inout [(String, JSONValue)], errors: inout [String: String]) {
            if modeGiven {
                fields.append(("mode", .string(deliveryMode.rawValue)))
                if deliveryMode == .sync { fields.append(("sync", .object([("page_size", .int(Int64(syncPageSize)))]))) }
            }
            guard headersGiven else { return appendOthers(current: current, into: &fields) }
            var headerFields: [(String, JSONValue)] = []
            for line in headers.split(whereSeparator: \.isNewline) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let colon = line.firstIndex(of: ":") else {
                    errors["headers"] = "Write one header a line, as Name: value."
                    continue
                }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if value == Self.masked, let stored = current?.headers.first(where: { $0.name.lowercased() == name.lowercased() }) { value = stored.value }
                headerFields.append((name, .string(value)))
            }
            fields.append(("headers", .object(headerFields)))
            appendOthers(current: current, into: &fields)
        }

        /// OAuth2 and the client certificate, when the form says something of them.
        func appendOthers(current: HookCredentials?, into fields: inout [(String, JSONValue)]) {
            if oauthRemove {
                fields.append(("oauth2", .null))
            } else if !oauthTokenURL.isEmpty || !oauthClientID.isEmpty {
                let secret = oauthClientSecret.isEmpty ? current?.oauth2?.clientSecret ?? "" : oauthClientSecret
                var oauth: [(String, JSONValue)] = [("token_url", .string(oauthTokenURL)), ("client_id", .string(oauthClientID)), ("client_secret", .string(secret))]
                if !oauthScope.isEmpty { oauth.append(("scope", .string(oauthScope))) }
                fields.append(("oauth2", .object(oauth)))
            }
            if tlsRemove {
                fields.append(("tls_client_certificate", .null))
            } else if !tlsCertificate.isEmpty || !tlsKey.isEmpty {
                fields.append(("tls_client_certificate", .object([("certificate", .string(tlsCertificate)), ("private_key", .string(tlsKey))])))
            }
        }

        /// The URL to send: with the Basic credentials in it when new ones are given.
        func urlWithCredentials(current: HookCredentials?, errors: inout [String: String]) -> String {
            guard !basicRemove, !basicUser.isEmpty, var components = URLComponents(string: url) else { return url }
            let password = basicPassword.isEmpty && current?.basicUser == basicUser ? current?.basicPassword ?? "" : basicPassword
            guard current?.basicUser != basicUser || !basicPassword.isEmpty else { return url }  // unchanged: kept as stored
            if password.isEmpty { errors["basic_password"] = "Enter the password for \(basicUser)." }
            components.user = basicUser
            components.password = password
            return components.string ?? url
        }

        /// Seconds as the form writes them: `90s`, `5m`, `2h`, `500ms`.
        static func duration(_ seconds: Double) -> String {
            for (unit, size) in [("h", 3600.0), ("m", 60.0)] where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
                return "\(Int(seconds / size))\(unit)"
            }
            return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(Int((seconds * 1000).rounded()))ms"
        }

        /// A duration typed in the form (`30s`, `5m`, `2h`, `250ms`), in seconds.
        static func seconds(_ text: String) -> Double? {
            RetrySchedule.duration(parsing: text)?.seconds
        }

        /// The API's delivery-policy fields, when the form has them; what cannot be read is an error
        /// on its field, in the form's words.
        func policyFields(into fields: inout [(String, JSONValue)], errors: inout [String: String]) {
            guard policyGiven else { return }
            switch retryKind {
            case "delays":
                let parts = retryDelays.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                let seconds = parts.compactMap(Self.seconds)
                if seconds.count != parts.count {
                    errors["retry_policy"] = "Write the delays before each retry as 5s, 5m, 30m, 2h."
                } else {
                    fields.append(("retry_policy", .object([("type", .string("delays")), ("delays_seconds", .array(seconds.map { .double($0) }))])))
                }
            case "exponential":
                if let initial = Self.seconds(retryInitial), let max = Self.seconds(retryMax), let attempts = Int(retryAttempts) {
                    fields.append((
                        "retry_policy",
                        .object([
                            ("type", .string("exponential")), ("initial_seconds", .double(initial)), ("max_seconds", .double(max)),
                            ("attempts", .int(Int64(attempts))),
                        ])
                    ))
                } else {
                    errors["retry_policy"] = "Give the first delay and the longest (as 10s, 1h) and the number of attempts."
                }
            default:
                fields.append(("retry_policy", .null))
            }
            if disableAfter.isEmpty {
                fields.append(("disable_after_seconds", .null))
            } else if let seconds = Self.seconds(disableAfter) {
                fields.append(("disable_after_seconds", .double(seconds)))
            } else {
                errors["disable_after_seconds"] = "Write how long as 12h or 72h, or leave it empty for the server's setting."
            }
            if rateLimit.isEmpty {
                fields.append(("rate_limit_per_second", .null))
            } else {
                fields.append(("rate_limit_per_second", Int(rateLimit).map { .int(Int64($0)) } ?? .string(rateLimit)))
            }
        }

        /// The events the hook would subscribe to.
        var chosenEvents: [String] { mode == "all" ? ["*"] : mode == "default" ? ["lead.created"] : events }

        /// The same fields as the API's JSON, so the form is validated by the API's rules.
        var json: JSONValue {
            let chosen = chosenEvents
            return .object([
                ("url", .string(url)), ("content_type", .string(contentType.rawValue)), ("insecure_ssl", .bool(insecureSSL)),
                ("active", .bool(active)), ("events", .array(chosen.map(JSONValue.string))),
                ("channels", .array(channels.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 != .string("") })),
                ("ordering", .string(ordering.rawValue)), ("signature", .string(signature.rawValue)), ("timeout_seconds", .int(Int64(timeout))),
                ("filter", .string(filter)), ("transform", .string(transform)), ("github_headers", .bool(githubHeaders)),
            ])
        }
    }

    /// Validates a submitted form with the API's rules; errors are keyed by field name.
    func validate(_ values: FormValues, into settings: inout HookSettings) async throws -> [String: String] {
        var errors: [String: String] = [:]
        var fields = values.json.objectValue?.map { ($0.key, $0.value) } ?? []
        let current = settings.credentials
        if let index = fields.firstIndex(where: { $0.0 == "url" }) {
            fields[index].1 = .string(values.urlWithCredentials(current: current, errors: &errors))
        }
        values.credentialFields(current: current, into: &fields, errors: &errors)
        values.policyFields(into: &fields, errors: &errors)
        // Removed before the API's rules run, so that OAuth2 may take Basic's place in one save.
        if values.basicRemove, var credentials = settings.credentials {
            (credentials.basicUser, credentials.basicPassword) = (nil, nil)
            settings.credentials = credentials
        }
        var reader = try FieldReader(.object(fields))
        try await services.readSettings(&reader, into: &settings)
        for error in reader.errors where errors[Self.formField(error.field)] == nil {
            // The API's messages read as sentence fragments; the form shows them as sentences.
            errors[Self.formField(error.field)] = error.message.prefix(1).uppercased() + error.message.dropFirst() + "."
        }
        // Plainer words where the form knows better than the API's rule.
        if values.url.isEmpty { errors["url"] = "Enter the URL Herald should POST to." }
        if values.mode == "custom" && values.events.isEmpty { errors["events"] = "Choose at least one event." }
        return errors
    }

    /// How many of the log's newest events the hook page looks at to say whether the hook matched any.
    static let matchWindow = 200

    /// What a hook authenticates with, as its page lists it: names and users, never a secret.
    static func authenticationSummary(_ credentials: HookCredentials?) -> [String] {
        guard let credentials else { return [] }
        var lines: [String] = []
        if let user = credentials.basicUser { lines.append("Basic: \(user) / ••••") }
        if let oauth2 = credentials.oauth2 { lines.append("OAuth2: client \(oauth2.clientID) at \(oauth2.tokenURL), secret ••••") }
        if credentials.clientCertificate != nil { lines.append("client certificate") }
        for header in credentials.headers { lines.append("\(header.name): ••••") }
        return lines
    }

    /// The form field an API error's pointer names (`/oauth2` → `oauth2`, `/sync/page_size` → `sync`).
    static func formField(_ pointer: String) -> String {
        String(pointer.dropFirst().split(separator: "/").first ?? "")
    }

    /// The API's channel rule, worded for the form.
    func checkChannels(_ channels: [String], teamID: Int64?, into errors: inout [String: String]) async throws {
        guard errors["channels"] == nil, let teamID, let team = try await store.team(id: teamID), let channel = team.ungranted(channels).first else {
            return
        }
        let message = HeraldServices.ungrantedMessage(channel, team: team)
        errors["channels"] = message.prefix(1).uppercased() + message.dropFirst() + "."
    }

    @Sendable func newHookPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        // The form's defaults deliver: a hook without channels listens on every channel its team reads.
        return renderer.render("hook-form", try await formContext(signIn, title: "Add webhook", action: "/hooks", values: FormValues(), errors: [:], hookID: nil))
    }

    @Sendable func createHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let form = try await checkedForm(request, signIn)
        let values = FormValues(form: form)
        var settings = HookSettings(url: values.url)
        var errors = try await validate(values, into: &settings)
        let teamID: Int64? = signIn.user.role == .admin ? values.teamID : signIn.user.teamID
        if teamID == nil { errors["team"] = "Choose the team this hook belongs to." }
        try await checkChannels(settings.channels, teamID: teamID, into: &errors)
        if form["intent"] == "test" {
            return try await trialPage(values, errors: errors, signIn, title: "Add webhook", action: "/hooks", hookID: nil, request: request, context: context)
        }
        let supplied = form.trimmed("secret")
        if !supplied.isEmpty && supplied.count < 8 { errors["secret"] = "Use at least 8 characters, or leave it empty." }
        guard errors.isEmpty, let teamID else {
            let page = try await formContext(signIn, title: "Add webhook", action: "/hooks", values: values, errors: errors, hookID: nil)
            return try renderer.render("hook-form", page, status: .unprocessableContent).response(from: request, context: context)
        }
        let secret = supplied.isEmpty ? WebhookSecret.generate() : WebhookSecret(supplied)
        // An HTTP Sync receiver answers a test page before the hook exists, as through the API.
        if settings.mode == .sync, let refusal = await services.engine.sendTestPage(settings: settings, secret: secret) {
            let page = try await formContext(signIn, title: "Add webhook", action: "/hooks", values: values, errors: ["url": refusal], hookID: nil)
            return try renderer.render("hook-form", page, status: .unprocessableContent).response(from: request, context: context)
        }
        let hook = try await services.createHook(teamID: teamID, settings: settings, secret: secret)
        // Post/Redirect/Get; a generated secret is shown once, on the page redirected to.
        if supplied.isEmpty { try await setFlash(["secret": secret.string], signIn, for: "/hooks/\(hook.id)") }
        return Response(status: .seeOther, headers: [.location: "/hooks/\(hook.id)?notice=created"])
    }

    /// A hook the user may change: hooks from the config file change only with the file.
    func editableHook(_ id: String?, _ signIn: WebSignIn) async throws -> Hook {
        let hook = try await visibleHook(id, signIn)
        if let key = hook.managedKey { throw Problem.conflict(HeraldServices.managedMessage(key)) }
        return hook
    }

    @Sendable func editHookPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        var values = FormValues(hook: hook)
        values.show(try services.currentSettings(of: hook).credentials)
        return renderer.render(
            "hook-form", try await formContext(signIn, title: "Edit webhook", action: "/hooks/\(hook.id)", values: values, errors: [:], hookID: hook.id)
        )
    }

    @Sendable func updateHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        let form = try await checkedForm(request, signIn)
        var values = FormValues(form: form)
        values.teamID = hook.teamID
        var settings = try services.currentSettings(of: hook)
        (values.hasBasic, values.hasOAuth2) = (settings.credentials?.basicUser != nil, settings.credentials?.oauth2 != nil)
        values.hasCertificate = settings.credentials?.clientCertificate != nil
        var errors = try await validate(values, into: &settings)
        if settings.mode != hook.mode { errors["mode"] = "A hook's mode is chosen when it is created; make a new hook for the other mode." }
        try await checkChannels(settings.channels, teamID: hook.teamID, into: &errors)
        if form["intent"] == "test" {
            return try await trialPage(
                values, errors: errors, signIn, title: "Edit webhook", action: "/hooks/\(hook.id)", hookID: hook.id, request: request, context: context,
                format: hook.payloadFormat
            )
        }
        let supplied = form.trimmed("secret")
        if !supplied.isEmpty && supplied.count < 8 { errors["secret"] = "Use at least 8 characters, or leave it empty." }
        guard errors.isEmpty else {
            let page = try await formContext(signIn, title: "Edit webhook", action: "/hooks/\(hook.id)", values: values, errors: errors, hookID: hook.id)
            return try renderer.render("hook-form", page, status: .unprocessableContent).response(from: request, context: context)
        }
        _ = try await services.updateHook(hook, settings: settings, secret: supplied.isEmpty ? nil : supplied)
        return Response(status: .seeOther, headers: [.location: "/hooks/\(hook.id)?notice=saved"])
    }

    /// The form again, with what the filter and transform make of the first chosen event type's
    /// example payload (the Test button); nothing is saved.
    func trialPage(
        _ values: FormValues, errors: [String: String], _ signIn: WebSignIn, title: String, action: String, hookID: Int64?, request: Request,
        context: HeraldRequestContext, format: PayloadFormat = .event
    ) async throws -> Response {
        var page = try await formContext(signIn, title: title, action: action, values: values, errors: errors, hookID: hookID)
        if errors["filter"] == nil && errors["transform"] == nil {
            let eventType = values.chosenEvents.first { !$0.contains("*") } ?? "lead.created"
            let trial = try await services.trialRun(
                filter: values.filter.isEmpty ? nil : values.filter, transform: values.transform.isEmpty ? nil : values.transform, eventType: eventType,
                format: format
            )
            page["trial"] = [
                "eventType": trial.eventType, "filterOutcome": trial.filterOutcome ?? "", "hasFilterOutcome": trial.filterOutcome != nil,
                "body": trial.body ?? "", "hasBody": trial.body != nil, "transformError": trial.transformError ?? "",
                "hasTransformError": trial.transformError != nil,
            ] as [String: Any]
        }
        page["scriptsOpen"] = true
        return try renderer.render("hook-form", page).response(from: request, context: context)
    }

    // MARK: the hook page

    static let notices = [
        "created": "Webhook added; a ping is on its way.", "saved": "Settings saved.", "pinged": "Ping sent; it appears below in a moment.", "enabled": "Webhook enabled again.",
        "redelivered": "Redelivery queued; it appears below in a moment.", "syncing": "Sync requested; the next page appears below in a moment.",
    ]

    @Sendable func hookPage(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        var listing = try DeliveryListing.read(request, services: services)
        if let id = listing.redirect {
            guard let delivery = try await store.delivery(id: id), delivery.hookID == hook.id else {
                throw Problem.notFound("This webhook has no delivery with the id \(id).")
            }
            return Response(status: .seeOther, headers: [.location: "/hooks/\(hook.id)/deliveries/\(delivery.id)"])
        }
        listing.query.hookID = hook.id
        let notice = request.uri.queryParameters["notice"].flatMap { Self.notices[String($0)] }
        let flash = try await takeFlash(signIn, for: "/hooks/\(hook.id)")
        let deliveries = try await store.deliveries(listing.query)
        var extra = try await replayContext(request, hook: hook)
        extra.merge(listing.values(deliveries, request: request, path: "/hooks/\(hook.id)", row: deliveryRow)) { $1 }
        return try await hookView(hook, signIn, notice: flash["notice"] ?? notice, shownSecret: flash["secret"], extra: extra)
            .response(from: request, context: context)
    }

    /// `text/event-stream` of a hook's delivery rows as they are recorded or change (rendered as the
    /// page renders them), for the live tail of its newest page; ends when the browser leaves, after
    /// an hour, or when the server stops.
    @Sendable func liveDeliveries(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        // A live page holds a feed slot of its person and of the hook's team, as a changes feed does.
        let slot = try liveSlot(signIn, team: hook.teamID)
        let end = FeedEnd()
        (services.pacing.clientGone(context.connection) ?? context.connectionClosed).whenComplete { _ in end.end() }
        let (services, renderer, store) = (self.services, self.renderer, self.store)
        // What the page showed: rows already there are sent again only when they change.
        let onPage = Dictionary(try await store.deliveries(DeliveryQuery(hookID: hook.id, limit: DeliveryListing.pageSize)).map { ($0.id, Self.rowState($0)) }) { $1 }
        let body = ResponseBody { writer in
            defer { slot.release() }
            // A comment at once: the browser (and a proxy) sees the stream open before any row changes.
            try await writer.write(ByteBuffer(string: ": live\n\n"))
            var shown = onPage
            var deadline = ContinuousClock.now + .seconds(3600)
            // A portal session's stream ends with the session: at its end, or soon after it is revoked.
            if signIn.portal != nil {
                let left = max(0, signIn.session.expiresAt.timeIntervalSinceNow)
                deadline = min(deadline, ContinuousClock.now + .milliseconds(Int64(left * 1000)))
            }
            var checked = ContinuousClock.now
            try await withGracefulShutdownHandler {
                while !end.hasEnded, ContinuousClock.now < deadline {
                    if signIn.portal != nil, ContinuousClock.now - checked > .seconds(5) {
                        checked = ContinuousClock.now
                        guard try await store.portalSession(sessionHash: signIn.session.tokenHash, now: Date()) != nil else { break }
                    }
                    let newest = try await store.deliveries(DeliveryQuery(hookID: hook.id, limit: DeliveryListing.pageSize))
                    for delivery in newest.reversed() where shown[delivery.id] != Self.rowState(delivery) {
                        shown[delivery.id] = Self.rowState(delivery)
                        let row = renderer.render("delivery-row", self.deliveryRow(delivery)).body
                        let lines = row.split(separator: "\n").map { "data: \($0)" }.joined(separator: "\n")
                        try await writer.write(ByteBuffer(string: "id: \(delivery.id)\n\(lines)\n\n"))
                    }
                    // No commit comes after Int64.max: this waits a second, or less when the stream ends.
                    await services.commits.wait(after: .max, timeout: .seconds(1), end: end)
                }
            } onGracefulShutdown: {
                end.end()
            }
            try await writer.write(ByteBuffer(string: "event: end\ndata: {}\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// A live page's hold on the feed limits: its person counts as one token (a negative id, which
    /// no token has), and `team`'s feeds are bounded across its tokens and people.
    func liveSlot(_ signIn: WebSignIn, team: Int64?) throws -> FeedSlot {
        try FeedSlot(services.feeds, token: -signIn.user.id, team: team) { _ in
            var problem = Problem(
                status: .tooManyRequests, type: "/problems/too-many-feeds", title: "Too many live pages",
                detail: "Too many live pages and changes feeds are open for you or your team; close some and reload."
            )
            problem.headers[.retryAfter] = "10"
            return problem
        }
    }

    /// What of a delivery its row shows.
    static func rowState(_ delivery: Delivery) -> String {
        "\(delivery.lifecycle.status.rawValue) \(delivery.totalAttempts) \(delivery.lastStatusCode ?? 0) \(delivery.lifecycle.nextAttemptAt?.timeIntervalSince1970 ?? 0)"
    }

    /// A hook's page; `extra` holds its delivery listing (``DeliveryListing``) and replay state.
    func hookView(_ hook: Hook, _ signIn: WebSignIn, notice: String?, shownSecret: String?, extra: [String: Any]) async throws -> HTML {
        let day = try await store.deliveries(DeliveryQuery(hookID: hook.id, since: Date().addingTimeInterval(-86_400), limit: 10_000))
        let team = try await store.team(id: hook.teamID)
        // The newest events of the log: did this hook match any its team could read, and if not, why.
        let lastSeq = try await store.lastSeq()
        let recent = try await store.events(since: max(hook.createdAfterSeq, lastSeq - Int64(Self.matchWindow)), limit: Self.matchWindow)
        let rotationExpires = hook.encryptedPreviousSecret == nil ? nil : hook.previousSecretExpiresAt.flatMap { $0 > Date() ? $0 : nil }
        var unmatched = hook.mode == .push && hook.managedKey == nil
            ? MatchReport(hook: hook, events: recent, grantedChannels: team?.channels ?? []).explanation : nil
        let events = day.filter { $0.eventType != PingPayload.eventType }
        let engine = services.configuration.engine
        // A rate-limited hook's unfinished deliveries wait for its slots.
        let held = hook.policy.rateLimitPerSecond == nil ? 0 : try await store.unfinishedDeliveryCount(hookID: hook.id, limit: 100_000)
        if unmatched == nil, hook.filter != nil, !events.isEmpty, events.allSatisfy({ $0.lifecycle.status == .skipped }) {
            unmatched = "Its filter skipped all \(events.count) of its deliveries of the last 24 hours (the notes in the log say why)."
        }
        return renderer.render(
            "hook",
            page(signIn, title: "Webhook \(hook.id)", extra.merging([
                "hook": hookSummary(hook, teams: team.map { [$0.id: $0] } ?? [:]),
                "eventNotices": EventTypeCatalog.notices(for: hook.events, in: try await services.catalog.entries()),
                "contentType": hook.contentType.mimeType, "channels": hook.channels.joined(separator: ", "), "hasChannels": !hook.channels.isEmpty,
                "unmatched": unmatched ?? "", "hasUnmatched": unmatched != nil,
                "authentication": Self.authenticationSummary(try? services.currentSettings(of: hook).credentials),
                "hasPublicKey": hook.signature == .ed25519 && hook.publicKey != nil,
                "insecureSSL": hook.insecureSSL, "ordering": hook.ordering.rawValue, "signature": hook.signature.rawValue,
                "publicKey": hook.signature == .ed25519 ? hook.publicKey ?? "" : "", "timeout": hook.timeoutSeconds,
                "githubHeaders": hook.githubHeaders,
                "retries": hook.policy.retry?.summary ?? "the server's (\(RetryPolicy.delays(engine.retrySchedule.delays.map(\.seconds)).summary))",
                "disableAfter": RetryPolicy.say((hook.policy.health(default: engine.hookHealth).disableAfter).seconds)
                    + (hook.policy.disableAfterSeconds == nil ? " (the server's)" : ""),
                "rateLimit": hook.policy.rateLimitPerSecond ?? 0, "hasRateLimit": hook.policy.rateLimitPerSecond != nil,
                "heldByRate": held, "hasHeldByRate": held > 0,
                "circuit": hook.circuit.summary(at: Date()) ?? "", "hasCircuit": hook.circuit.openUntil != nil,
                "rotating": rotationExpires != nil, "rotationExpires": rotationExpires.map(Timestamp.string) ?? "",
                "notice": notice ?? "", "hasNotice": notice != nil, "shownSecret": shownSecret ?? "", "hasShownSecret": shownSecret != nil,
                "chart": ActivityChart.svg(deliveries: day, now: Date()),
                "managedBy": hook.managedKey ?? "", "isManaged": hook.managedKey != nil, "editable": hook.managedKey == nil && signIn.portal?.readOnly != true,
                "isSync": hook.mode == .sync, "syncCursor": String(hook.sync.cursor), "syncPageSize": hook.sync.pageSize,
                "filter": hook.filter ?? "", "hasFilter": hook.filter != nil, "transform": hook.transform ?? "", "hasTransform": hook.transform != nil,
                "payloadFormat": hook.payloadFormat == .syncGateway ? "Sync Gateway (the document itself)" : "Herald event",
            ]) { $1 })
        )
    }

    func deliveryRow(_ delivery: Delivery) -> [String: Any] {
        let status = delivery.lifecycle.status.apiStatus
        return [
            "id": delivery.id, "hookID": delivery.hookID, "event": delivery.eventType, "status": status,
            "icon": status == "success" ? "✔" : status == "failure" ? "✖" : status == "skipped" ? "⊘" : "…",
            "statusClass": status == "success" ? "ok" : status == "failure" ? "bad" : "idle",
            "note": delivery.note ?? "", "hasNote": delivery.note != nil,
            "code": delivery.lastStatusCode.map(String.init) ?? "—", "duration": delivery.lastDurationMs.map { "\($0) ms" } ?? "—",
            "time": Self.readableTime(delivery.deliveredAt ?? delivery.createdAt),
            "redelivery": delivery.lifecycle.redelivery, "attempts": delivery.totalAttempts,
            "nextAttempt": status == "pending" ? delivery.lifecycle.nextAttemptAt.map(Self.readableTime) ?? "" : "",
            "retrying": status == "pending" && delivery.lifecycle.nextAttemptAt != nil && delivery.totalAttempts > 0,
        ]
    }

    @Sendable func deliveryPage(_ request: Request, context: HeraldRequestContext) async throws -> HTML {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        guard let id = context.parameters.get("delivery"), let (delivery, attempts) = try await store.deliveryWithAttempts(id: id), delivery.hookID == hook.id else {
            throw Problem.notFound("There is no such delivery for this hook.")
        }
        let last = attempts.last
        func headerRows(_ headers: [HTTPHeaderField]) -> [[String: String]] { headers.map { ["name": $0.name, "value": $0.value] } }
        func pretty(_ text: String?) -> String {
            guard var text else { return "" }
            if text.hasPrefix("payload=") { text = String(text.dropFirst(8)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? text }
            return (try? JSONValue(parsing: text).prettyString) ?? text
        }
        return renderer.render(
            "delivery",
            page(signIn, title: "Delivery \(delivery.id)", [
                "hook": hookSummary(hook, teams: [:]), "delivery": deliveryRow(delivery),
                "url": last?.url ?? hook.url, "requestHeaders": headerRows(last?.requestHeaders ?? []), "requestBody": pretty(last?.requestBody),
                "responseCode": last?.responseStatus.map(String.init) ?? "—", "responseHeaders": headerRows(last?.responseHeaders ?? []),
                "responseBody": last?.responseBody ?? "", "error": last?.errorMessage ?? "", "hasError": last?.errorMessage != nil,
                "attempted": last != nil,
                "attempts": attempts.map { attempt in
                    [
                        "number": attempt.number, "trigger": attempt.trigger.rawValue, "code": attempt.responseStatus.map(String.init) ?? "—",
                        "duration": "\(attempt.durationMs) ms", "error": attempt.errorClass?.rawValue ?? "",
                        "time": Timestamp.millisecondString(attempt.startedAt),
                    ] as [String: Any]
                },
            ])
        )
    }

    // MARK: actions

    @Sendable func pingHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        try await services.ping(hook)
        return Response.redirect(to: "/hooks/\(hook.id)?notice=pinged")
    }

    @Sendable func enableHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        _ = try await services.enableHook(hook)
        return Response.redirect(to: "/hooks/\(hook.id)?notice=enabled")
    }

    @Sendable func rotateSecret(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        let secret = WebhookSecret.generate()
        _ = try await services.rotateSecret(of: hook, to: secret, grace: HeraldServices.defaultRotationGrace)
        try await setFlash(["notice": Self.rotationNotice, "secret": secret.string], signIn, for: "/hooks/\(hook.id)")
        return Response.redirect(to: "/hooks/\(hook.id)")
    }

    /// What a rotation does, as the page says it.
    static let rotationNotice =
        "New secret issued. For 24 hours the old one keeps working: webhook-signature carries a signature by each secret, and GitHub's X-Hub-Signature-256 and X-Hub-Signature are signed with the old one, which a receiver following GitHub's recipe still holds. Once every receiver has the new secret, press Finish rotation: the old secret stops signing and GitHub's signatures use the new one."

    @Sendable func finishRotation(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        let finished = try await services.finishRotation(of: hook) != nil
        try await setFlash(
            ["notice": finished ? "Rotation finished: only the new secret signs now, GitHub's signatures included." : "No rotation was under way."],
            signIn, for: "/hooks/\(hook.id)"
        )
        return Response.redirect(to: "/hooks/\(hook.id)")
    }

    @Sendable func deleteHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await editableHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        try await services.deleteHook(hook)
        return Response.redirect(to: "/hooks")
    }

    /// The Replay dialog: queue again what the hook matched over a recent period.
    @Sendable func replayHook(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        let form = try await checkedForm(request, signIn)
        guard let hours = Double(form["period_hours"] ?? ""), Self.replayPeriods.contains(where: { $0.hours == hours }) else {
            throw Problem.badRequest("Choose how far back to replay.")
        }
        let job = try await services.startReplay(
            hookID: hook.id, since: Date().addingTimeInterval(-hours * 3600), until: nil, onlyFailed: form["status"] == "failed"
        )
        return Response.redirect(to: "/hooks/\(hook.id)?job=\(job.id)#replay")
    }

    /// "Sync now" on an HTTP Sync hook's page.
    @Sendable func syncHookNow(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        try await services.syncNow(hook)
        return Response.redirect(to: "/hooks/\(hook.id)?notice=syncing")
    }

    static let replayPeriods: [(hours: Double, label: String)] = [(1, "the last hour"), (6, "the last 6 hours"), (24, "the last 24 hours"), (168, "the last 7 days"), (720, "the last 30 days")]

    /// A replay job's progress, as JSON, for the hook page's progress bar.
    @Sendable func replayProgress(_ request: Request, context: HeraldRequestContext) async throws -> JSONValue {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        guard let id = context.parameters.get("job").flatMap(Int64.init), let job = try await store.replayJob(id: id), job.hookID == hook.id else {
            throw Problem.notFound("There is no such replay for this hook.")
        }
        return ReplayController.json(job)
    }

    func replayContext(_ request: Request, hook: Hook) async throws -> [String: Any] {
        var context: [String: Any] = [
            "replayPeriods": Self.replayPeriods.map { ["hours": Int($0.hours), "label": $0.label] },
        ]
        if let id = request.uri.queryParameters["job"].flatMap({ Int64(String($0)) }), let job = try await store.replayJob(id: id), job.hookID == hook.id {
            context["job"] = [
                "id": job.id, "state": job.state.rawValue, "done": job.done, "total": job.total, "percent": job.percent, "queued": job.queued,
                "running": job.state == .running,
            ] as [String: Any]
        }
        return context
    }

    @Sendable func redeliver(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        let hook = try await visibleHook(context.parameters.get("id"), signIn)
        _ = try await checkedForm(request, signIn)
        _ = try await services.redeliver(context.parameters.get("delivery"), of: hook)
        return Response.redirect(to: "/hooks/\(hook.id)?notice=redelivered")
    }
}
