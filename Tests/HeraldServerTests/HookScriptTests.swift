import Foundation
import HeraldCore
import HeraldDelivery
import HeraldVerify
import Testing

/// Filters and transforms on any hook, through the API, run by the real sandbox.
@Suite struct HookScriptTests {
    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func aFilterChoosesEventsAndATransformShapesWhatIsSentAndSigned() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let filter = "function (data, previous) { return data.amount > 100 && previous === null; }"
                let transform = "function (event) { return {lead: event.data.lead_id, kind: event.type, big: true}; }"
                let fields = JSONValue.object([
                    ("url", .string(receiver.url())), ("events", .array([.string("lead.created")])), ("filter", .string(filter)), ("transform", .string(transform)),
                ])
                let hook = try await herald.makeHook(bde, fields.jsonString)
                let shown = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token)
                #expect(shown.json["filter"]?.stringValue == filter)
                #expect(shown.json["transform"]?.stringValue == transform)
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"small","amount":50}}"#)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"large","amount":500}}"#)
                try await eventually("the large lead arrives") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                #expect(try JSONValue(parsing: request.body) == JSONValue(parsing: #"{"lead":"large","kind":"lead.created","big":true}"#))
                // The hook's ping (sent at its creation) is Herald's own message, never transformed.
                let ping = try #require(receiver.received.first { $0.header("X-Herald-Event") == "ping" })
                #expect(ping.bodyString.contains("\"zen\"") && !ping.bodyString.contains("\"big\""))
                // The signatures cover the transformed bytes.
                try HubSignature.verify(signature: request.header("X-Hub-Signature-256"), body: request.body, secret: hook.secret)
                try StandardWebhooks.verify(headers: request.lookup, body: request.body, secret: WebhookSecret(hook.secret))
                // The small lead is in the log as skipped, and a redelivery sends it regardless.
                let skipped = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=skipped", token: bde.token)
                let entry = try #require(skipped.json["deliveries"]?.arrayValue?.first)
                #expect(entry["note"]?.stringValue == "filtered out")
                #expect(entry["attempts"] == .int(0))
                let id = try #require(entry["id"]?.stringValue)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/deliveries/\(id)/attempts", token: bde.token).status == 202)
                try await eventually("the redelivered small lead arrives") { receiver.received.contains { $0.bodyString.contains("small") } }
            }
        }
    }

    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func scriptsThatAreNotFunctionsAreRefused() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let bad = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"http://127.0.0.1:9/x","filter":"function (doc) { return "}"#)
            #expect(bad.status == 422)
            #expect(bad.text.contains("SyntaxError"))
            let notFunction = try await herald.call(.POST, "/api/hooks", token: bde.token, body: #"{"url":"http://127.0.0.1:9/x","transform":"42"}"#)
            #expect(notFunction.status == 422)
            #expect(notFunction.json["errors"]?.arrayValue?.first?["field"]?.stringValue?.contains("transform") == true)
        }
    }

    @Test(.enabled(if: ExternalTools.jsWorkerBuilt, "needs the herald-js worker (swift build)"))
    func runawayFiltersCostOneNoteEachAndOtherHooksKeepGettingEvents() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                // Small, so the hog reaches it well within the time limit even on a loaded machine.
                configuration.engine.scriptLimits.memoryMegabytes = 2
                // Room for the hog to reach its memory limit before its time limit on a loaded machine.
                configuration.engine.scriptLimits.timeout = .milliseconds(250)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let filters = [
                    ("loop", "function () { while (true) {} }"),
                    ("throw", "function () { throw new Error('no leads today'); }"),
                    ("yes", #"function () { return "yes"; }"#),
                    ("hog", "function () { var a = new Array(1e9); for (var i = 0; ; i++) { a[i] = i; } }"),
                ]
                var hooks: [String: Int64] = [:]
                for (name, filter) in filters {
                    let fields = JSONValue.object([("url", .string(receiver.url("/" + name))), ("events", .array([.string("lead.created")])), ("filter", .string(filter))])
                    hooks[name] = try await herald.makeHook(bde, fields.jsonString).id
                }
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/good"))","events":["lead.created"]}"#)
                try await eventually("five pings") { receiver.received.count == 5 }
                let provider = try await herald.providerToken()
                for round in 0..<3 {
                    let started = ContinuousClock.now
                    _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"r\#(round)"}}"#)
                    try await eventually("the good hook gets lead r\(round)") {
                        receiver.received.contains { $0.path == "/good" && $0.bodyString.contains("\"r\(round)\"") }
                    }
                    print("round \(round): the good hook's delivery arrived \(ContinuousClock.now - started) after the emit, past four runaway filters")
                }
                let expected = [
                    "loop": "filter timed out", "throw": "filter error: Error: no leads today",
                    "yes": "filter error: returned a string, not a boolean", "hog": "filter error: the script used more than 2 MiB",
                ]
                for (name, note) in expected {
                    let log = try await herald.call(.GET, "/api/hooks/\(hooks[name]!)/deliveries?status=skipped", token: bde.token)
                    let notes = log.json["deliveries"]?.arrayValue?.compactMap { $0["note"]?.stringValue } ?? []
                    #expect(notes == [note, note, note], "\(name)")
                }
                #expect(!receiver.received.contains { ["/loop", "/throw", "/yes", "/hog"].contains($0.path) && $0.header("X-Herald-Event") != "ping" })
            }
        }
    }
}

extension HookScriptTests {
    /// `swift run herald` builds no `herald-js`: the herald program is its own worker.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"))
    func theHeraldProgramRunsScriptsItselfWhenNoWorkerIsBesideIt() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let scripts = ScriptRunner(limits: ScriptLimits(), executable: binary.path)
        defer { scripts.shutdown() }
        let value = try await scripts.call(key: "self", source: "function (d) { return d.n * 2; }", arguments: #"[{"n":21}]"#).get()
        #expect(value.type == "number" && value.json == "42")
        #expect(await scripts.call(key: "loop", source: "function () { while (true) {} }", arguments: "[]") == .failure(.timedOut(.milliseconds(100))))
    }
}
