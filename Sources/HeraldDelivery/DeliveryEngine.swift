import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldVerify
import Logging
import Metrics
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The delivery engine, a `Service`: fans events out into deliveries, claims due deliveries,
/// signs and sends them, records every attempt and applies the retry policy.
///
/// Three loops run under one task group:
/// - **fan-out** turns newly appended events into deliveries (durably, off the ingest path);
/// - **dispatch** claims due deliveries up to the global and per-hook caps and sends each in a child task;
/// - **record** writes finished attempts in batches (group commit) and frees their slots.
///
/// On start, deliveries left in flight by a previous process are put back in the queue.
public final class DeliveryEngine: Service, Sendable {
    let store: any HeraldStore
    let secretBox: SecretBox
    let configuration: DeliveryEngineConfiguration
    let logger: Logger
    let sender: DeliverySender
    private let clients: [HTTPClient]

    private let fanOutBell = Doorbell()
    private let dispatchBell = Doorbell()
    private let recordBell = Doorbell()
    private let state = Mutex(State())

    private struct State {
        var inFlightByHook: [Int64: Int] = [:]
        var inFlight = 0
        var finished: [(ClaimedDelivery, DeliverySender.Sent)] = []
        var dispatching = true
    }

    private let attemptsCounter = Counter(label: "herald_delivery_attempts_total")
    private let successCounter = Counter(label: "herald_deliveries_succeeded_total")
    private let failureCounter = Counter(label: "herald_delivery_attempts_failed_total")
    private let durationTimer = Timer(label: "herald_delivery_attempt_duration_seconds")

