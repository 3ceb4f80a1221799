import Foundation
import HeraldCore
import Testing

@testable import HeraldServer

/// `/db/{db}/_changes` feed modes over real HTTP: they wake on commit and end on limit or timeout.
@Suite struct ChangesFeedTests {
    func database(_ herald: HeraldHarness) async throws -> String {
        _ = try await herald.call(.PUT, "/db/leads", token: herald.adminToken)
        return try await herald.providerToken()
    }

    @Test(.timeLimit(.minutes(2)))
    func longpollReturnsOnTheFirstChange() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            _ = try await herald.call(.PUT, "/db/leads/old", token: provider, body: "{}")
            let since = try await herald.store.lastSeq()
            let started = ContinuousClock.now
            async let answer = herald.call(.GET, "/db/leads/_changes?feed=longpoll&since=\(since)&timeout=20000", token: provider)
            try await Task.sleep(for: .milliseconds(300))
            _ = try await herald.call(.PUT, "/db/leads/new", token: provider, body: "{}")
            let response = try await answer
            #expect(response.json["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["new"])
            #expect(ContinuousClock.now - started < .seconds(15), "it answered on the change, not at its timeout")
        }
    }

    @Test func filtersByChannelByIdAndWithoutDeletions() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            let a = try await herald.call(.PUT, "/db/leads/a", token: provider, body: #"{"channels":["needs-approval"]}"#)
            _ = try await herald.call(.PUT, "/db/leads/b", token: provider, body: #"{"channels":["approved"]}"#)
            _ = try await herald.call(.PUT, "/db/leads/c", token: provider, body: #"{"channels":["needs-approval"]}"#)
            _ = try await herald.call(.DELETE, "/db/leads/a?rev=\(try #require(a.json["rev"]?.stringValue))", token: provider)
            func ids(_ path: String, body: String? = nil) async throws -> [String] {
                let response = try await herald.call(body == nil ? .GET : .POST, "/db/leads/_changes" + path, token: provider, body: body)
                #expect(response.status == 200, "\(response.text)")
                return response.json["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            }
            #expect(try await ids("?filter=sync_gateway/bychannel&channels=needs-approval") == ["c", "a"])
            #expect(try await ids("?filter=sync_gateway/bychannel&channels=needs-approval&active_only=true") == ["c"])
            #expect(try await ids("?filter=_doc_ids&doc_ids=%5B%22b%22%2C%22a%22%5D") == ["b", "a"])
            #expect(try await ids("", body: #"{"filter":"_doc_ids","doc_ids":["c"]}"#) == ["c"])
            #expect(try await ids("?descending=true") == ["a", "c", "b"])
            let deleted = try await herald.call(.GET, "/db/leads/_changes?filter=_doc_ids&doc_ids=%5B%22a%22%5D", token: provider)
            #expect(deleted.json["results"]?.arrayValue?.first?["deleted"] == .bool(true))
            #expect(try await herald.call(.GET, "/db/leads/_changes?filter=nope", token: provider).status == 400)
            // As CouchDB answers: a flag is true or false, a POST body an object.
            #expect(try await herald.call(.GET, "/db/leads/_changes?include_docs=yes", token: provider).status == 400)
            #expect(try await herald.call(.GET, "/db/leads/_changes?descending=true&feed=longpoll", token: provider).status == 400)
            #expect(try await herald.call(.POST, "/db/leads/_changes", token: provider, body: "[1]").status == 400)
            #expect(try await herald.call(.POST, "/db/leads/_changes", token: provider, body: "").status == 200)
            #expect(try await herald.call(.POST, "/db/leads/_all_docs", token: provider, body: #"{"keys":[1]}"#).status == 400)
        }
    }

    @Test func aLongFeedMovesPastCommitsElsewhere() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            _ = try await herald.call(.PUT, "/db/other", token: herald.adminToken)
            for index in 0..<3 { _ = try await herald.call(.PUT, "/db/other/d\(index)", token: provider, body: "{}") }
            // Nothing in leads: the feed waits its timeout and answers past the other database's writes,
            // so a follower does not wake for them again.
            let response = try await herald.call(.GET, "/db/leads/_changes?feed=longpoll&since=0&timeout=200", token: provider)
            #expect(response.json["results"]?.arrayValue?.isEmpty == true)
            #expect(response.json["last_seq"]?.stringValue == "3")
            let heartbeats = try await herald.call(.GET, "/api/events?feed=continuous&since=99&heartbeat=0&timeout=500", token: provider)
            #expect(heartbeats.text.filter { $0 == "\n" }.count < 20, "heartbeats come at most every 100 ms")
        }
    }

    @Test func longpollEndsEmptyAtItsTimeout() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            let response = try await herald.call(.GET, "/db/leads/_changes?feed=longpoll&since=0&timeout=200", token: provider)
            #expect(response.status == 200 && response.json["results"]?.arrayValue?.isEmpty == true)
            #expect(response.json["last_seq"]?.stringValue == "0")
        }
    }

    // The feed ends at its 1,000th change; the limits leave room for a busy machine (the server
    // suites also run on PostgreSQL, in parallel, on two cores).
    @Test(.timeLimit(.minutes(3)))
    func continuousStreamsEveryChangeInOrderWhileWritersRun() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            async let stream = herald.call(.GET, "/db/leads/_changes?feed=continuous&limit=1000&timeout=150000", token: provider, deadline: .seconds(170))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<250 { _ = try await herald.call(.PUT, "/db/leads/w\(writer)-\(index)", token: provider, body: "{}") }
                    }
                }
                try await group.waitForAll()
            }
            let lines = try await stream.text.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
            let changes = lines.filter { $0["id"] != nil }
            let seqs = changes.compactMap { $0["seq"]?.intValue }
            #expect(changes.count == 1000)
            #expect(Set(changes.compactMap { $0["id"]?.stringValue }).count == 1000, "no duplicate")
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "in order")
            #expect(seqs.first == 1 && seqs.last == 1000, "no gap")
            #expect(lines.last?["last_seq"]?.stringValue == "1000")
        }
    }

    @Test func continuousSendsHeartbeatsUntilItsTimeout() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            let response = try await herald.call(.GET, "/db/leads/_changes?feed=continuous&heartbeat=100&timeout=5000", token: provider)
            #expect(response.text.hasPrefix("\n"), "a heartbeat is a bare newline")
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.text.filter { $0 == "\n" }.count >= 2, "heartbeats, then the closing line")
            #expect(response.text.hasSuffix(#"{"last_seq":"0"}"# + "\n"))
        }
    }

    @Test func eventsourceSendsServerSentEvents() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await database(herald)
            _ = try await herald.call(.PUT, "/db/leads/a", token: provider, body: #"{"n":1}"#)
            let response = try await herald.call(.GET, "/db/leads/_changes?feed=eventsource&include_docs=true&limit=1", token: provider)
            #expect(response.header("Content-Type") == "text/event-stream")
            #expect(response.text.hasPrefix("id: 1\ndata: {\"seq\":1,\"id\":\"a\""))
            #expect(response.text.contains("\"doc\":{\"_id\":\"a\""))
            #expect(response.text.contains("event: end\ndata: {\"last_seq\":\"1\"}"))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aTokenHoldsOnlySoManyLongFeeds() async throws {
        let perToken = 3
        try await HeraldHarness.run { $0.maxFeedsPerToken = perToken } _: { herald in
            let provider = try await database(herald)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<perToken {
                    group.addTask { try await herald.call(.GET, "/db/leads/_changes?feed=longpoll&timeout=20000", token: provider).status }
                }
                // Once every slot is taken, one more feed is refused.
                try await eventually("every feed is open") { herald.services.feeds.openFeeds == perToken }
                let refused = try await herald.call(.GET, "/db/leads/_changes?feed=longpoll&timeout=1", token: provider)
                #expect(refused.status == 429 && refused.json["error"]?.stringValue == "too_many_requests")
                let other = try await herald.providerToken()
                #expect(try await herald.call(.GET, "/db/leads/_changes?feed=longpoll&timeout=1", token: other).status == 200, "other tokens are not held back")
                _ = try await herald.call(.PUT, "/db/leads/wake", token: provider, body: "{}")
                for try await status in group { #expect(status == 200) }
            }
        }
    }
}

