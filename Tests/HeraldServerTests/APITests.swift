import Foundation
import HeraldCore
import Testing

/// The HTTP contract: authentication, tenancy, validation, problem+json.
@Suite struct APITests {
    let receiverURL = "http://127.0.0.1:9/hook"

    @Test func anotherTeamsHookIsANotFoundEverywhere() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            let hook = try await herald.makeHook(bde, #"{"url":"\#(receiverURL)"}"#)
            let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
            let deliveryID = try #require(log.json["deliveries"]?.arrayValue?.first?["id"]?.stringValue)
            let attempts: [(HTTPMethodName, String, String?)] = [
                (.GET, "/api/hooks/\(hook.id)", nil), (.PATCH, "/api/hooks/\(hook.id)", #"{"active":false}"#), (.DELETE, "/api/hooks/\(hook.id)", nil),
                (.POST, "/api/hooks/\(hook.id)/pings", nil), (.GET, "/api/hooks/\(hook.id)/deliveries", nil),
                (.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", nil), (.POST, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)/attempts", nil),
            ]
            for (method, path, body) in attempts {
                let response = try await herald.call(method.nio, path, token: cce.token, body: body)
                #expect(response.status == 404, "\(method) \(path)")
                #expect(response.header("Content-Type") == "application/problem+json")
            }
            let list = try await herald.call(.GET, "/api/hooks", token: cce.token)
            #expect(list.json["hooks"]?.arrayValue?.isEmpty == true)
            let unchanged = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token)
            #expect(unchanged.json["active"] == .bool(true))
            // A provider reads every team's log but changes no hook.
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: provider).status == 200)
            #expect(try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: provider, body: #"{"active":false}"#).status == 403)
        }
    }

    @Test func aTeamsFeedShowsOnlyEventsItsHooksCouldReceive() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            _ = try await herald.makeHook(bde, #"{"url":"\#(receiverURL)","events":["lead.*"],"channels":["bde"]}"#)
            let provider = try await herald.providerToken()
            _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"a"},"channels":["bde"]}"#)
            _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"b"},"channels":["cce"]}"#)
            let feed = try await herald.call(.GET, "/api/events?since=0", token: bde.token).json
            #expect(feed["results"]?.arrayValue?.map { $0["data"]?["lead_id"]?.stringValue } == ["a"])
            #expect(try await herald.call(.GET, "/api/events?since=0", token: cce.token).json["results"]?.arrayValue?.isEmpty == true)
            let all = try await herald.call(.GET, "/api/events?since=0&limit=1", token: provider).json
            #expect(all["results"]?.arrayValue?.count == 1)
            let lastSeq = try #require(all["last_seq"]?.stringValue)
            let next = try await herald.call(.GET, "/api/events?since=\(lastSeq)", token: provider).json
            // The two pages hold every event once, in order. (The hook's ping to a receiver that is not
            // there made a herald.hook.failing event too, before or between the leads.)
            let both = (all["results"]?.arrayValue ?? []) + (next["results"]?.arrayValue ?? [])
            let leads = both.filter { $0["type"]?.stringValue?.hasPrefix("herald.") != true }
            #expect(leads.map { $0["data"]?["lead_id"]?.stringValue } == ["a", "b"])
            #expect(Set(both.compactMap { $0["seq"]?.stringValue ?? $0["seq"]?.intValue.map(String.init) }).count == both.count, "\(both)")
        }
    }

    @Test func tokensAreCheckedAndScoped() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let noToken = try await herald.call(.GET, "/api/hooks", token: nil)
            #expect(noToken.status == 401)
            #expect(noToken.header("WWW-Authenticate") == "Bearer")
            #expect(try await herald.call(.GET, "/api/hooks", token: "hrld_forged").status == 401)
            #expect(try await herald.call(.GET, "/api/hooks", token: nil, headers: ["Authorization": "Basic eDp5"]).status == 401)
            // The scheme is read in any case, blanks around the token are dropped; a token that is
            // only a prefix of a valid one, or no token, is refused.
            for header in ["bearer \(bde.token)", "BEARER   \(bde.token)", "bEaReR \t\(bde.token) \t"] {
                #expect(try await herald.call(.GET, "/api/hooks", token: nil, headers: ["Authorization": header]).status == 200, "\(header)")
            }
            for header in ["Bearer \(bde.token.dropLast())", "Bearer ", "Bearer", "Bearerx \(bde.token)", "Bearer\t\(bde.token)"] {
                #expect(try await herald.call(.GET, "/api/hooks", token: nil, headers: ["Authorization": header]).status == 401, "\(header)")
            }
            // A team token cannot emit events or manage teams.
            #expect(try await herald.emit(bde.token, #"{"type":"lead.created","data":{"lead_id":"x"}}"#).status == 403)
            #expect(try await herald.call(.POST, "/api/teams", token: bde.token, body: #"{"name":"X","slug":"x"}"#).status == 403)
            #expect(try await herald.store.lastSeq() == 0)
        }
    }

    @Test func adminsCreateTeamsAndTokensThatWork() async throws {
        try await HeraldHarness.run { herald in
            let team = try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: #"{"name":"Economic Development Bank","slug":"bde"}"#)
            #expect(team.status == 201)
            #expect(try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: #"{"name":"Again","slug":"bde"}"#).status == 409)
            let badSlug = try await herald.call(.POST, "/api/teams", token: herald.adminToken, body: #"{"name":"X","slug":"Not A Slug"}"#)
            #expect(badSlug.status == 422)
            #expect(badSlug.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/slug")
            let token = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: #"{"scope":"team","team":"bde","name":"ops"}"#)
            #expect(token.status == 201)
            let secret = try #require(token.json["token"]?.stringValue)
            #expect(secret.hasPrefix("hrld_"))
            #expect(try await herald.call(.GET, "/api/hooks", token: secret).status == 200)
            // The listing never shows the token again.
            let list = try await herald.call(.GET, "/api/tokens", token: herald.adminToken)
            #expect(!list.text.contains(secret))
            let id = try #require(token.json["id"]?.intValue)
            #expect(try await herald.call(.DELETE, "/api/tokens/\(id)", token: herald.adminToken).status == 204)
            #expect(try await herald.call(.GET, "/api/hooks", token: secret).status == 401)
        }
    }

    /// Found by the contract run: `null` where a field is required crashed the server (scope) or
    /// made a team token of no team.
    @Test(arguments: [
        (#"{"scope":null}"#, "/scope"), (#"{"scope":"team","team":null}"#, "/team"), (#"{"scope":"team"}"#, "/team"),
        (#"{"scope":"provider","team":"bde"}"#, "/team"), (#"{}"#, "/scope"),
    ])
    func aTokenRequestMissingWhatItNeedsIsA422(_ body: String, _ field: String) async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            let refused = try await herald.call(.POST, "/api/tokens", token: herald.adminToken, body: body)
            #expect(refused.status == 422, "\(body): \(refused.text)")
            #expect(refused.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == field } == true, "\(refused.text)")
            // The server is still there.
            #expect(try await herald.call(.GET, "/api/tokens", token: herald.adminToken).status == 200)
        }
    }

    @Test func aMethodAPathDoesNotHaveIs405WithAllowAndOptionsListsThem() async throws {
        try await HeraldHarness.run { herald in
            let delete = try await herald.call(.DELETE, "/api/teams", token: herald.adminToken)
            #expect(delete.status == 405, "\(delete.text)")
            #expect(delete.header("Allow") == "GET, HEAD, OPTIONS, POST")
            let trace = try await herald.call(.TRACE, "/api/hooks/7", token: herald.adminToken)
            #expect(trace.status == 405)
            #expect(trace.header("Allow") == "DELETE, GET, HEAD, OPTIONS, PATCH")
            let options = try await herald.call(.OPTIONS, "/api/event-types/lead.created", token: nil)
            #expect(options.status == 204)
            #expect(options.header("Allow") == "DELETE, OPTIONS, PUT")
            #expect(try await herald.call(.DELETE, "/api/nothing-here", token: herald.adminToken).status == 404)
            // HEAD answers wherever GET does, as Allow says.
            let head = try await herald.call(.HEAD, "/api/teams", token: herald.adminToken)
            #expect(head.status == 200 && head.text.isEmpty)
            // Under /db/, in CouchDB's shape.
            let couch = try await herald.call(.GET, "/db/leads/_bulk_docs", token: herald.adminToken)
            #expect(couch.status == 405)
            #expect(couch.json["error"]?.stringValue == "method_not_allowed", "\(couch.text)")
            #expect(couch.header("Allow") == "OPTIONS, POST")
        }
    }

    @Test func anAdminManagesAnyTeamsHookByNamingTheTeam() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let missing = try await herald.call(.POST, "/api/hooks", token: herald.adminToken, body: #"{"url":"\#(receiverURL)"}"#)
            #expect(missing.status == 422)
            let created = try await herald.call(.POST, "/api/hooks", token: herald.adminToken, body: #"{"url":"\#(receiverURL)","team":"bde"}"#)
            #expect(created.status == 201)
            #expect(created.json["team"]?.stringValue == "bde")
            let seen = try await herald.call(.GET, "/api/hooks", token: bde.token)
            #expect(seen.json["hooks"]?.arrayValue?.count == 1)
        }
    }

    @Test func aHookShowsASuppliedSecretNeverAndAGeneratedOneOnce() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let supplied = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(receiverURL)","secret":"It's a Secret to Everybody"}"#)
            #expect(supplied.json["secret"]?.stringValue == "********")
            let id = try #require(supplied.json["id"]?.intValue)
            let shown = try await herald.call(.GET, "/api/hooks/\(id)", token: bde.token)
            #expect(shown.json["secret"] == nil)
            #expect(!shown.text.contains("Secret to Everybody"))
            #expect(shown.json["last_response"]?["status"] != nil)
            #expect(shown.json["deliveries_url"]?.stringValue?.hasSuffix("/api/hooks/\(id)/deliveries") == true)
        }
    }

    @Test func patchingAHookAddsAndRemovesEvents() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"\#(receiverURL)","events":["lead.created"]}"#)
            let patched = try await herald.call(
                .PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"add_events":["lead.updated"],"remove_events":["lead.created"],"timeout_seconds":5}"#
            )
            #expect(patched.status == 200)
            #expect(patched.json["events"] == .array([.string("lead.updated")]))
            #expect(patched.json["timeout_seconds"] == .int(5))
            let empty = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"remove_events":["lead.updated"]}"#)
            #expect(empty.status == 422)
            #expect(try await herald.call(.DELETE, "/api/hooks/\(hook.id)", token: bde.token).status == 204)
            #expect(try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).status == 404)
        }
    }

    @Test func anIdempotencyKeyReturnsTheFirstEvent() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let body = #"{"type":"lead.created","data":{"lead_id":"x"}}"#
            let first = try await herald.call(.POST, "/api/events", token: provider, body: body, headers: ["Idempotency-Key": "k-1"])
            let second = try await herald.call(.POST, "/api/events", token: provider, body: body, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == 202 && second.status == 202)
            #expect(first.json["id"] == second.json["id"])
            #expect(try await herald.store.lastSeq() == 1)
            // A key with a NUL in it would be cut (SQLite) or refused (PostgreSQL) further down.
            let nul = try await herald.call(
                .POST, "/api/events", token: provider, body: #"{"type":"lead.created","data":{"lead_id":"x"},"idempotency_key":"k-1\u0000tail"}"#
            )
            #expect(nul.status == 422)
            #expect(nul.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/idempotency_key")
            #expect(try await herald.store.lastSeq() == 1)
        }
    }

    @Test func aBatchIsAcceptedWhole() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let batch = #"[{"type":"lead.created","data":{"lead_id":"a"}},{"type":"lead.updated","data":{"lead_id":"b"}}]"#
            let response = try await herald.emit(provider, batch)
            #expect(response.status == 202)
            #expect(response.json["events"]?.arrayValue?.map { $0["seq"] } == [.int(1), .int(2)])
        }
    }

    @Test func badInputGetsAClearProblemAndStoresNothing() async throws {
        try await HeraldHarness.run(configure: { $0.maxEventBodyBytes = 4096 }) { herald in
            let provider = try await herald.providerToken()
            let bde = try await herald.makeTeam("bde")
            let cases: [(String, Int, String?)] = [
                (#"{"type":"lead.exploded","data":{}}"#, 422, "/type"),
                (#"{"type":"lead.created","data":{"name":"no id"}}"#, 422, "/data/lead_id"),
                (#"{"type":"lead.created","data":{"lead_id":"x","email":"not-an-email"}}"#, 422, "/data/email"),
                (#"[{"type":"lead.created","data":{"lead_id":"ok"}},{"type":"lead.created","data":{"lead_id":7}}]"#, 422, "/1/data/lead_id"),
                (#"{"type":"lead.created","data":{"lead_id":"x"},"colour":"red"}"#, 422, "/colour"),
                (#"{"type":"lead.created","data":"#, 400, nil),
                (#"{"type":"ping","data":{}}"#, 422, "/type"),
                (#"{"type":"lead.created","data":{"lead_id":"\#(String(repeating: "x", count: 5000))"}}"#, 413, nil),
            ]
            for (body, status, field) in cases {
                let response = try await herald.emit(provider, body)
                #expect(response.status == status, "\(body.prefix(80)) → \(response.text)")
                #expect(response.header("Content-Type") == "application/problem+json")
                #expect(response.json["status"] == .int(Int64(status)))
                if let field {
                    #expect(response.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == field } == true, "\(response.text)")
                }
            }
            #expect(try await herald.store.lastSeq() == 0, "nothing was stored")

            let badHooks: [(String, String)] = [
                (#"{"url":"ftp://example.org/x"}"#, "/url"), (#"{"url":"not a url"}"#, "/url"), (#"{}"#, "/url"),
                (#"{"url":"\#(receiverURL)","events":["lead.exploded"]}"#, "/events"), (#"{"url":"\#(receiverURL)","events":[]}"#, "/events"),
                (#"{"url":"\#(receiverURL)","content_type":"xml"}"#, "/content_type"), (#"{"url":"\#(receiverURL)","timeout_seconds":600}"#, "/timeout_seconds"),
                (#"{"url":"\#(receiverURL)","ordering":"chaotic"}"#, "/ordering"), (#"{"url":"\#(receiverURL)","secret":"short"}"#, "/secret"),
            ]
            for (body, field) in badHooks {
                let response = try await herald.call(.POST, "/api/hooks", token: bde.token, body: body)
                #expect(response.status == 422, "\(body) → \(response.text)")
                #expect(response.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue == field } == true, "\(body) → \(response.text)")
            }
            #expect(try await herald.store.hooks(teamID: nil).isEmpty, "no hook was stored")
        }
    }

    @Test func theSSRFGuardRefusesPrivateTargetsUnlessAllowed() async throws {
        try await HeraldHarness.run(configure: { $0.engine.allowPrivateTargets = false }) { herald in
            let bde = try await herald.makeTeam("bde")
            for url in ["http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://localhost/x"] {
                let response = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(url)"}"#)
                #expect(response.status == 422, "\(url)")
                #expect(response.json["errors"]?.arrayValue?.first?["message"]?.stringValue?.contains("non-public") == true, "\(url): \(response.text)")
            }
        }
    }

    @Test func theEventTypeCatalogIsSeededAndEditableByAdmins() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let list = try await herald.call(.GET, "/api/event-types", token: bde.token)
            let names = list.json["event_types"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == ["herald.delivery.exhausted", "herald.hook.disabled", "herald.hook.failing", "lead.assigned", "lead.created", "lead.updated", "ping"])
            // Herald's own event types are not the catalog editor's.
            #expect(try await herald.call(.PUT, "/api/event-types/herald.hook.failing", token: herald.adminToken, body: #"{"description":"x"}"#).status == 422)
            #expect(try await herald.call(.DELETE, "/api/event-types/herald.hook.failing", token: herald.adminToken).status == 404)
            #expect(try await herald.call(.POST, "/api/event-types", token: bde.token, body: #"{"name":"grant.approved"}"#).status == 403)
            let schema = #"{"name":"grant.approved","description":"A grant was approved.","schema":{"type":"object","required":["amount"]},"example":{"amount":5}}"#
            #expect(try await herald.call(.POST, "/api/event-types", token: herald.adminToken, body: schema).status == 201)
            let provider = try await herald.providerToken()
            #expect(try await herald.emit(provider, #"{"type":"grant.approved","data":{}}"#).status == 422)
            #expect(try await herald.emit(provider, #"{"type":"grant.approved","data":{"amount":10}}"#).status == 202)
            let badExample = #"{"name":"grant.denied","schema":{"type":"object","required":["reason"]},"example":{}}"#
            #expect(try await herald.call(.POST, "/api/event-types", token: herald.adminToken, body: badExample).status == 422)
            #expect(try await herald.call(.DELETE, "/api/event-types/grant.approved", token: herald.adminToken).status == 204)
            #expect(try await herald.emit(provider, #"{"type":"grant.approved","data":{"amount":10}}"#).status == 422)
        }
    }

    @Test func theDeliveryLogPagesWithALinkHeader() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"\#(receiverURL)","active":false}"#)
            for _ in 0..<4 { #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/pings", token: bde.token).status == 204) }
            let first = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?per_page=3", token: bde.token)
            #expect(first.json["deliveries"]?.arrayValue?.count == 3)
            let cursor = try #require(first.json["next_cursor"]?.stringValue)
            #expect(first.header("Link")?.contains("rel=\"next\"") == true)
            let second = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?per_page=3&cursor=\(cursor)", token: bde.token)
            #expect(second.json["deliveries"]?.arrayValue?.count == 2)
            #expect(second.json["next_cursor"] == .null)
            let firstIDs = Set(first.json["deliveries"]!.arrayValue!.map { $0["id"]!.stringValue! })
            #expect(second.json["deliveries"]!.arrayValue!.allSatisfy { !firstIDs.contains($0["id"]!.stringValue!) })
            #expect(try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?cursor=zzz", token: bde.token).status == 400)
            let all = try await herald.call(.GET, "/api/deliveries?team=bde&event=ping", token: herald.adminToken)
            #expect(all.json["deliveries"]?.arrayValue?.count == 5)
            #expect(try await herald.call(.GET, "/api/deliveries", token: bde.token).status == 403)
        }
    }

    @Test func operationsEndpointsAnswer() async throws {
        try await HeraldHarness.run { herald in
            let health = try await herald.call(.GET, "/healthz", token: nil)
            #expect(health.status == 200 && health.json["status"]?.stringValue == "ok")
            let metrics = try await herald.call(.GET, "/metrics", token: nil)
            #expect(metrics.text.contains("herald_deliveries{status=\"pending\"}"))
            try await eventually("ready once the engine runs") {
                let ready = try await herald.call(.GET, "/readyz", token: nil)
                return ready.status == 200 && ready.json["status"]?.stringValue == "ready"
            }
            let spec = try await herald.call(.GET, "/api/openapi.yaml", token: nil)
            #expect(spec.status == 200 && spec.text.contains("/api/hooks"))
            for path in ["/api/teams", "/api/tokens", "/api/event-types", "/api/events", "/api/hooks/{id}/pings", "/api/hooks/{id}/secret/rotate", "/api/deliveries"] {
                #expect(spec.text.contains("  \(path):"), "the OpenAPI document covers \(path)")
            }
            let missing = try await herald.call(.GET, "/api/nothing-here", token: nil)
            #expect(missing.status == 404 && missing.header("Content-Type") == "application/problem+json")
            // Every answer carries a request id: the caller's when it is a short token, a new one otherwise.
            #expect(missing.header("X-Request-Id")?.count == 36)
            let given = try await herald.call(.GET, "/healthz", token: nil, headers: ["X-Request-Id": "lb-7f3a:42"])
            #expect(given.header("X-Request-Id") == "lb-7f3a:42")
            let refused = try await herald.call(.GET, "/api/hooks", token: nil, headers: ["X-Request-Id": "bad id with spaces"])
            #expect(refused.status == 401 && refused.header("X-Request-Id")?.count == 36)
            let trace = try await herald.call(.TRACE, "/api/hooks", token: nil)
            #expect(trace.status == 405 && trace.header("Content-Type") == "application/problem+json")
        }
    }
}

/// Method names for table-driven tests.
enum HTTPMethodName: String, CustomStringConvertible {
    case GET, POST, PATCH, DELETE
    var description: String { rawValue }
    var nio: NIOHTTP1.HTTPMethod {
        switch self {
        case .GET: .GET
        case .POST: .POST
        case .PATCH: .PATCH
        case .DELETE: .DELETE
        }
    }
}

import NIOHTTP1
