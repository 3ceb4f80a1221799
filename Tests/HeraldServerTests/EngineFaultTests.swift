import Foundation
import HeraldCore
import Testing

/// The engine keeps delivering for everyone whatever one hook does: deleted mid-attempt, hanging,
/// or holding a backlog.
@Suite struct EngineFaultTests {
    @Test(.timeLimit(.minutes(1)))
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

    @Test(.timeLimit(.minutes(1)))
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
