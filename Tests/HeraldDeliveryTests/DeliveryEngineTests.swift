import Foundation
import HeraldCore
import HeraldDelivery
import HeraldMemory
import HeraldVerify
import Logging
import NIOSSL
import ServiceLifecycle
import Synchronization
import Testing

/// The delivery engine on the in-memory outbox, its attempts answered by a scripted receiver: fan-out,
/// signing, retries, ordering, caps and hook health, without a database or a socket.
@Suite struct DeliveryEngineTests {
    @Test func anEventIsFannedOutSignedSentAndRecorded() async throws {
        let rig = try await EngineRig()
        let hook = try await rig.hook(events: ["lead.*"])
        try await rig.running {
            let event = try await rig.emit("lead.created")
            let delivery = try await rig.finished(event, hook: hook)
            #expect(delivery.status == .succeeded)
            let sent = try #require(rig.receiver.requests.first { $0.eventID == event.id })
            #expect(sent.header("X-Herald-Event") == "lead.created")
            #expect(sent.header("X-Herald-Hook-ID") == "\(hook.id)")
            try HubSignature.verify(signature: sent.header("X-Hub-Signature-256"), body: Array(sent.body.utf8), secret: EngineRig.secret)
            let attempts = try await rig.store.attempts(deliveryID: delivery.id)
            #expect(attempts.map(\.responseStatus) == [200])
            #expect(attempts.first?.requestBody == sent.body)
            // An event of a type the hook does not subscribe to makes no delivery.
            let other = try await rig.emit("invoice.paid")
            let next = try await rig.emit("lead.updated")
            _ = try await rig.finished(next, hook: hook)
            #expect(try await rig.store.deliveries(DeliveryQuery(hookID: hook.id, limit: 100)).allSatisfy { $0.eventID != other.id })
        }
    }

    @Test func aFailedAttemptIsRetriedOnTheScheduleUntilItSucceeds() async throws {
        let rig = try await EngineRig { configuration in
            configuration.retrySchedule = RetrySchedule(delays: [.milliseconds(20), .milliseconds(20), .milliseconds(20)], jitter: 0)
        }
        let hook = try await rig.hook()
        rig.receiver.answer { request, number in request.isPing ? 200 : number < 3 ? 503 : 200 }
        try await rig.running {
            let event = try await rig.emit()
            let delivery = try await rig.finished(event, hook: hook)
            #expect(delivery.status == .succeeded)
            let attempts = try await rig.store.attempts(deliveryID: delivery.id)
            #expect(attempts.map(\.responseStatus) == [503, 503, 200])
            #expect(attempts.map(\.trigger) == [.first, .retry, .retry])
            // Each retry waited for its delay after the attempt before it.
            for (earlier, later) in zip(attempts, attempts.dropFirst()) {
                #expect(later.startedAt.timeIntervalSince(earlier.finishedAt) >= 0.019)
            }
        }
    }

    @Test func retriesEndInFailureWhenTheScheduleIsSpent() async throws {
        let rig = try await EngineRig { configuration in
            configuration.retrySchedule = RetrySchedule(delays: [.milliseconds(10)], jitter: 0)
        }
        let hook = try await rig.hook()
        rig.receiver.answer { request, _ in request.isPing ? 200 : 500 }
        try await rig.running {
            let event = try await rig.emit()
            let delivery = try await rig.finished(event, hook: hook)
            #expect(delivery.status == .failed)
            #expect(try await rig.store.attempts(deliveryID: delivery.id).map(\.responseStatus) == [500, 500])
            // Its retries spent, the delivery is announced to the admins (herald.delivery.exhausted).
            let announced = try await rig.eventually { try await rig.store.events(since: event.seq, limit: 100).first { $0.type == OperationalEvents.deliveryExhausted } }
            #expect(announced.data.contains(delivery.id))
        }
    }

