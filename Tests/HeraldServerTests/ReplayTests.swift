import Foundation
import HeraldCore
import HummingbirdBcrypt
import Testing

/// "Replay everything since the outage": a job that re-queues, in order, what a hook matches.
@Suite struct ReplayTests {
    @Test(.timeLimit(.minutes(2)))
    func eventsEmittedWhileAHookWasDisabledAreReplayedInOrderWithProgress() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"],"ordering":"ordered"}"#)
                try await eventually("the ping") { receiver.received.count == 1 }
                let provider = try await herald.providerToken()
                let since = Timestamp.string(Date().addingTimeInterval(-1))
                #expect(try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"active":false}"#).status == 200)
                let batch = (0..<100).map { #"{"type":"lead.created","data":{"lead_id":"d\#($0)"}}"# }.joined(separator: ",")
                #expect(try await herald.emit(provider, "[\(batch)]").status == 202)
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"other"}}"#)
                #expect(try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"active":true}"#).status == 200)
                // Re-enabled, the hook gets new events only: this one arrives, the hundred do not.
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"after"}}"#)
                try await eventually("the event after re-enabling") { receiver.received.contains { $0.bodyString.contains("\"after\"") } }
                #expect(!receiver.received.contains { $0.bodyString.contains("\"d0\"") })

                let started = try await herald.call(.POST, "/api/hooks/\(hook.id)/replay", token: bde.token, body: #"{"since":"\#(since)"}"#)
                #expect(started.status == 202, "\(started.text)")
                let jobURL = try #require(started.header("Location"))
                try await eventually("the job finishes", timeout: .seconds(60)) {
                    try await herald.call(.GET, jobURL, token: bde.token).json["state"]?.stringValue == "done"
                }
                let last = try await herald.call(.GET, jobURL, token: bde.token).json
                #expect(last["percent"] == .int(100))
                #expect(last["total"] == last["done"])
                // 100 replayed, plus "after" again (it is in the range too); not the lead.updated event.
                #expect(last["queued"] == .int(101))
                try await eventually("the hundred arrive", timeout: .seconds(60)) {
                    receiver.received.filter { $0.bodyString.contains("\"d99\"") }.count == 1
                }
                let order = receiver.received.compactMap { try? JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue }.filter { $0.hasPrefix("d") }
                #expect(order == (0..<100).map { "d\($0)" }, "each once, in order")
                // Another team cannot see or cancel the job.
                let cce = try await herald.makeTeam("cce")
                #expect(try await herald.call(.GET, jobURL, token: cce.token).status == 404)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/replay", token: bde.token, body: #"{"since":"yesterday"}"#).status == 422)
            }
        }
    }
}

extension ReplayTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theCommandAndThePageStartAReplayAndFollowItToTheEnd() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                let provider = try await herald.providerToken()
                for n in 0..<3 { _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"c\#(n)"}}"#) }
                try await eventually("three leads") { receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == 3 }
                let result = try await ExternalTools.run(binary.path, [
                    "replay", "--hook", String(hook.id), "--since", "1h", "--url", herald.baseURL, "--token", bde.token,
                ])
                #expect(result.status == 0, "\(result.output)")
                #expect(result.output.contains("100%") && result.output.contains("3 queued") && result.output.contains("done"), "\(result.output)")
                try await eventually("three leads again") { receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == 6 }

                // The page: the dialog starts a job; the page shows its progress and the bar's JSON ends done.
                _ = try await herald.store.createUser(
                    email: "ana@bde.example", passwordHash: Bcrypt.hash(WebTests.password, cost: 4), role: .member, teamID: bde.team.id, now: Date()
                )
                let web = WebClient(baseURL: herald.baseURL)
                _ = try await web.signIn(email: "ana@bde.example", password: WebTests.password)
                let started = try await web.submit(from: "/hooks/\(hook.id)", to: "/hooks/\(hook.id)/replay", [("period_hours", "1"), ("status", "all")])
                #expect(started.status == 303)
                let location = try #require(started.location)
                #expect(location.hasPrefix("/hooks/\(hook.id)?job="))
                let page = try await web.get(location)
                #expect(page.html.contains("<progress"))
                let jobID = String(location.split(separator: "=").last!.prefix { $0.isNumber })
                try await eventually("the bar reaches the end") {
                    let progress = try await web.get("/hooks/\(hook.id)/jobs/\(jobID)")
                    return (try? JSONValue(parsing: progress.html))?["percent"] == .int(100)
                }
            }
        }
    }
}