/// The event log's feed, `GET /api/events`, has the same long modes.
@Suite struct EventFeedModeTests {
    @Test(.timeLimit(.minutes(2)))
    func theEventFeedLongpollsAndStreams() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            let lead = #"{"type":"lead.created","data":{"lead_id":"l1"}}"#
            async let answer = herald.call(.GET, "/api/events?feed=longpoll&since=0&timeout=20000", token: provider)
            try await Task.sleep(for: .milliseconds(300))
            _ = try await herald.emit(provider, lead)
            #expect(try await answer.json["results"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == ["lead.created"])
            async let stream = herald.call(.GET, "/api/events?feed=continuous&since=0&limit=3&timeout=20000", token: provider)
            for _ in 0..<2 { _ = try await herald.emit(provider, lead) }
            let streamed = try await stream
            // One JSON value per line: NDJSON, said so (the /db/ feed keeps CouchDB's application/json).
            #expect(streamed.header("Content-Type") == "application/x-ndjson")
            let lines = try streamed.text.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
            #expect(lines.compactMap { $0["seq"]?.intValue } == [1, 2, 3])
            #expect(lines.last?["last_seq"]?.stringValue == "3")
            #expect(try await herald.call(.GET, "/api/events?feed=sideways", token: provider).status == 400)
        }
    }
}

