import Foundation
import HeraldCore
import HeraldVerify
import HTTPTypes
import HummingbirdBcrypt
import Hummingbird
import NIOPosix

/// The web UI: sign-in, a team's hooks and delivery log, tokens, and the admin pages.
/// Server-rendered; every form carries the session's CSRF token; works without JavaScript.
struct WebController {
    let services: HeraldServices
    let renderer: PageRenderer
    var store: any HeraldStore { services.store }
    static let sessionLifetime = 7 * 86_400

    func addRoutes(to router: Router<HeraldRequestContext>) {
        let web = router.group().add(middleware: WebSessionMiddleware(store: services.store, clientAddress: { [services] in services.clientAddress($0, $1) }))
        web.get("/", use: home)
        web.get("/login", use: loginPage)
        web.post("/login", use: login)
        web.post("/logout", use: logout)
        web.get("/hooks", use: hookList)
        web.get("/hooks/new", use: newHookPage)
        web.post("/hooks", use: createHook)
        web.get("/hooks/{id}", use: hookPage)
        web.get("/hooks/{id}/edit", use: editHookPage)
        web.post("/hooks/{id}", use: updateHook)
        web.post("/hooks/{id}/ping", use: pingHook)
        web.post("/hooks/{id}/enable", use: enableHook)
        web.post("/hooks/{id}/rotate", use: rotateSecret)
        web.post("/hooks/{id}/rotate/finish", use: finishRotation)
        web.post("/hooks/{id}/delete", use: deleteHook)
        web.get("/hooks/{id}/deliveries/{delivery}", use: deliveryPage)
        web.get("/hooks/{id}/live-deliveries", use: liveDeliveries)
        web.post("/hooks/{id}/deliveries/{delivery}/redeliver", use: redeliver)
        web.post("/hooks/{id}/replay", use: replayHook)
        web.post("/hooks/{id}/sync", use: syncHookNow)
        web.get("/hooks/{id}/jobs/{job}", use: replayProgress)
        web.get("/tokens", use: tokensPage)
        web.post("/tokens", use: createToken)
        web.post("/tokens/{id}/revoke", use: revokeToken)
        web.get("/admin", use: adminPage)
        web.post("/admin/teams", use: createTeam)
        web.post("/admin/members", use: createMember)
        web.get("/admin/event-types", use: eventTypesPage)
        web.post("/admin/event-types", use: saveEventType)
        web.post("/admin/event-types/{name}/delete", use: deleteEventType)
        web.get("/admin/deliveries", use: deliveriesBrowser)
        web.get("/documents", use: databasesPage)
        web.post("/documents", use: createDatabaseFromForm)
        web.get("/documents/{db}", use: databasePage)
        web.post("/documents/{db}/version-field", use: setVersionFieldFromForm)
        web.get("/documents/{db}/changes", use: databaseChanges)
        web.get("/documents/{db}/{docid}", use: documentPage)
        addPeopleRoutes(to: web)
        addPortalRoutes(to: web)
        addOverviewRoutes(to: web)
    }

    // MARK: sign-in

    func signedIn(_ context: HeraldRequestContext) throws -> WebSignIn {
        guard let signIn = context.webSession else { throw WebRedirect(location: "/login") }
        return signIn
    }

    /// Keeps what `page`, where a form redirects, shows once (`notice`, a new `secret` or `token`),
    /// sealed at rest: Post/Redirect/Get without putting a secret in a URL.
    func setFlash(_ values: [String: String], _ signIn: WebSignIn, for page: String) async throws {
        var values = values
        values["page"] = page
        let text = JSONValue.object(values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).jsonString
        try await store.setFlash(try services.secretBox.seal(text), tokenHash: signIn.session.tokenHash)
    }

    /// What was kept for `page`; gone once read, so a reload shows it no more. Another page (a second
    /// tab) leaves it for the page it was meant for.
    func takeFlash(_ signIn: WebSignIn, for page: String) async throws -> [String: String] {
        guard let sealed = try await store.takeFlash(tokenHash: signIn.session.tokenHash), let text = try? services.secretBox.open(sealed),
            case .object(let pairs)? = try? JSONValue(parsing: text)
        else { return [:] }
        var values = Dictionary(pairs.compactMap { key, value in value.stringValue.map { (key, $0) } }, uniquingKeysWith: { first, _ in first })
        guard values.removeValue(forKey: "page") == page else {
            try await store.setFlash(sealed, tokenHash: signIn.session.tokenHash)
            return [:]
        }
        return values
    }

    /// Reads a form and refuses it unless it carries the session's CSRF token.
    func checkedForm(_ request: Request, _ signIn: WebSignIn) async throws -> FormData {
        let form = try await request.formData()
        guard let token = form["_csrf"], constantTimeEquals(token, signIn.session.csrfToken) else {
            throw Problem.forbidden("The form's security token is missing or out of date. Go back, reload the page and try again.")
        }
        return form
    }

