import Foundation
import HeraldCore
import Synchronization
import Testing

/// A member's delivery log on the hook page: filters (blank fields are no filter), a delivery or
/// event id, pages forward and back, attempts and the next retry, and a live tail.
@Suite struct DeliveryLogWebTests {
    @Test(.timeLimit(.minutes(2)))
    func aMemberFiltersPagesAndFollowsTheirHooksDeliveries() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in
                request.bodyString.contains("lead.updated") ? .init(status: 500, body: "no") : .init()
            }
            try await HeraldHarness.run { configuration in
                // A failed attempt waits an hour for its retry: the row shows when.
                configuration.engine.retrySchedule = RetrySchedule(delays: [.seconds(3600)], jitter: 0)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let ana = try await WebTests().member(herald, bde.team, "ana@bde.example")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let provider = try await herald.providerToken()
                for index in 0..<22 { _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"c\#(index)"}}"#) }
                let updated = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"u"}}"#)
                let eventID = try #require(updated.json["id"]?.stringValue)
                try await eventually("every delivery was attempted") {
                    try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, statuses: [.pending, .inFlight], limit: 5)).allSatisfy { $0.totalAttempts > 0 }
                        && receiver.received.count >= 24
                }

                // Blank fields are no filter; a status and an event type are.
                let all = try await ana.get("/hooks/\(hook.id)?status=&event=&since=&until=&q=")
                #expect(all.status == 200 && rows(all).count == 20)
                let failures = try await ana.get("/hooks/\(hook.id)?status=failure&event=&since=&until=&q=")
                #expect(rows(failures).isEmpty, "a delivery waiting for its retry is pending, not failed")
                let pending = try await ana.get("/hooks/\(hook.id)?status=pending")
                #expect(rows(pending).count == 1 && pending.html.contains("<code>lead.updated</code>"))
                // Its attempts, and when the next one is.
                #expect(pending.html.range(of: #"<td>1 <span class="muted">· next 20\d\d-"#, options: .regularExpression) != nil, "\(pending.html)")
                let created = try await ana.get("/hooks/\(hook.id)?event=lead.created&since=2020-01-01T00:00:00Z")
                #expect(rows(created).count == 20 && !created.html.contains("<code>lead.updated</code>"))
                #expect(try await ana.get("/hooks/\(hook.id)?since=yesterday").status == 400)

                // An event id finds its delivery; a delivery id opens it.
                let byEvent = try await ana.get("/hooks/\(hook.id)?q=\(eventID)")
                let id = try #require(rows(byEvent).first)
                #expect(rows(byEvent).count == 1)
                let opened = try await ana.get("/hooks/\(hook.id)?q=\(id)")
                #expect(opened.status == 303 && opened.location == "/hooks/\(hook.id)/deliveries/\(id)")
                #expect(try await ana.get("/hooks/\(hook.id)?q=00000000-0000-0000-0000-000000000000").status == 404)

                // 24 deliveries (the ping too): a page of 20, an older one of 4, and back.
                let first = try await ana.get("/hooks/\(hook.id)")
                let older = try #require(link(first, "Older deliveries →"))
                let second = try await ana.get(older)
                #expect(rows(second).count == 4 && Set(rows(second)).isDisjoint(with: rows(first)))
                #expect(link(second, "Older deliveries →") == nil)
                let newer = try #require(link(second, "← Newer"))
                #expect(rows(try await ana.get(newer)) == rows(first))

                // The newest page takes new deliveries as they are recorded.
                #expect(first.html.contains(#"data-live-tail="/hooks/\#(hook.id)/live-deliveries""#))
                #expect(!second.html.contains("data-live-tail"), "an older page stays as it is")
                let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
                let stream = try RawSocket(port: port)
                stream.send("GET /hooks/\(hook.id)/live-deliveries HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: \(ana.cookieHeader)\r\n\r\n")
                let head = Mutex("")
                try await eventually("the live tail opens", timeout: .seconds(30)) {
                    let read = await stream.readAll(within: .milliseconds(300))
                    return head.withLock { text in
                        text += read
                        return text.contains("\r\n\r\n")
                    }
                }
                #expect(head.withLock { $0 }.hasPrefix("HTTP/1.1 200"), "\(head.withLock { $0 })")
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"live"}}"#)
                let newest = try #require(try await eventuallyValue("the new delivery is logged") {
                    try await herald.store.deliveries(DeliveryQuery(hookID: hook.id, limit: 1)).first.flatMap { $0.eventType == "lead.created" && $0.totalAttempts > 0 ? $0 : nil }
                })
                let streamed = Mutex("")
                try await eventually("the stream sends its row") {
                    let read = await stream.readAll(within: .milliseconds(300))
                    return streamed.withLock { text in
                        text += read
                        return text.contains(#"data: <tr data-delivery="\#(newest.id)">"#)
                    }
                }
                // Another team's hook has no tail for this member.
                let cce = try await herald.makeTeam("cce")
                let other = try await herald.makeHook(cce, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                #expect(try await ana.get("/hooks/\(other.id)/live-deliveries").status == 404)
            }
        }
    }

    /// The delivery ids listed on a page, in order.
    func rows(_ page: WebClient.Page) -> [String] {
        page.html.matches(of: /<tr data-delivery="([^"]+)">/).map { String($0.1) }
    }

    /// The target of the link labelled `label`.
    func link(_ page: WebClient.Page, _ label: String) -> String? {
        page.html.matches(of: /<a class="button" href="([^"]+)">([^<]+)<\/a>/).first { $0.2 == label }
            .map { String($0.1).replacingOccurrences(of: "&amp;", with: "&") }
    }
}

extension DeliveryLogWebTests {
    /// A live page holds a feed slot like a changes feed: a person or a team cannot open them without end.
    @Test func livePagesAreBoundedLikeFeeds() async throws {
        try await HeraldHarness.run { configuration in
            configuration.maxFeedsPerToken = 1
        } _: { herald in
            let bde = try await herald.makeTeam("bde")
            let ana = try await WebTests().member(herald, bde.team, "ana@bde.example")
            let hook = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:9/x","events":["lead.*"]}"#)
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            let first = try RawSocket(port: port)
            first.send("GET /hooks/\(hook.id)/live-deliveries HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(ana.cookieHeader)\r\n\r\n")
            // However slow a loaded machine is to answer: wait for the head.
            let head = Mutex("")
            try await eventually("the first live page opens", timeout: .seconds(30)) {
                let read = await first.readAll(within: .milliseconds(300))
                return head.withLock { text in
                    text += read
                    return text.contains("\r\n\r\n")
                }
            }
            #expect(head.withLock { $0 }.hasPrefix("HTTP/1.1 200"))
            let second = try await ana.get("/hooks/\(hook.id)/live-deliveries")
            #expect(second.status == 429 && second.header("Retry-After") == "10")
        }
    }
}
