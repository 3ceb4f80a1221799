import Foundation
import HeraldCore
import Testing

/// Event types with versions: each version validates its own payload, an event names its version
/// (or gets the current one), a hook subscribes to one version or to all, a deprecated type or
/// version is flagged on the catalog, the ingest answer and the hooks that subscribe to it, and an
/// archived one refuses new events.
@Suite struct EventTypeVersionTests {
    static let grant = #"""
        {"description":"A grant was approved.","versions":[
          {"version":1,"schema":{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer"}}},"example":{"amount":5000}},
          {"version":2,"schema":{"type":"object","required":["amount"],"properties":{"amount":{"type":"object","required":["value","currency"]}}},
           "example":{"amount":{"value":5000,"currency":"EUR"}}}
        ]}
        """#

    @Test func eachVersionValidatesItsOwnPayloadAndAHookGetsTheVersionItSubscribesTo() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let admin = herald.adminToken
                let bde = try await herald.makeTeam("bde")
                let provider = try await herald.providerToken()

                // The catalog refuses what it could not keep apart.
                for (body, field) in [
                    (#"{"versions":[{"version":1},{"version":1}]}"#, "/versions"),
                    (#"{"schema":{"type":"object"},"versions":[{"version":1}]}"#, "/schema"),
                    (#"{"versions":[{"version":1,"schema":{"type":"object","required":["a"]},"example":{}}]}"#, "/versions/0/example"),
                    (#"{"versions":[{"schema":{}}]}"#, "/versions/0/version"),
                    (#"{"versions":{"version":1}}"#, "/versions"),
                ] {
                    let refused = try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: body)
                    #expect(refused.status == 422, "\(body): \(refused.text)")
                    #expect(refused.json["errors"]?.arrayValue?.contains { $0["field"]?.stringValue?.hasPrefix(field) == true } == true, "\(body): \(refused.text)")
                }
                let saved = try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: Self.grant)
                #expect(saved.status == 201, "\(saved.text)")
                #expect(saved.json["current_version"] == .int(2) && saved.json["versions"]?.arrayValue?.count == 2, "\(saved.text)")
                // What the catalog answers can be sent back as it is.
                #expect(try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: saved.text).status == 200)

                // Hooks: version 1 only, every version, version 2 only; a version the type lacks is refused.
                let v1 = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/v1"))","events":["grant.approved@1"]}"#)
                let all = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/all"))","events":["grant.approved"]}"#)
                let v2 = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/v2"))","events":["grant.approved@2"]}"#)
                for (events, message) in [(#"["grant.approved@3"]"#, "has versions 1, 2, not 3"), (#"["lead.created@1"]"#, "has no versions")] {
                    let refused = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"\#(receiver.url("/x"))","events":\#(events)}"#)
                    #expect(refused.status == 422 && refused.text.contains(message), "\(events): \(refused.text)")
                }

                // Each version's own schema; no version named is the current one.
                let first = try await herald.emit(provider, #"{"type":"grant.approved","version":1,"data":{"amount":5000}}"#)
                #expect(first.status == 202 && first.json["version"] == .int(1), "\(first.text)")
                let current = try await herald.emit(provider, #"{"type":"grant.approved","data":{"amount":{"value":5000,"currency":"EUR"}}}"#)
                #expect(current.status == 202 && current.json["version"] == .int(2), "\(current.text)")
                #expect(current.header("Deprecation") == nil)
                let wrongShape = try await herald.emit(provider, #"{"type":"grant.approved","version":1,"data":{"amount":{"value":1}}}"#)
                #expect(wrongShape.status == 422 && wrongShape.json["errors"]?.arrayValue?.first?["field"] == .string("/data/amount"), "\(wrongShape.text)")
                let noSuchVersion = try await herald.emit(provider, #"{"type":"grant.approved","version":3,"data":{}}"#)
                #expect(noSuchVersion.status == 422 && noSuchVersion.json["errors"]?.arrayValue?.first?["field"] == .string("/version"), "\(noSuchVersion.text)")
                let unversioned = try await herald.emit(provider, #"{"type":"lead.created","version":1,"data":{"lead_id":"l1"}}"#)
                #expect(unversioned.status == 422 && unversioned.text.contains("has no versions"), "\(unversioned.text)")

                // The all-versions hook gets both; once it has, fan-out has made every delivery of both events.
                try await eventually("both versions reach the hook on every version") {
                    receiver.received.filter { $0.path == "/all" && $0.bodyString.contains(#""type":"grant.approved""#) }.count == 2
                }
                func events(_ hookID: Int64) async throws -> [Delivery] {
                    try await herald.store.deliveries(DeliveryQuery(hookID: hookID, limit: 100)).filter { $0.eventType == "grant.approved" }
                }
                #expect(try await events(v1.id).map(\.eventID) == [first.json["id"]?.stringValue ?? "?"], "version 1's hook got version 1 only")
                #expect(try await events(v2.id).map(\.eventID) == [current.json["id"]?.stringValue ?? "?"], "version 2's hook got version 2 only")
                try await eventually("version 1 is delivered, naming its version") {
                    receiver.received.contains { $0.path == "/v1" && $0.bodyString.contains(#""type":"grant.approved","version":1,"#) }
                }
                let feed = try await herald.call(.GET, "/api/events?since=0", token: provider)
                #expect(feed.json["results"]?.arrayValue?.compactMap { $0["version"]?.intValue } == [1, 2], "\(feed.text)")

                // Version 1 deprecated: still accepted, and said so; the hook on it is flagged.
                let deprecated = Self.grant.replacingOccurrences(of: #""example":{"amount":5000}}"#, with: #""example":{"amount":5000},"deprecated":true}"#)
                #expect(try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: deprecated).status == 200)
                let old = try await herald.emit(provider, #"{"type":"grant.approved","version":1,"data":{"amount":7}}"#)
                #expect(old.status == 202 && old.header("Deprecation")?.hasPrefix("@") == true, "\(old.headers)")
                #expect(old.header("Herald-Warning")?.contains("grant.approved version 1") == true)
                let flagged = try await herald.call(.GET, "/api/hooks/\(v1.id)", token: bde.token)
                #expect(flagged.json["event_notices"] == .array([.string("grant.approved version 1 is deprecated; the current version is 2")]), "\(flagged.text)")
                #expect(try await herald.call(.GET, "/api/hooks/\(v2.id)", token: bde.token).json["event_notices"] == .array([]))
                let portal = try await herald.call(.POST, "/api/teams/bde/portal-links", token: provider, body: "{}")
                let browser = WebClient(baseURL: herald.baseURL)
                _ = try await browser.get(String(portal.json["url"]?.stringValue?.dropFirst(herald.baseURL.count) ?? ""))
                #expect(try await browser.get("/hooks/\(v1.id)").html.contains("grant.approved version 1 is deprecated; the current version is 2, and this webhook subscribes"))

                // Archived: refused with a 422 that says so; the type archived, every version is.
                let archived = deprecated.replacingOccurrences(of: #""deprecated":true"#, with: #""deprecated":true,"archived":true"#)
                #expect(try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: archived).status == 200)
                let gone = try await herald.emit(provider, #"{"type":"grant.approved","version":1,"data":{"amount":7}}"#)
                #expect(gone.status == 422 && gone.text.contains("version 1 of grant.approved is archived"), "\(gone.text)")
                #expect(try await herald.emit(provider, #"{"type":"grant.approved","data":{"amount":{"value":1,"currency":"EUR"}}}"#).status == 202)
                let retired = #"{"archived":true,"versions":[{"version":2}]}"#
                #expect(try await herald.call(.PUT, "/api/event-types/grant.approved", token: admin, body: retired).status == 200)
                let refused = try await herald.emit(provider, #"{"type":"grant.approved","data":{}}"#)
                #expect(refused.status == 422 && refused.json["errors"]?.arrayValue?.first?["field"] == .string("/type"), "\(refused.text)")
                #expect(refused.text.contains("grant.approved is archived"))
            }
        }
    }

    @Test func theFormOffersEachVersionAndTestsWithItsExample() async throws {
        try await HeraldHarness.run { herald in
            _ = try await herald.makeTeam("bde")
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/api/event-types/grant.approved", token: herald.adminToken, body: Self.grant).status == 201)
            let portal = try await herald.call(.POST, "/api/teams/bde/portal-links", token: provider, body: "{}")
            let browser = WebClient(baseURL: herald.baseURL)
            _ = try await browser.get(String(portal.json["url"]?.stringValue?.dropFirst(herald.baseURL.count) ?? ""))
            let form = try await browser.get("/hooks/new")
            #expect(form.html.contains(#"value="grant.approved@1""#) && form.html.contains(#"value="grant.approved@2""#), "a checkbox per version")

            func trial(_ events: String) async throws -> String {
                try await browser.submit(from: "/hooks/new", to: "/hooks", [
                    ("url", "http://127.0.0.1:9/x"), ("events_mode", "custom"), ("events", events), ("active", "1"), ("delivery_mode", "push"),
                    ("transform", "function (event) { return {v: event.version, amount: event.data.amount}; }"), ("intent", "test"),
                ]).html
            }
            let one = try await trial("grant.approved@1")
            #expect(one.contains("grant.approved version 1") && one.contains("&quot;amount&quot;: 5000"), "\(one.prefix(200))")
            let current = try await trial("grant.approved")
            #expect(current.contains("grant.approved version 2") && current.contains("&quot;currency&quot;: &quot;EUR&quot;"))
        }
    }
}