    /// What every page's layout needs.
    func page(_ signIn: WebSignIn?, title: String, _ values: [String: Any] = [:]) -> [String: Any] {
        var context = values
        context["title"] = title
        if let signIn {
            if let portal = signIn.portal {
                context["isPortal"] = true
                context["portalTeam"] = signIn.portalTeam
                context["readOnly"] = portal.readOnly
            } else {
                context["signedIn"] = true
                context["email"] = signIn.user.email
            }
            context["isAdmin"] = signIn.user.role == .admin
            context["csrf"] = signIn.session.csrfToken
        }
        return context
    }

    @Sendable func home(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        Response(status: .seeOther, headers: [.location: context.webSession == nil ? "/login" : "/hooks"])
    }

    @Sendable func loginPage(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        if context.webSession != nil { return Response(status: .seeOther, headers: [.location: "/hooks"]) }
        return try loginForm(request: request, context: context, email: "", error: nil, status: .ok)
    }

    func loginForm(request: Request, context: HeraldRequestContext, email: String, error: String?, status: HTTPResponse.Status) throws -> Response {
        // Before there is a session, the form's CSRF token is a double-submit cookie.
        let csrf = Session.randomToken()
        let html = renderer.render("login", page(nil, title: "Sign in", ["email": email, "error": error ?? "", "hasError": error != nil, "csrf": csrf]), status: status)
        var response = try html.response(from: request, context: context)
        response.setCookie(.herald(WebSessionMiddleware.csrfCookieName, csrf, maxAge: 3600, secure: secureCookies))
        return response
    }

    var secureCookies: Bool { services.configuration.baseURL.hasPrefix("https://") }

    @Sendable func login(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let form = try await request.formData()
        guard let cookie = request.cookies[WebSessionMiddleware.csrfCookieName]?.value, let submitted = form["_csrf"], constantTimeEquals(cookie, submitted) else {
            throw Problem.forbidden("The sign-in form's security token is missing or out of date. Reload the page and try again.")
        }
        let email = form.trimmed("email")
        let password = form["password"] ?? ""
        let keys = [SignInThrottle.accountKey(email), SignInThrottle.addressKey(services.clientAddress(request, context))]
        if let wait = services.signIns.retryAfter(keys) {
            let seconds = Int(wait.rounded(.up))
            var response = try loginForm(
                request: request, context: context, email: email,
                error: "Too many failed sign-ins for this account or from this address: try again in \(seconds) s.", status: .tooManyRequests
            )
            response.headers[.retryAfter] = String(seconds)
            return response
        }
        let user = try await store.user(email: email)
        guard try await Self.passwordMatches(password, hash: user?.passwordHash), let user else {
            services.signIns.failed(keys)
            return try loginForm(request: request, context: context, email: email, error: "That email and password do not match.", status: .unauthorized)
        }
        services.signIns.succeeded(keys)
        guard !user.disabled else {
            return try loginForm(
                request: request, context: context, email: email, error: "This account is disabled: ask an administrator to enable it.", status: .forbidden
            )
        }
        let token = Session.randomToken()
        let session = Session(
            tokenHash: APIToken.hash(token), userID: user.id, csrfToken: Session.randomToken(), expiresAt: Date().addingTimeInterval(TimeInterval(Self.sessionLifetime))
        )
        try await store.createSession(session, now: Date())
        let landing = user.mustChangePassword ? "/account" : user.role == .admin ? "/admin" : "/hooks"
        var response = Response.redirect(to: landing, type: .normal)
        response.setCookie(.herald(WebSessionMiddleware.cookieName, token, maxAge: Self.sessionLifetime, secure: secureCookies))
        response.setCookie(.herald(WebSessionMiddleware.csrfCookieName, "", maxAge: 0, secure: secureCookies))
        return response
    }

    /// A bcrypt hash of the users' cost that no password matches: an unknown email is checked
    /// against it, so a sign-in takes as long whether the account exists or not.
    static let absentUserHash = Bcrypt.hash(Session.randomToken())

    /// Checks the password against `hash`, or against ``absentUserHash`` when there is no such
    /// user (then always false): one bcrypt verification either way, on the thread pool rather
    /// than on a thread of the concurrency pool.
    static func passwordMatches(_ password: String, hash: String?, verify: @escaping @Sendable (String, String) -> Bool = { Bcrypt.verify($0, hash: $1) }) async throws -> Bool {
        let checked = hash ?? absentUserHash
        let matches = try await NIOThreadPool.singleton.runIfActive { verify(password, checked) }
        return matches && hash != nil
    }

    @Sendable func logout(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let signIn = try signedIn(context)
        _ = try await checkedForm(request, signIn)
        if signIn.portal != nil {
            try await store.endPortalSession(sessionHash: signIn.session.tokenHash)
            var response = Response.redirect(to: "/portal/ended", type: .normal)
            setPortalCookie(&response, "", maxAge: 0)
            return response
        }
        try await store.deleteSession(tokenHash: signIn.session.tokenHash)
        var response = Response.redirect(to: "/login", type: .normal)
        response.setCookie(.herald(WebSessionMiddleware.cookieName, "", maxAge: 0, secure: secureCookies))
        return response
    }
}

/// Thrown when a page needs a signed-in user: becomes a redirect to the sign-in page.
struct WebRedirect: Error, HTTPResponseError {
    var location: String
    var status: HTTPResponse.Status { .seeOther }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
