import Foundation
import HeraldCore
import Testing

/// Retention: what is finished and older than the window goes, in small steps; the rest stays.
@Suite struct RetentionTests {
    @Test(.timeLimit(.minutes(2)))
    func oldFinishedWorkIsPrunedRecentWorkAndDocumentsStay() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in request.path == "/down" ? .init(status: 500, body: "down") : .init() }
            try await HeraldHarness.run { configuration in
                configuration.engine.retention = .seconds(3)
                configuration.engine.pruneInterval = .milliseconds(100)
                configuration.engine.retrySchedule = RetrySchedule(delays: [], jitter: 0)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let up = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/up"))","events":["lead.created"]}"#)
                let down = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/down"))","events":["lead.updated"]}"#)
                let provider = try await herald.providerToken()
                #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
                #expect(try await herald.call(.PUT, "/db/leads/kept", token: provider, body: #"{"n":1}"#).status == 201)
                let old = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"old"}}"#).json["seq"]?.intValue
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"old-failed"}}"#)
                // The receiver's record, not the delivery log: a log entry that succeeded lives only
                // for the 3 s window, which a busy machine's polling can miss entirely.
                try await eventually("the old delivery arrives") {
                    receiver.received.contains { $0.path == "/up" && $0.header("X-Herald-Event") == "lead.created" }
                }
                try await eventually("the other fails") {
                    try await herald.call(.GET, "/api/hooks/\(down.id)/deliveries?status=failure", token: bde.token).json["deliveries"]?.arrayValue?
                        .contains { $0["event"]?.stringValue == "lead.updated" } == true
                }
                // Past the window, the succeeded delivery goes (the hook's creation ping too) …
                try await eventually("the old succeeded delivery is pruned", timeout: .seconds(20)) {
                    try await herald.call(.GET, "/api/hooks/\(up.id)/deliveries", token: bde.token).json["deliveries"]?.arrayValue?.isEmpty == true
                }
                // … the failed one stays, for inspection and redelivery, without its bodies …
                try await eventually("the failed attempt's bodies are stripped", timeout: .seconds(20)) {
                    let log = try await herald.call(.GET, "/api/hooks/\(down.id)/deliveries?status=failure", token: bde.token)
                    guard let id = log.json["deliveries"]?.arrayValue?.first(where: { $0["event"]?.stringValue == "lead.updated" })?["id"]?.stringValue
                    else { return false }
                    let detail = try await herald.call(.GET, "/api/hooks/\(down.id)/deliveries/\(id)", token: bde.token)
                    return detail.json["response"]?["payload"] == .null && detail.json["response"]?["status_code"] == .int(500)
                }
                // … and the old event is gone from the feed, which starts at the oldest event kept.
                try await eventually("the old event is pruned", timeout: .seconds(20)) {
                    let feed = try await herald.call(.GET, "/api/events?since=0", token: provider).json["results"]?.arrayValue ?? []
                    return !feed.contains { $0["seq"]?.intValue == old } && feed.contains { $0["data"]?["lead_id"]?.stringValue == "old-failed" }
                }
                // Recent work stays; documents are never pruned.
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"new"}}"#)
                try await eventually("the new delivery succeeds") {
                    try await herald.call(.GET, "/api/hooks/\(up.id)/deliveries?status=success", token: bde.token).json["deliveries"]?.arrayValue?.count == 1
                }
                #expect(try await herald.call(.GET, "/db/leads/kept", token: provider).status == 200)
                let changes = try await herald.call(.GET, "/db/leads/_changes", token: provider).json["results"]?.arrayValue ?? []
                #expect(changes.map { $0["id"]?.stringValue } == ["kept"])
            }
        }
    }
}