    @Test func anOrderedHookSendsOneDeliveryAtATimeInEventOrder() async throws {
        let rig = try await EngineRig { configuration in
            configuration.retrySchedule = RetrySchedule(delays: [.milliseconds(10)], jitter: 0)
        }
        let hook = try await rig.hook(ordering: .ordered)
        let firstFailed = Atomic(false)
        rig.receiver.answer { request, _ in
            // The first event fails once: everything after it waits for its retry.
            if !request.isPing && !firstFailed.exchange(true, ordering: .relaxed) { return 503 }
            return 200
        }
        try await rig.running {
            var events: [Event] = []
            for number in 1...6 { events.append(try await rig.emit(data: #"{"n":\#(number)}"#)) }
            for event in events { _ = try await rig.finished(event, hook: hook) }
            let sent = rig.receiver.requests.filter { !$0.isPing }
            #expect(sent.map(\.eventID) == [events[0].id] + events.map(\.id))
            #expect(rig.receiver.mostInFlight(hookID: hook.id) == 1)
        }
    }

    @Test func aHooksCapHoldsWhileItsBacklogDrains() async throws {
        let rig = try await EngineRig()
        let hook = try await rig.hook(maxInFlight: 2)
        let other = try await rig.hook()
        rig.receiver.answer { _, _ in
            try? await Task.sleep(for: .milliseconds(5))
            return 200
        }
        try await rig.running {
            var events: [Event] = []
            for _ in 1...20 { events.append(try await rig.emit()) }
            for event in events {
                #expect(try await rig.finished(event, hook: hook).status == .succeeded)
                #expect(try await rig.finished(event, hook: other).status == .succeeded)
            }
            #expect(rig.receiver.mostInFlight(hookID: hook.id) == 2)
            #expect(rig.receiver.mostInFlight(hookID: other.id) > 2)
        }
    }

    @Test func a410DisablesTheHookAndItsNextEventsWait() async throws {
        let rig = try await EngineRig()
        let gone = try await rig.hook()
        let live = try await rig.hook()
        rig.receiver.answer { request, _ in request.hookID == gone.id && !request.isPing ? 410 : 200 }
        try await rig.running {
            // The hook's ping (answered 200) recorded first: otherwise it could be recorded after
            // the 410 and be the last response the hook shows.
            _ = try await rig.eventually { try await rig.store.hook(id: gone.id).flatMap { $0.lastResponse.code == 200 ? $0 : nil } }
            let first = try await rig.emit()
            #expect(try await rig.finished(first, hook: gone).status == .failed)
            let disabled = try #require(try await rig.store.hook(id: gone.id))
            #expect(!disabled.active)
            #expect(disabled.disabledReason?.contains("410") == true)
            #expect(disabled.lastResponse.code == 410)
            // The next event goes to the live hook only: once it is delivered there, fan-out is past
            // it and the disabled hook got no delivery of it.
            let second = try await rig.emit()
            _ = try await rig.finished(second, hook: live)
            #expect(try await rig.store.deliveries(DeliveryQuery(hookID: gone.id, limit: 100)).allSatisfy { $0.eventID != second.id })
        }
    }

    @Test func aPingIsSentOnceAndNeverRetried() async throws {
        let rig = try await EngineRig { configuration in
            configuration.retrySchedule = RetrySchedule(delays: [.milliseconds(5)], jitter: 0)
        }
        rig.receiver.answer { _, _ in 500 }
        let hook = try await rig.hook()
        try await rig.running {
            let pingID = try await rig.store.ping(hookID: hook.id, now: Date())
            let ping = try await rig.eventually { try await rig.store.delivery(id: pingID).flatMap { $0.lifecycle.status == .failed ? $0 : nil } }
            #expect(try await rig.store.attempts(deliveryID: ping.id).map(\.trigger) == [.ping])
        }
    }
}

/// A store, an engine on it and a scripted receiver; ``running(_:)`` runs the engine in a service group
/// for the body and stops it gracefully after.
struct EngineRig {
    static let secret = "it-is-a-secret"
    let store = MemoryStore()
    let receiver = ScriptedReceiver()
    let secretBox = SecretBox.random()
    let engine: DeliveryEngine
    let team: Team

    init(_ configure: (inout DeliveryEngineConfiguration) -> Void = { _ in }) async throws {
        var configuration = DeliveryEngineConfiguration()
        configuration.idleInterval = .milliseconds(200)
        configure(&configuration)
        var logger = Logger(label: "engine-test")
        logger.logLevel = .critical
        engine = DeliveryEngine(store: store, secretBox: secretBox, configuration: configuration, logger: logger, transport: receiver)
        team = try await store.createTeam(name: "BDE", slug: "bde", now: Date())
    }

    func hook(events: [String] = ["*"], ordering: Ordering = .none, maxInFlight: Int? = nil) async throws -> Hook {
        var settings = HookSettings(url: "https://receiver.example/\(UUID().uuidString)")
        settings.events = events
        settings.ordering = ordering
        settings.maxInFlight = maxInFlight
        return try await store.createHook(teamID: team.id, settings: settings, encryptedSecret: try secretBox.seal(Self.secret), now: Date()).hook
    }

    func emit(_ type: String = "lead.created", data: String = #"{"lead_id":"l1"}"#) async throws -> Event {
        try await store.append([NewEvent(type: type, data: data, channels: [team.slug])])[0].event
    }

    /// The hook's delivery of `event` once it has finished (succeeded or failed for good).
    func finished(_ event: Event, hook: Hook) async throws -> Delivery {
        try await eventually {
            var query = DeliveryQuery(hookID: hook.id, limit: 10)
            query.eventSeqs = [event.seq]
            return try await store.deliveries(query).first { [.succeeded, .failed].contains($0.lifecycle.status) }
        }
    }

    /// What `read` finds, once it finds something (at most 90 seconds: a loaded machine shares its
    /// two cooperative threads with every other suite, and under the full run these tests have taken
    /// 40 s; alone, each takes milliseconds).
    func eventually<T>(_ read: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            if let found = try await read() { return found }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw RigTimeout()
    }

    func running(_ body: () async throws -> Void) async throws {
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: engine)], gracefulShutdownSignals: [], logger: Logger(label: "engine-test"))
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

struct RigTimeout: Error {}

extension Delivery {
    var status: DeliveryStatus { lifecycle.status }
}

/// Answers attempts as the test scripts, and keeps every request it was sent.
final class ScriptedReceiver: DeliveryTransport {
    struct Request: Sendable {
        var hookID: Int64
        var eventID: String
        var eventType: String
        var headers: [HTTPHeaderField]
        var body: String
        var isPing: Bool { eventType == PingPayload.eventType }
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    private struct State {
        var requests: [Request] = []
        /// Per delivery, attempts seen.
        var attempts: [String: Int] = [:]
        var inFlight: [Int64: Int] = [:]
        var mostInFlight: [Int64: Int] = [:]
        var answer: @Sendable (Request, Int) async -> Int = { _, _ in 200 }
    }
    private let state = Mutex(State())

    /// How to answer: a status for the request and the attempt's number (from 1) for its delivery.
    func answer(_ answer: @escaping @Sendable (Request, Int) async -> Int) {
        state.withLock { $0.answer = answer }
    }

    var requests: [Request] { state.withLock { $0.requests } }

    func mostInFlight(hookID: Int64) -> Int { state.withLock { $0.mostInFlight[hookID] ?? 0 } }

    func send(_ delivery: ClaimedDelivery, request: DeliveryRequest, tls: TLSConfiguration?, startedAt: Date) async -> SentAttempt {
        let seen = Request(
            hookID: delivery.hook.id, eventID: delivery.event.id, eventType: delivery.event.type, headers: request.headers, body: request.body
        )
        let (number, answer) = state.withLock { state in
            state.requests.append(seen)
            state.attempts[delivery.deliveryID, default: 0] += 1
            state.inFlight[delivery.hook.id, default: 0] += 1
            state.mostInFlight[delivery.hook.id] = max(state.mostInFlight[delivery.hook.id] ?? 0, state.inFlight[delivery.hook.id]!)
            return (state.attempts[delivery.deliveryID]!, state.answer)
        }
        let status = await answer(seen, number)
        state.withLock { $0.inFlight[delivery.hook.id, default: 1] -= 1 }
        var attempt = SentAttempt.logRow(of: delivery, request: request, startedAt: startedAt)
        attempt.durationMs = max(0, Int(Date().timeIntervalSince(startedAt) * 1000))
        attempt.responseStatus = status
        attempt.responseBody = "status \(status)"
        return SentAttempt(attempt: attempt, outcome: .response(status: status, retryAfter: nil))
    }
}
