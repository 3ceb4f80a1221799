import Foundation
import HeraldCore
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// The engine keeps delivering for everyone whatever one hook does: deleted mid-attempt, hanging,
/// or holding a backlog.
@Suite struct EngineFaultTests {
    /// A receiver that answers with bytes a database's text cannot hold (NUL) has its attempt logged,
    /// the NUL shown as U+FFFD, and costs no other team's record its turn.
    @Test(.timeLimit(.minutes(2)))
    func anAnswerWithANulByteIsLoggedAndHoldsNobodyBack() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in request.path == "/nul" ? .init(body: "ok\u{0}binary\u{1}") : .init() }
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let cce = try await herald.makeTeam("cce")
                let nul = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/nul"))","events":["lead.created"]}"#)
                let plain = try await herald.makeHook(cce, #"{"url":"\#(receiver.url("/plain"))","events":["lead.created"]}"#)
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"z"}}"#)
                @Sendable func lastAttempt(_ hook: (id: Int64, secret: String), _ token: String) async throws -> JSONValue? {
                    let list = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: token)
                    guard let id = list.json["deliveries"]?.arrayValue?.first(where: { $0["event"]?.stringValue == "lead.created" })?["id"]?.stringValue
                    else { return nil }
                    let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(id)", token: token)
                    return detail.json["attempt_log"]?.arrayValue?.isEmpty == false ? detail.json : nil
                }
                let logged = try await eventuallyValue("the NUL answer's attempt is logged") { try await lastAttempt(nul, bde.token) }
                #expect(logged?["status"]?.stringValue == "success", "\(logged?.jsonString ?? "")")
                #expect(logged?["response"]?["payload"]?.stringValue == "ok\u{FFFD}binary\u{1}")
                let other = try await eventuallyValue("the other team's attempt is logged") { try await lastAttempt(plain, cce.token) }
                #expect(other?["status"]?.stringValue == "success")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func deletingAHookWithADeliveryInFlightStopsNobodysDelivery() async throws {
        try await TestReceiver.run { receiver in
            // The slow receiver holds each request longer than its hook waits.
            receiver.respond { _, request in request.path == "/slow" ? .init(delay: .seconds(4)) : .init() }
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let slow = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/slow"))","events":["lead.created"],"timeout_seconds":1}"#)
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/fast"))","events":["lead.updated"]}"#)
                try await eventually("both pings") { receiver.received.count == 2 }
                let provider = try await herald.providerToken()
                _ = try await herald.emit(provider, #"{"type":"lead.created","data":{"lead_id":"s"}}"#)
                try await eventually("the slow hook's delivery is in flight") {
                    receiver.received.contains { $0.path == "/slow" && $0.header("X-Herald-Event") == "lead.created" }
                }
                #expect(try await herald.call(.DELETE, "/api/hooks/\(slow.id)", token: bde.token).status == 204)
                // The attempt to the deleted hook ends (timeout) after this: its result has no row to go to.
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"f"}}"#)
                try await eventually("the other hook still gets its delivery") {
                    receiver.received.contains { $0.path == "/fast" && $0.header("X-Herald-Event") == "lead.updated" }
                }
                // The orphaned attempt ends (timeout) and its slot comes back: its result did not jam the store path…
                try await eventually("every slot is free again") { herald.services.engine.attemptsInFlight == 0 }
                // …and later work goes on.
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"g"}}"#)
                try await eventually("a later delivery arrives") {
                    receiver.received.filter { $0.path == "/fast" && $0.header("X-Herald-Event") == "lead.updated" }.count == 2
                }
            }
            // Leaving `HeraldHarness.run` stopped the engine: shutdown finished (the time limit pins it).
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aHangingHooksBacklogDoesNotDelayAHealthyHook() async throws {
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in request.path == "/hang" ? .init(delay: .seconds(3)) : .init() }
            try await HeraldHarness.run { configuration in
                configuration.engine.maxInFlight = 8
                configuration.engine.maxInFlightPerHook = 4
            } _: { herald in
                let slow = try await herald.makeTeam("slow")
                let fine = try await herald.makeTeam("fine")
                _ = try await herald.makeHook(slow, #"{"url":"\#(receiver.url("/hang"))","events":["lead.created"],"timeout_seconds":1}"#)
                _ = try await herald.makeHook(fine, #"{"url":"\#(receiver.url("/ok"))","events":["lead.updated"]}"#)
                let provider = try await herald.providerToken()
                let batch = (0..<200).map { #"{"type":"lead.created","data":{"lead_id":"h\#($0)"}}"# }.joined(separator: ",")
                #expect(try await herald.emit(provider, "[\(batch)]").status == 202)
                try await eventually("the hanging hook is being tried") { receiver.received.filter { $0.path == "/hang" }.count >= 4 }
                _ = try await herald.emit(provider, #"{"type":"lead.updated","data":{"lead_id":"ok"}}"#)
                // Behind 200 deliveries to a hook that takes 1 s each, four at a time, this would take
                // about a minute if the backlog were served first.
                try await eventually("the healthy hook's delivery arrives", timeout: .seconds(10)) {
                    receiver.received.contains { $0.path == "/ok" && $0.header("X-Herald-Event") == "lead.updated" }
                }
                #expect(receiver.received.filter { $0.path == "/hang" }.count < 100)
            }
        }
    }
}

/// Receivers that misbehave on purpose: one trickles its answer a byte a second, one answers
/// 50 MB. Neither holds back another hook, and what is kept of an answer stays capped.
@Suite struct MisbehavingReceiverTests {
    static let hugeSize = 50 * 1024 * 1024

    /// What the misbehaving receiver was asked.
    final class Written: Sendable {
        let trickleStarted = Atomic<Int>(0)
    }

    static func router(_ written: Written) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/trickle") { _, _ -> Response in
            written.trickleStarted.add(1, ordering: .relaxed)
            return Response(status: .ok, body: ResponseBody { writer in
                for _ in 0..<60 {
                    try await writer.write(ByteBuffer(string: "."))
                    try await Task.sleep(for: .seconds(1))
                }
                try await writer.finish(nil)
            })
        }
        router.post("/huge") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody { writer in
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
                for _ in 0..<(hugeSize / chunk.readableBytes) {
                    try await writer.write(chunk)
                }
                try await writer.finish(nil)
            })
        }
        return router
    }

    @Test(.timeLimit(.minutes(2)))
    func aTricklingAndAHugeAnswerAreCutAndHoldNobodyBack() async throws {
        let written = Written()
        var logger = Logger(label: "misbehaving-receiver")
        logger.logLevel = .critical
        try await withRunningApplication(logger: logger) { onPort in
            Application(
                router: Self.router(written), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: logger
            )
        } _: { port in
            try await TestReceiver.run { receiver in
                try await HeraldHarness.run { herald in
                    let bde = try await herald.makeTeam("bde")
                    let events = #""events":["lead.created"]"#
                    let trickle = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(port)/trickle",\#(events),"timeout_seconds":5}"#)
                    let huge = try await herald.makeHook(bde, #"{"url":"http://127.0.0.1:\#(port)/huge",\#(events),"timeout_seconds":20}"#)
                    _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())",\#(events)}"#)
                    try await eventually("the trickling receiver was pinged") { written.trickleStarted.load(ordering: .relaxed) >= 1 }
                    _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"m"}}"#)
                    try await eventually("the well-behaved hook gets its delivery") {
                        receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" }
                    }
                    @Sendable func lastAttempt(_ hook: (id: Int64, secret: String)) async throws -> JSONValue? {
                        let list = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token)
                        guard let id = list.json["deliveries"]?.arrayValue?.first(where: { $0["event"]?.stringValue == "lead.created" })?["id"]?.stringValue
                        else { return nil }
                        let detail = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries/\(id)", token: bde.token)
                        return detail.json["attempt_log"]?.arrayValue?.isEmpty == false ? detail.json : nil
                    }
                    // It came while the trickling answer was still being waited for.
                    #expect(try await lastAttempt(trickle) == nil)
                    let hugeDetail = try await eventuallyValue("the huge answer is recorded") { try await lastAttempt(huge) }
                    let kept = try #require(hugeDetail?["response"]?["payload"]?.stringValue)
                    #expect(hugeDetail?["response"]?["status_code"] == .int(200))
                    #expect(kept.utf8.count < 64 * 1024 + 100 && kept.hasSuffix("(truncated at 65536 bytes)"))
                    let trickleDetail = try await eventuallyValue("the trickling answer is cut at its hook's timeout") { try await lastAttempt(trickle) }
                    let attempt = try #require(trickleDetail?["attempt_log"]?.arrayValue?.last)
                    #expect(attempt["error"]?.stringValue == "timeout", "\(attempt.jsonString)")
                    let duration = try #require(attempt["duration_ms"]?.intValue)
                    #expect(duration >= 5000 && duration < 15_000, "\(duration) ms")
                }
            }
        }
    }
}