    public init(store: any HeraldStore, secretBox: SecretBox, configuration: DeliveryEngineConfiguration, logger: Logger) {
        self.store = store
        self.secretBox = secretBox
        self.configuration = configuration
        self.logger = logger
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.decompression = .disabled
        clientConfiguration.timeout.connect = .seconds(10)
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, configuration.maxInFlight)
        clientConfiguration.httpVersion = .http1Only
        // A refused connection is one failed attempt, retried on the hook's schedule, not in a loop
        // inside the client until the attempt's deadline.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        var insecureConfiguration = clientConfiguration
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        insecureConfiguration.tlsConfiguration = tls
        let insecureClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: insecureConfiguration)
        clients = [client, insecureClient]
        sender = DeliverySender(
            client: client, insecureClient: insecureClient, targetGuard: TargetGuard(allowPrivateTargets: configuration.allowPrivateTargets),
            responseBodyLimit: configuration.responseBodyLimit
        )
    }

    /// Call after events were appended: fan-out runs soon.
    public func eventsAppended() { fanOutBell.ring() }

    /// Call after deliveries were queued by hand (ping, redelivery): dispatch runs soon.
    public func deliveriesQueued() { dispatchBell.ring() }

    public func run() async throws {
        let recovered = try await store.recoverInFlight(now: Date())
        if recovered > 0 { logger.notice("resumed deliveries interrupted by the previous stop", metadata: ["count": "\(recovered)"]) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.fanOutLoop() }
                group.addTask { await self.recordLoop() }
                group.addTask { await self.dispatchLoop() }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.dispatching = false }
            self.fanOutBell.ring()
            self.dispatchBell.ring()
            self.recordBell.ring()
        }
        for client in clients { try? await client.shutdown() }
    }

    private var isDispatching: Bool { !Task.isCancelled && state.withLock { $0.dispatching } }

    // MARK: fan-out

    private func fanOutLoop() async {
        while isDispatching {
            do {
                let result = try await store.fanOut(limit: configuration.fanOutBatch, now: Date())
                if result.deliveries > 0 { dispatchBell.ring() }
                if result.events == configuration.fanOutBatch { continue }
            } catch {
                logger.error("fan-out failed", metadata: ["error": "\(error)"])
            }
            await fanOutBell.wait(timeout: configuration.idleInterval)
        }
    }

    // MARK: dispatch

    private func dispatchLoop() async {
        await withDiscardingTaskGroup { group in
            while isDispatching {
                let (capacity, inFlight) = state.withLock { (configuration.maxInFlight - $0.inFlight, $0.inFlightByHook) }
                var claimed: [ClaimedDelivery] = []
                if capacity > 0 {
                    do {
                        claimed = try await store.claimDue(
                            now: Date(), limit: capacity, perHookLimit: configuration.maxInFlightPerHook, inFlight: inFlight
                        )
                    } catch {
                        logger.error("claiming deliveries failed", metadata: ["error": "\(error)"])
                    }
                }
                for delivery in claimed {
                    state.withLock {
                        $0.inFlight += 1
                        $0.inFlightByHook[delivery.hook.id, default: 0] += 1
                    }
                    group.addTask { await self.attempt(delivery) }
                }
                if !claimed.isEmpty && claimed.count == capacity { await dispatchBell.wait(timeout: configuration.idleInterval); continue }
                if !claimed.isEmpty { continue }
                await dispatchBell.wait(timeout: await idleWait())
            }
        }
        // Every child has finished: let the recorder drain and stop.
        recordBell.ring()
    }

    /// How long to sleep when nothing is due: until the next scheduled attempt, at most `idleInterval`.
    private func idleWait() async -> Duration {
        guard let next = try? await store.nextDueDate() else { return configuration.idleInterval }
        let seconds = next.timeIntervalSinceNow
        if seconds <= 0 { return .milliseconds(1) }
        return min(configuration.idleInterval, .milliseconds(Int64(seconds * 1000) + 1))
    }

    private func attempt(_ delivery: ClaimedDelivery) async {
        let now = Date()
        let sent: DeliverySender.Sent
        do {
            let secret = WebhookSecret(try secretBox.open(delivery.hook.encryptedSecret))
            let request = DeliveryRequest(delivery: delivery, secrets: [secret], timestamp: Int64(now.timeIntervalSince1970))
            sent = await sender.send(delivery, request: request, startedAt: now)
        } catch {
            let attempt = Attempt(
                deliveryID: delivery.deliveryID, number: delivery.previousAttempts + 1, trigger: delivery.trigger, startedAt: now, durationMs: 0,
                url: delivery.hook.url, requestHeaders: [], requestBody: "", responseStatus: nil, responseHeaders: [], responseBody: nil,
                errorClass: .other, errorMessage: "the hook's secret cannot be decrypted with this master key"
            )
            sent = DeliverySender.Sent(attempt: attempt, outcome: .error(.other, message: attempt.errorMessage!))
        }
        attemptsCounter.increment()
        durationTimer.recordMilliseconds(sent.attempt.durationMs)
        state.withLock { $0.finished.append((delivery, sent)) }
        recordBell.ring()
    }

    // MARK: record

    private func recordLoop() async {
        while true {
            let (batch, done) = state.withLock { state -> ([(ClaimedDelivery, DeliverySender.Sent)], Bool) in
                let batch = state.finished
                state.finished.removeAll(keepingCapacity: true)
                return (batch, (!state.dispatching || Task.isCancelled) && state.inFlight == 0)
            }
            if batch.isEmpty {
                if done { return }
                await recordBell.wait(timeout: configuration.idleInterval)
                continue
            }
            await record(batch)
        }
    }

    private func record(_ batch: [(ClaimedDelivery, DeliverySender.Sent)]) async {
        let now = Date()
        var results: [AttemptResult] = []
        results.reserveCapacity(batch.count)
        for (delivery, sent) in batch {
            var lifecycle = delivery.lifecycle
            do {
                let decision = try lifecycle.finish(sent.outcome, now: now, schedule: configuration.retrySchedule, jitterUnit: Double.random(in: 0..<1))
                results.append(AttemptResult(attempt: sent.attempt, hookID: delivery.hook.id, lifecycle: lifecycle, decision: decision, succeeded: sent.outcome.isSuccess))
                if sent.outcome.isSuccess { successCounter.increment() } else { failureCounter.increment() }
            } catch {
                logger.error("delivery state machine refused an outcome", metadata: ["delivery": "\(delivery.deliveryID)", "error": "\(error)"])
            }
        }
        // Retry until the batch is durable: an attempt that happened must be recorded.
        var delay: Duration = .milliseconds(50)
        while true {
            do {
                try await store.record(results, health: configuration.hookHealth)
                break
            } catch {
                logger.error("recording attempts failed; retrying", metadata: ["error": "\(error)", "count": "\(results.count)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        state.withLock { state in
            for (delivery, _) in batch {
                state.inFlight -= 1
                let hookID = delivery.hook.id
                let remaining = (state.inFlightByHook[hookID] ?? 1) - 1
                state.inFlightByHook[hookID] = remaining > 0 ? remaining : nil
            }
        }
        dispatchBell.ring()
    }
}
