import Foundation
import HeraldCore
import Testing

/// Herald's own events about its hooks — failing, disabled, retries spent — reach the hooks that
/// name them, on the hook's team channel and the admin channel, and never cause themselves.
@Suite struct OperationalEventsTests {
    @Test(.timeLimit(.minutes(2)))
    func failingDisabledAndExhaustedHooksAreEventsThatNeverLoop() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in
                switch request.path {
                case "/crm": .init(status: 500, body: "down")
                // The pager takes its ping, then fails everything it is sent.
                case "/pager": request.header("X-Herald-Event") == "ping" ? .init() : .init(status: 500, body: "down")
                case "/gone": .init(status: 410, body: "gone")
                default: .init()
                }
            }
            try await HeraldHarness.run { configuration in
                // The pager fails on purpose and must go on being sent events: no circuit breaker.
                configuration.engine.hookHealth.breaker.failures = 0
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let ops = try await herald.makeTeam("ops")
                let cce = try await herald.makeTeam("cce")
                #expect(try await herald.call(.PUT, "/api/teams/ops/channels", token: herald.adminToken, body: #"{"channels":["herald-admin"]}"#).status == 200)
                // The pager hears about every team's hooks, and fails itself; made first, it hears of
                // the others from their creation on.
                let pager = try await herald.makeHook(ops, #"{"url":"\#(receiver.url("/pager"))","events":["herald.*"]}"#)
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/bde-ops"))","events":["herald.hook.failing"]}"#)
                _ = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/everything"))","events":["*"]}"#)
                let crm = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/crm"))","events":["lead.*"]}"#)
                let gone = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/gone"))","events":["lead.*"]}"#)
                let provider = try await herald.providerToken()
                #expect(try await herald.emit(provider, #"{"type":"herald.hook.failing","data":{}}"#).status == 422)
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"one"}}"#)

                /// The events a receiver got, each once (the pager fails, so it gets its retries too).
                @Sendable func bodies(_ path: String) -> [JSONValue] {
                    var seen = Set<String>()
                    return receiver.received.filter { $0.path == path }.compactMap { try? JSONValue(parsing: $0.body) }
                        .filter { seen.insert($0["id"]?.stringValue ?? "").inserted }
                }
                @Sendable func types(_ path: String) -> [String] { bodies(path).compactMap { $0["type"]?.stringValue }.filter { $0 != "ping" } }
                // crm: failing from its ping on; its lead's retries spent after three attempts. gone:
                // disabled by its ping's 410.
                try await eventually("the pager hears crm failing, exhausted, and gone disabled") {
                    let heard = bodies("/pager")
                    return heard.contains { $0["type"] == .string("herald.delivery.exhausted") && $0["data"]?["hook_id"]?.intValue == crm.id }
                        && heard.contains { $0["type"] == .string("herald.hook.disabled") && $0["data"]?["hook_id"]?.intValue == gone.id }
                }
                let failing = bodies("/pager").filter { $0["type"] == .string("herald.hook.failing") && $0["data"]?["hook_id"]?.intValue == crm.id }
                #expect(failing.count == 1, "once per run of failures")
                #expect(failing.first?["data"]?["last_status_code"] == .int(500) && failing.first?["data"]?["team"] == .string("bde"))
                let exhausted = try #require(bodies("/pager").first { $0["type"] == .string("herald.delivery.exhausted") })
                #expect(exhausted["data"]?["event_type"] == .string("lead.created") && exhausted["data"]?["attempts"] == .int(3))
                #expect(bodies("/pager").first { $0["type"] == .string("herald.hook.disabled") }?["data"]?["reason"]?.stringValue?.contains("410") == true)
                // The team's own hook hears of its team's hooks; `*` elsewhere hears none of it.
                #expect(types("/bde-ops").contains("herald.hook.failing"))
                #expect(types("/everything") == ["lead.created"])

                // The pager's own failures cause no event: once a later event about crm has reached
                // the pager, every earlier one was decided, and none is about the pager.
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"two"}}"#)
                try await eventually("the second lead's retries are spent and the pager hears it", timeout: .seconds(30)) {
                    bodies("/pager").filter { $0["type"] == .string("herald.delivery.exhausted") && $0["data"]?["hook_id"]?.intValue == crm.id }.count >= 2
                }
                let log = try await herald.call(.GET, "/api/events?since=0&limit=1000", token: herald.adminToken).json["results"]?.arrayValue ?? []
                let operational = log.filter { $0["type"]?.stringValue?.hasPrefix("herald.") == true }
                #expect(!operational.isEmpty)
                #expect(!operational.contains { $0["data"]?["hook_id"]?.intValue == pager.id }, "\(operational)")
                #expect(operational.allSatisfy { $0["channels"]?.arrayValue?.contains(.string("herald-admin")) == true })
            }
        }
    }
}
