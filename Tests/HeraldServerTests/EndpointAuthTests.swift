import Foundation
import HeraldCore
import HeraldVerify
import HummingbirdBcrypt
import Synchronization
import Testing

/// Receivers that demand more than a signature: Basic credentials from the URL and custom headers,
/// sent on every delivery and never shown again.
@Suite struct EndpointAuthTests {
    @Test func basicCredentialsFromTheURLAndCustomHeadersAreSentAndNeverShown() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let url = "http://crm-user:p%40ss-w0rd@127.0.0.1:\(receiver.port)/hook"
                let created = try await herald.call(
                    .POST, "/api/hooks", token: bde.token,
                    body: #"{"url":"\#(url)","events":["lead.created"],"headers":{"X-Api-Key":"key-5f2c9","X-Tenant":"bde-42"}}"#
                )
                #expect(created.status == 201, "\(created.text)")
                let id = try #require(created.json["id"]?.intValue)
                #expect(created.json["url"]?.stringValue == receiver.url())
                #expect(created.json["basic_auth"]?["username"]?.stringValue == "crm-user")
                #expect(created.json["basic_auth"]?["password"]?.stringValue == "********")
                #expect(created.json["headers"]?["X-Api-Key"]?.stringValue == "********")
                try await eventually("the ping") { receiver.received.count == 1 }
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"l1"}}"#)
                try await eventually("the lead") { receiver.received.count == 2 }
                for request in receiver.received {
                    #expect(request.header("Authorization") == "Basic " + Data("crm-user:p@ss-w0rd".utf8).base64EncodedString())
                    #expect(request.header("X-Api-Key") == "key-5f2c9")
                    #expect(request.header("X-Tenant") == "bde-42")
                }
                // Nowhere to be read back: the hook, the list, the ping payload, the log, the pages.
                let deliveries = try await herald.call(.GET, "/api/hooks/\(id)/deliveries", token: bde.token)
                let deliveryID = try #require(deliveries.json["deliveries"]?.arrayValue?.first?["id"]?.stringValue)
                try await eventually("the attempt is logged") {
                    try await herald.call(.GET, "/api/hooks/\(id)/deliveries/\(deliveryID)", token: bde.token).json["request"] != .null
                }
                let detail = try await herald.call(.GET, "/api/hooks/\(id)/deliveries/\(deliveryID)", token: bde.token)
                #expect(detail.json["request"]?["headers"]?["X-Api-Key"]?.stringValue == "********")
                #expect(detail.json["request"]?["headers"]?["Authorization"]?.stringValue == "Basic ********")
                _ = try await herald.store.createUser(
                    email: "ana@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
                )
                let web = WebClient(baseURL: herald.baseURL)
                _ = try await web.signIn(email: "ana@bde.example", password: WebTests.password)
                var shown = [
                    try await herald.call(.GET, "/api/hooks/\(id)", token: bde.token).text, try await herald.call(.GET, "/api/hooks", token: bde.token).text,
                    deliveries.text, detail.text, receiver.received[0].bodyString, try await web.get("/hooks/\(id)").html,
                    try await web.get("/hooks/\(id)/edit").html,
                ]
                for delivery in deliveries.json["deliveries"]?.arrayValue ?? [] {
                    shown.append(try await web.get("/hooks/\(id)/deliveries/\(delivery["id"]?.stringValue ?? "")").html)
                }
                for text in shown {
                    for secret in ["p@ss-w0rd", "p%40ss-w0rd", "key-5f2c9", "bde-42", Data("crm-user:p@ss-w0rd".utf8).base64EncodedString()] {
                        #expect(!text.contains(secret), "\(secret) shown in \(text.prefix(300))")
                    }
                }
                // Editing other settings (API or form) keeps them; a new URL without credentials drops Basic.
                #expect(try await herald.call(.PATCH, "/api/hooks/\(id)", token: bde.token, body: #"{"timeout_seconds":5}"#).status == 200)
                let form = try await web.submit(from: "/hooks/\(id)/edit", to: "/hooks/\(id)", [
                    ("url", receiver.url()), ("events_mode", "default"), ("active", "1"), ("timeout_seconds", "6"),
                ])
                #expect(form.status == 303)
                var hook = try #require(try await herald.store.hook(id: id))
                var credentials = try HookCredentials.open(try #require(hook.encryptedCredentials), with: herald.services.secretBox)
                #expect(credentials.basicPassword == "p@ss-w0rd" && credentials.headers.count == 2)
                #expect(try await herald.call(.PATCH, "/api/hooks/\(id)", token: bde.token, body: #"{"url":"\#(receiver.url("/moved"))"}"#).status == 200)
                hook = try #require(try await herald.store.hook(id: id))
                credentials = try HookCredentials.open(try #require(hook.encryptedCredentials), with: herald.services.secretBox)
                #expect(credentials.basicUser == nil)
                #expect(credentials.headers.map(\.name) == ["X-Api-Key", "X-Tenant"])
            }
        }
    }

    @Test(arguments: [
        (#"{"Authorization":"Bearer x"}"#, "Authorization is set by Herald"),
        (#"{"X-Hub-Signature-256":"x"}"#, "X-Hub-Signature-256 is set by Herald"),
        (#"{"X-Ok":"a\r\nInjected: yes"}"#, "without control characters"),
        (#"{"Bad Name":"x"}"#, "Bad Name is not a valid header name"),
        (#"["X-Api-Key"]"#, "must be an object"),
    ])
    func unsafeHeadersAreRefused(headers: String, message: String) async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let response = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"http://127.0.0.1:9/x","headers":\#(headers)}"#)
            #expect(response.status == 422)
            #expect(response.text.contains(message), "\(response.text)")
            #expect(try await herald.store.hooks(teamID: nil).isEmpty)
        }
    }
}

extension EndpointAuthTests {
    @Test func oauth2ClientCredentialsFetchATokenKeepItAndRenewItOnA401() async throws {
        try await TestReceiver.run { receiver in
            let issued = Mutex(0)
            let accepted = Mutex("tok-1")
            receiver.respond { _, request in
                if request.path == "/token" {
                    let n = issued.withLock { $0 += 1; return $0 }
                    return .init(headers: ["Content-Type": "application/json"], body: #"{"access_token":"tok-\#(n)","token_type":"Bearer","expires_in":3600}"#)
                }
                let wanted = accepted.withLock { $0 }
                return request.header("Authorization") == "Bearer \(wanted)" ? .init() : .init(status: 401, body: "bad token")
            }
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let fields = #"""
                    {"url":"\#(receiver.url("/hook"))","events":["lead.created"],
                     "oauth2":{"token_url":"\#(receiver.url("/token"))","client_id":"herald app","client_secret":"s3cr&t","scope":"leads:write"}}
                    """#
                let created = try await herald.call(.POST, "/api/hooks", token: bde.token, body: fields)
                #expect(created.status == 201, "\(created.text)")
                #expect(created.json["oauth2"]?["client_secret"]?.stringValue == "********")
                #expect(created.json["oauth2"]?["client_id"]?.stringValue == "herald app")
                try await eventually("the ping, with the first token") { receiver.received.contains { $0.path == "/hook" } }
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"a"}}"#)
                try await eventually("the first lead") { receiver.received.filter { $0.path == "/hook" }.count == 2 }
                #expect(issued.withLock { $0 } == 1, "the token is kept for its lifetime")
                // The receiver stops accepting the first token: Herald fetches another and sends again at once.
                accepted.withLock { $0 = "tok-2" }
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"b"}}"#)
                try await eventually("the second lead, with the renewed token") {
                    receiver.received.contains { $0.path == "/hook" && $0.header("Authorization") == "Bearer tok-2" && $0.bodyString.contains("\"b\"") }
                }
                let tokenRequest = try #require(receiver.received.first { $0.path == "/token" })
                #expect(tokenRequest.bodyString == "grant_type=client_credentials&scope=leads:write")
                #expect(tokenRequest.header("Authorization") == "Basic " + Data("herald+app:s3cr%26t".utf8).base64EncodedString() || tokenRequest.header("Authorization") == "Basic " + Data("herald%20app:s3cr%26t".utf8).base64EncodedString())
                // The delivery is a success in the log, its token masked.
                let log = try await herald.call(.GET, "/api/deliveries?status=success", token: bde.token)
                #expect(!log.text.contains("tok-"))
                let hooks = try await herald.call(.GET, "/api/hooks", token: bde.token)
                #expect(!hooks.text.contains("s3cr&t"))
                let both = try await herald.call(
                    .PATCH, "/api/hooks/\(created.json["id"]?.intValue ?? 0)", token: bde.token, body: #"{"url":"http://u:p@127.0.0.1:\#(receiver.port)/hook"}"#
                )
                #expect(both.status == 422)
            }
        }
    }
}

extension EndpointAuthTests {
    /// The errors of every delivery's attempts on the hook, newest delivery first.
    private func attemptErrors(_ herald: HeraldHarness, _ team: HeraldHarness.TeamAccess, hookID: Int64) async throws -> [String] {
        let log = try await herald.call(.GET, "/api/hooks/\(hookID)/deliveries", token: team.token)
        var errors: [String] = []
        for id in log.json["deliveries"]?.arrayValue?.compactMap({ $0["id"]?.stringValue }) ?? [] {
            let detail = try await herald.call(.GET, "/api/hooks/\(hookID)/deliveries/\(id)", token: team.token)
            errors += detail.json["attempt_log"]?.arrayValue?.compactMap { $0["error_message"]?.stringValue ?? $0["status_code"]?.intValue.map { "status \($0)" } } ?? []
        }
        return errors
    }

    /// A failing token endpoint and an unusable client certificate each fail the attempt in their
    /// own words (neither is a transform error nor an undecryptable secret), and nothing is sent.
    @Test func eachSetupFailureIsNamedInTheAttemptLog() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in request.path == "/token" ? .init(status: 500, body: "down") : .init() }
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let oauth = try await herald.makeHook(bde, #"""
                    {"url":"\#(receiver.url("/oauth"))","oauth2":{"token_url":"\#(receiver.url("/token"))","client_id":"a","client_secret":"b"}}
                    """#)
                try await eventually("the ping's attempt is recorded") { try await !attemptErrors(herald, bde, hookID: oauth.id).isEmpty }
                #expect(try await attemptErrors(herald, bde, hookID: oauth.id) == ["OAuth2 token: the token endpoint answered 500"])

                // A certificate that cannot be loaded (stored around the form's check, as an older
                // version or a restored backup could leave it).
                let certified = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/certified"))"}"#)
                var hook = try #require(try await herald.store.hook(id: certified.id))
                var credentials = HookCredentials()
                credentials.clientCertificate = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
                credentials.clientKey = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
                hook.encryptedCredentials = try credentials.sealed(with: herald.services.secretBox)
                _ = try await herald.store.updateHook(hook, now: Date())
                #expect(try await herald.call(.POST, "/api/hooks/\(certified.id)/pings", token: bde.token).status == 204)
                try await eventually("the second ping's attempt is recorded") { try await attemptErrors(herald, bde, hookID: certified.id).count == 2 }
                let errors = try await attemptErrors(herald, bde, hookID: certified.id)
                #expect(errors.first?.hasPrefix("client certificate: ") == true, "\(errors)")
                #expect(!receiver.received.contains { $0.path == "/oauth" }, "nothing went out without its token")
            }
        }
    }
}