/// A long feed's slot goes back exactly once, whether the feed ends or its response is dropped.
@Suite struct FeedSlotTests {
    struct Refused: Error { var refusal: FeedLimiter.Refusal }
    func slot(_ limiter: FeedLimiter, token: Int64, team: Int64? = nil) -> FeedSlot? {
        try? FeedSlot(limiter, token: token, team: team) { Refused(refusal: $0) }
    }

    @Test func aDroppedSlotIsReleasedAndAReleaseIsNotCountedTwice() {
        let limiter = FeedLimiter(perToken: 1)
        do {
            let held = slot(limiter, token: 7)
            #expect(held != nil)
            withExtendedLifetime(held) {
                #expect(slot(limiter, token: 7) == nil, "the token's one slot is taken")
                #expect(slot(limiter, token: 8) != nil, "another token is not held back")
            }
        }
        // Dropped without an explicit release: its deinit gave the slot back.
        let again = slot(limiter, token: 7)
        #expect(again != nil)
        again?.release()
        again?.release()
        #expect(limiter.openFeeds == 0)
    }

    /// A team's tokens share the team's feeds: minting more tokens does not open more.
    @Test func aTeamsTokensShareItsFeeds() throws {
        let limiter = FeedLimiter(perToken: 2, perTeam: 3)
        let held = [slot(limiter, token: 1, team: 9), slot(limiter, token: 1, team: 9), slot(limiter, token: 2, team: 9)]
        #expect(held.allSatisfy { $0 != nil })
        #expect(throws: Refused.self) { try FeedSlot(limiter, token: 3, team: 9) { Refused(refusal: $0) } }
        do {
            _ = try FeedSlot(limiter, token: 3, team: 9) { Refused(refusal: $0) }
        } catch let refused as Refused {
            #expect(refused.refusal == .team)
        }
        #expect(slot(limiter, token: 4, team: 10) != nil, "another team is not held back")
        held[0]?.release()
        #expect(slot(limiter, token: 3, team: 9) != nil)
    }
}
