import Foundation
import HeraldCore
import Testing

/// Channels route events to teams, so they are tenancy; idempotency keys belong to their sender.
@Suite struct TenancyTests {
    let receiverURL = "http://127.0.0.1:9/hook"

    @Test func aTeamSubscribesOnlyToChannelsGrantedToIt() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                _ = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                let stolen = try await herald.call(.POST, "/api/hooks", token: cce.token, body: #"{"url":"\#(receiver.url())","channels":["bde"]}"#)
                #expect(stolen.status == 422)
                #expect(stolen.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/channels")
                #expect(stolen.text.contains("channel bde is not granted to team cce"))
                #expect(try await herald.store.hooks(teamID: cce.team.id).isEmpty)
                // An admin grants a shared channel; the team's own slug is always granted.
                let granted = try await herald.call(.PUT, "/api/teams/cce/channels", token: herald.adminToken, body: #"{"channels":["regional"]}"#)
                #expect(granted.status == 200)
                #expect(granted.json["channels"]?.arrayValue?.compactMap(\.stringValue) == ["cce", "regional"])
                #expect(try await herald.call(.PUT, "/api/teams/cce/channels", token: cce.token, body: #"{"channels":["bde"]}"#).status == 403)
                let hook = try await herald.makeHook(cce, #"{"url":"\#(receiver.url())","channels":["cce","regional"]}"#)
                let patched = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: cce.token, body: #"{"channels":["bde"]}"#)
                #expect(patched.status == 422)
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"b"},"channels":["bde"]}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"r"},"channels":["regional"]}"#)
                try await eventually("the regional lead") { receiver.received.contains { $0.bodyString.contains(#""lead_id":"r""#) } }
                // Revoking the grant stops the routing at once, whatever the hook says.
                _ = try await herald.call(.PUT, "/api/teams/cce/channels", token: herald.adminToken, body: #"{"channels":[]}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"r2"},"channels":["regional"]}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"c"},"channels":["cce"]}"#)
                try await eventually("the team's own lead") { receiver.received.contains { $0.bodyString.contains(#""lead_id":"c""#) } }
                let leads = receiver.received.compactMap { try? JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue }
                #expect(leads == ["r", "c"])
            }
        }
    }

    @Test func aTeamsFeedShowsOnlyGrantedChannelsAndMovesPastWhatItSkips() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            _ = try await herald.makeHook(cce, #"{"url":"\#(receiverURL)","events":["lead.*"],"channels":["cce"]}"#)
            // A hook row naming another team's channel (as stored before channels were granted) shows nothing of it.
            var settings = HookSettings(url: receiverURL)
            settings.channels = ["bde"]
            _ = try await herald.store.createHook(teamID: cce.team.id, settings: settings, encryptedSecret: Data([1]), now: Date())
            let provider = try await herald.providerToken()
            for batch in 0..<15 {
                let routed = (0..<100).map { #"{"type":"lead.created","data":{"lead_id":"b\#(batch)-\#($0)"},"channels":["bde"]}"# }
                #expect(try await herald.emit(provider, "[\(routed.joined(separator: ","))]").status == 202)
            }
            _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"c"},"channels":["cce"]}"#)
            // A page scans a bounded window of the log, so it costs the same however much the team may
            // not see, and last_seq moves past what was skipped: the follower never rescans.
            let first = try await herald.call(.GET, "/api/events?since=0&limit=10", token: cce.token).json
            #expect(first["results"]?.arrayValue?.isEmpty == true)
            let lastSeq = try #require(first["last_seq"]?.stringValue.flatMap { Int64($0) })
            #expect(lastSeq > 0)
            var since = lastSeq
            var seen: [String] = []
            for _ in 0..<5 where seen.isEmpty {
                let page = try await herald.call(.GET, "/api/events?since=\(since)&limit=10", token: cce.token).json
                seen += page["results"]?.arrayValue?.compactMap { $0["data"]?["lead_id"]?.stringValue } ?? []
                let next = try #require(page["last_seq"]?.stringValue.flatMap { Int64($0) })
                #expect(next >= since)
                since = next
            }
            #expect(seen == ["c"])
            #expect(since == (try await herald.store.lastSeq()))
            // The team the events were routed to sees them.
            _ = try await herald.makeHook(bde, #"{"url":"\#(receiverURL)","channels":["bde"]}"#)
            let bdeFeed = try await herald.call(.GET, "/api/events?since=0&limit=5", token: bde.token).json
            #expect(bdeFeed["results"]?.arrayValue?.count == 5)
        }
    }

    @Test func idempotencyKeysBelongToTheirSenderAndAReusedKeyMustRepeatThePayload() async throws {
        try await HeraldHarness.run { herald in
            let providerA = try await herald.providerToken()
            let providerB = try await herald.providerToken()
            let lead = #"{"type":"lead.created","data":{"lead_id":"a"}}"#
            let first = try await herald.call(.POST, "/api/events", token: providerA, body: lead, headers: ["Idempotency-Key": "k-1"])
            let other = try await herald.call(.POST, "/api/events", token: providerB, body: #"{"type":"lead.created","data":{"lead_id":"b"}}"#, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == 202 && other.status == 202)
            #expect(first.json["id"] != other.json["id"])
            let again = try await herald.call(.POST, "/api/events", token: providerA, body: lead, headers: ["Idempotency-Key": "k-1"])
            #expect(again.status == 202 && again.json["id"] == first.json["id"])
            let changed = try await herald.call(.POST, "/api/events", token: providerA, body: #"{"type":"lead.created","data":{"lead_id":"z"}}"#, headers: ["Idempotency-Key": "k-1"])
            #expect(changed.status == 409)
            #expect(changed.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/idempotency_key")
            // A batch with one reused key is refused whole.
            let batch = #"[{"type":"lead.created","data":{"lead_id":"n"}},{"type":"lead.updated","data":{"lead_id":"a"},"idempotency_key":"k-1"}]"#
            let refused = try await herald.call(.POST, "/api/events", token: providerA, body: batch)
            #expect(refused.status == 409)
            #expect(refused.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/1/idempotency_key")
            // So is a batch that uses one new key for two different events.
            let twice = #"[{"type":"lead.created","data":{"lead_id":"p"},"idempotency_key":"k-2"},{"type":"lead.created","data":{"lead_id":"q"},"idempotency_key":"k-2"}]"#
            let doubled = try await herald.call(.POST, "/api/events", token: providerA, body: twice)
            #expect(doubled.status == 409)
            #expect(doubled.json["errors"]?.arrayValue?.first?["field"]?.stringValue == "/1/idempotency_key")
            #expect(try await herald.store.lastSeq() == 2)
        }
    }
}
