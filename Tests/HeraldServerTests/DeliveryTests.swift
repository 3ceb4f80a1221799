import Foundation
import HeraldCore
import HeraldVerify
import Testing

/// End to end: a real Herald delivers to a real receiver on 127.0.0.1.
@Suite struct DeliveryTests {
    let lead = #"{"type":"lead.created","data":{"lead_id":"l1","name":"Ana","email":"ana@example.org"}}"#

    @Test func theReceiverGetsTheProvidersNumbersAsTheyWereWritten() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                let data = #"{"lead_id":"n1","amount":1.0,"rate":2.50,"id":12345678901234567890123,"tiny":1e-7}"#
                let accepted = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":\#(data)}"#)
                #expect(accepted.status == 202, "\(accepted.text)")
                try await eventually("the lead arrives") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                #expect(request.bodyString.contains(#""data":\#(data)"#), "\(request.bodyString)")
                let feed = try await herald.call(.GET, "/api/events?since=0", token: try await herald.providerToken())
                #expect(feed.text.contains(#""data":\#(data)"#), "\(feed.text)")
            }
        }
    }

    @Test func aMatchingHookReceivesASignedDeliveryBothRecipesVerify() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                #expect(hook.secret.hasPrefix("whsec_"))
                let accepted = try await herald.emit(try await herald.providerToken(), lead)
                #expect(accepted.status == 202)
                let eventID = try #require(accepted.json["id"]?.stringValue)
                try await eventually("the lead arrives") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                let secret = WebhookSecret(hook.secret)
                try HubSignature.verify(signature: request.header("X-Hub-Signature-256"), body: request.body, secret: secret.string)
                try StandardWebhooks.verify(headers: request.lookup, body: request.body, secret: secret)
                #expect(request.header("Content-Type") == "application/json")
                #expect(request.header("User-Agent") == "Herald-Hookshot/\(HeraldVersion.current)", "the version herald --version prints")
                #expect(request.header("X-Herald-Hook-ID") == String(hook.id))
                #expect(request.header("X-Herald-Delivery") == request.header("webhook-id"))
                let payload = try JSONValue(parsing: request.body)
                #expect(payload["id"]?.stringValue == eventID)
                #expect(payload["type"]?.stringValue == "lead.created")
                #expect(payload["data"]?["email"]?.stringValue == "ana@example.org")
                // The delivery log shows it as a success with the request and the response.
                try await eventually("the log shows success") {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries?status=success", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.contains { $0["event"]?.stringValue == "lead.created" } == true
                }
                let deliveryID = try #require(request.header("X-Herald-Delivery"))
                let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", token: bde.token)
                #expect(detail.status == 200)
                #expect(detail.json["request"]?["payload"]?["id"]?.stringValue == eventID)
                #expect(detail.json["request"]?["headers"]?["X-Hub-Signature-256"]?.stringValue == request.header("X-Hub-Signature-256"))
                #expect(detail.json["response"]?["status_code"] == .int(200))
                #expect(detail.json["response"]?["payload"]?.stringValue == "ok")
                let saved = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token)
                #expect(saved.json["last_response"]?["status"]?.stringValue == "active")
                #expect(saved.json["last_response"]?["code"] == .int(200))
            }
        }
    }

    @Test func aHookIsPingedWhenCreatedAndOnDemand() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())"}"#)
                try await eventually("the creation ping") { receiver.received.count == 1 }
                let ping = receiver.received[0]
                #expect(ping.header("X-Herald-Event") == "ping")
                let payload = try JSONValue(parsing: ping.body)
                #expect(payload["data"]?["hook_id"] == .int(hook.id))
                #expect(payload["data"]?["zen"]?.stringValue?.isEmpty == false)
                #expect(try await herald.call(.POST, "/api/hooks/\(hook.id)/pings", token: bde.token).status == 204)
                try await eventually("the second ping") { receiver.received.count == 2 }
                #expect(receiver.received[1].header("X-Herald-Event") == "ping")
                #expect(receiver.received[1].header("X-Herald-Delivery") != ping.header("X-Herald-Delivery"))
            }
        }
    }

    @Test func aServerErrorIsRetriedUntilItSucceeds() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"]}"#)
                try await eventually("ping") { receiver.received.count == 1 }
                receiver.respond { history, _ in history.count == 2 ? .init(status: 500, body: "boom") : .init() }
                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the retry") { receiver.received.count == 3 }
                let ids = receiver.received.dropFirst().map { $0.header("X-Herald-Delivery") }
                #expect(ids[0] == ids[1], "a retry keeps the delivery id")
                let deliveryID = try #require(ids[0])
                try await eventually("the log shows success after two attempts") {
                    let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", token: bde.token)
                    return detail.json["status"]?.stringValue == "success" && detail.json["attempts"] == .int(2)
                }
                let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", token: bde.token)
                let log = try #require(detail.json["attempt_log"]?.arrayValue)
                #expect(log.map { $0["status_code"] } == [.int(500), .int(200)])
                #expect(log.map { $0["trigger"]?.stringValue } == ["first", "retry"])
            }
        }
    }

    @Test func aSlowReceiverTimesOutAndTheAttemptSaysSo() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                receiver.respond { _, _ in .init(delay: .seconds(3)) }
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","timeout_seconds":1}"#)
                try await eventually("the ping attempt is recorded as a timeout") {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                    guard let id = log.json["deliveries"]?.arrayValue?.first?["id"]?.stringValue else { return false }
                    let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(id)", token: bde.token)
                    return detail.json["attempt_log"]?.arrayValue?.first?["error"]?.stringValue == "timeout"
                }
                let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                #expect(log.json["deliveries"]?.arrayValue?.first?["status"]?.stringValue == "failure")
                let duration = log.json["deliveries"]?.arrayValue?.first?["duration_ms"]?.intValue ?? 0
                #expect(duration >= 900 && duration < 2900)
            }
        }
    }

    @Test func goneDisablesTheHook() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                receiver.respond { _, _ in .init(status: 410, body: "gone") }
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())"}"#)
                try await eventually("the hook is disabled") {
                    try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json["active"] == .bool(false)
                }
                let saved = try await herald.call(.GET, "/api/hooks/\(hook.id)", token: bde.token).json
                #expect(saved["disabled_reason"]?.stringValue?.contains("410") == true)
                // Emitted while the hook is disabled: the lead emitted after re-enabling arrives alone (below).
                _ = try await herald.emit(try await herald.providerToken(), lead)
                // Re-enabling delivers what waited, and clears the reason.
                receiver.respond { _, _ in .init() }
                let patched = try await herald.call(.PATCH, "/api/hooks/\(hook.id)", token: bde.token, body: #"{"active":true}"#)
                #expect(patched.json["disabled_reason"] == .null)
                // Events emitted while a hook is disabled are not queued for it (as on GitHub); new ones are.
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"after"}}"#)
                try await eventually("the lead emitted after re-enabling is delivered") {
                    receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" }
                }
                let leads = receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }
                #expect(leads.map { try! JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue } == ["after"])
            }
        }
    }

    @Test func aRedirectIsAFailureAndIsNotFollowed() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                receiver.respond { _, request in
                    request.path == "/hook" ? .init(status: 302, headers: ["Location": receiver.url("/elsewhere")]) : .init()
                }
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())"}"#)
                try await eventually("the ping fails") {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                    return log.json["deliveries"]?.arrayValue?.first?["status"]?.stringValue == "failure"
                }
                let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                #expect(log.json["deliveries"]?.arrayValue?.first?["status_code"] == .int(302))
                #expect(!receiver.received.contains { $0.path == "/elsewhere" })
            }
        }
    }

    @Test func redeliveryKeepsTheDeliveryIDAndIsMarked() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())"}"#)
                try await eventually("ping") { receiver.received.count == 1 }
                let deliveryID = try #require(receiver.received[0].header("X-Herald-Delivery"))
                try await eventually("the ping is recorded") {
                    try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", token: bde.token).json["status"]?.stringValue == "success"
                }
                let response = try await herald.call(.POST, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)/attempts", token: bde.token)
                #expect(response.status == 202)
                try await eventually("the redelivery") { receiver.received.count == 2 }
                let again = receiver.received[1]
                #expect(again.header("X-Herald-Delivery") == deliveryID)
                #expect(again.header("webhook-id") == deliveryID)
                #expect(again.header("X-Herald-Redelivery") == "true")
                #expect(try StandardWebhooks.verify(headers: again.lookup, body: again.body, secret: WebhookSecret(hook.secret)) == ())
                try await eventually("the log marks it") {
                    let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(deliveryID)", token: bde.token).json
                    return detail["redelivery"] == .bool(true) && detail["attempts"] == .int(2)
                }
            }
        }
    }

    @Test func formHooksGetTheURLEncodedPayloadSignedAsSent() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","content_type":"form","events":["lead.created"]}"#)
                _ = try await herald.emit(try await herald.providerToken(), lead)
                try await eventually("the lead") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                let request = try #require(receiver.received.first { $0.header("X-Herald-Event") == "lead.created" })
                #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
                let body = request.bodyString
                #expect(body.hasPrefix("payload="))
                let decoded = try #require(String(body.dropFirst(8)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding)
                #expect(try JSONValue(parsing: decoded)["data"]?["name"]?.stringValue == "Ana")
                try HubSignature.verify(signature: request.header("X-Hub-Signature-256"), body: request.body, secret: hook.secret)
                try StandardWebhooks.verify(headers: request.lookup, body: request.body, secret: WebhookSecret(hook.secret))
            }
        }
    }

    @Test func anOrderedHookGetsEventsInSeqOrderDespiteRetries() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                // Every lead fails on its first try, so each must be retried before the next is sent.
                receiver.respond { history, request in
                    let seen = history.filter { $0.header("X-Herald-Delivery") == request.header("X-Herald-Delivery") }.count
                    return request.header("X-Herald-Event") == "ping" || seen > 1 ? .init() : .init(status: 503)
                }
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.created"],"ordering":"ordered"}"#)
                let provider = try await herald.providerToken()
                var ids: [String] = []
                for index in 0..<5 {
                    let body = #"{"type":"lead.created","data":{"lead_id":"l\#(index)"}}"#
                    ids.append(try #require(try await herald.emit(provider, body).json["id"]?.stringValue))
                }
                try await eventually("all five leads succeed", timeout: .seconds(30)) {
                    receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }.count == 10
                }
                let order = receiver.received.filter { $0.header("X-Herald-Event") == "lead.created" }
                    .map { try! JSONValue(parsing: $0.body)["id"]!.stringValue! }
                // Each event twice in a row (fail, then retry), in emission order.
                #expect(order == ids.flatMap { [$0, $0] })
            }
        }
    }

    @Test func eventsOnAChannelReachOnlyHooksOnIt() async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/bde"))","events":["lead.created"],"channels":["bde"]}"#)
                _ = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/cce"))","events":["lead.created"],"channels":["cce"]}"#)
                let body = #"{"type":"lead.created","data":{"lead_id":"l1"},"channels":["bde"]}"#
                _ = try await herald.emit(try await herald.providerToken(), body)
                try await eventually("bde's lead") { receiver.received.contains { $0.path == "/bde" && $0.header("X-Herald-Event") == "lead.created" } }
                // A later lead for cce arrives; had the first been routed to cce too, it would have come first.
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"l2"},"channels":["cce"]}"#)
                try await eventually("cce's lead") { receiver.received.contains { $0.path == "/cce" && $0.header("X-Herald-Event") == "lead.created" } }
                let cceLeads = receiver.received.filter { $0.path == "/cce" && $0.header("X-Herald-Event") == "lead.created" }
                #expect(cceLeads.map { try! JSONValue(parsing: $0.body)["data"]?["lead_id"]?.stringValue } == ["l2"])
            }
        }
    }
}
