import Foundation
import HeraldCore
import Testing

/// A hook made with the defaults delivers: without channels, it receives every event its team may
/// read (its own channel, the channels granted to it, and events sent without channels), by
/// fan-out, in the team's pull feed and in a replay alike.
@Suite struct DefaultsThatDeliverTests {
    @Test(.timeLimit(.minutes(2)))
    func aHookWithoutChannelsGetsWhatItsTeamMayReadInFanOutFeedAndReplay() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeTeam("cce")
                #expect(try await herald.call(.PUT, "/api/teams/bde/channels", token: herald.adminToken, body: #"{"channels":["regional"]}"#).status == 200)
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let since = Timestamp.string(Date().addingTimeInterval(-1))
                let provider = try await herald.providerToken()
                let sent: [(id: String, channels: String)] = [
                    ("own", #"["bde"]"#), ("granted", #"["regional"]"#), ("other-team", #"["cce"]"#), ("everyone", "[]"),
                    ("another-other", #"["cce","tourism"]"#), ("last", #"["bde","cce"]"#),
                ]
                for (id, channels) in sent {
                    #expect(try await herald.emit(provider, #"{"type":"lead.created","channels":\#(channels),"data":{"lead_id":"\#(id)"}}"#).status == 202)
                }
                let expected: Set<String> = ["own", "granted", "everyone", "last"]
                @Sendable func leadIDs(_ deliveries: [JSONValue]) -> Set<String> { Set(deliveries.compactMap { $0["data"]?["lead_id"]?.stringValue }) }
                @Sendable func received() -> Set<String> { leadIDs(receiver.received.compactMap { try? JSONValue(parsing: $0.body) }) }
                try await eventually("the four events its team may read arrive") { received() == expected }

                // Fan-out decides in seq order: once the last is logged, the skipped ones were decided.
                let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?limit=100", token: bde.token)
                let logged = Set(log.json["deliveries"]?.arrayValue?.filter { $0["event"] == .string("lead.created") }.compactMap { $0["id"]?.stringValue } ?? [])
                #expect(logged.count == 4, "\(log.text)")
                #expect(received() == expected)

                let feed = try await herald.call(.GET, "/api/events?since=0&limit=100", token: bde.token)
                #expect(leadIDs(feed.json["results"]?.arrayValue ?? []) == expected, "\(feed.text)")

                let started = try await herald.call(.POST, "/api/hooks/\(hook.id)/replay", token: bde.token, body: #"{"since":"\#(since)"}"#)
                #expect(started.status == 202, "\(started.text)")
                let job = try #require(started.header("Location"))
                let done = try await eventuallyValue("the replay finishes") {
                    let state = try await herald.call(.GET, job, token: bde.token).json
                    return state["state"] == .string("done") ? state : nil
                }
                #expect(done?["queued"] == .int(4))
            }
        }
    }
}

extension DefaultsThatDeliverTests {
    /// A hook that matched none of its team's recent events says why on its page.
    @Test func aHookThatMatchedNothingSaysWhy() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["lead.updated"]}"#)
            let provider = try await herald.providerToken()
            for _ in 0..<3 { _ = try await herald.emit(provider, #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"x"}}"#) }
            let ana = try await WebTests().member(herald, bde.team, "ana@bde.example")
            let page = try await ana.get("/hooks/\(hook.id)")
            #expect(page.html.contains("This webhook received none of the last 3 events its team could read: 3 were event types it does not subscribe to (lead.created ×3)."), "\(page.html)")
        }
    }
}
