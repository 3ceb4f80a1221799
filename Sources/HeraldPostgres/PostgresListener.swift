import HeraldCore
import Logging
import PostgresNIO
import Synchronization

/// One connection that `LISTEN`s on the schema's channel and hands each notification to every
/// subscriber; it reconnects after a failure (a signal missed meanwhile costs at most the engine's
/// idle interval: every loop also wakes on its own).
final class PostgresListener: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var stopped = false
        /// Whether `LISTEN` is in place, and who waits for it.
        var listening = false
        var ready: [ObjectIdentifier: Rendezvous<Void>] = [:]
    }

    private let state = Mutex(State())
    /// This node's subscribers: notifications from every node, and this node's own commits at once.
    let hub = SignalHub()
    private let channel: String
    private let logger: Logger
    private let configuration: PostgresClient.Configuration

    init(configuration: PostgresClient.Configuration, channel: String, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
    }

    /// A stream of every signal from the moment `LISTEN` is in place (this waits for it, at most
    /// five seconds: a database that cannot be reached costs the engine its idle interval).
    func subscribe() async -> AsyncStream<StoreSignal> {
        // Started once, however many subscribe at the same moment.
        let (listening, stopped) = state.withLock { state -> (Bool, Bool) in
            guard !state.stopped else { return (true, true) }
            if state.task == nil { state.task = Task { await self.listen() } }
            return (state.listening, false)
        }
        guard !stopped else { return AsyncStream { $0.finish() } }
        let stream = hub.subscribe()
        if !listening {
            let ready = Rendezvous<Void>()
            let waits = state.withLock { state -> Bool in
                if state.listening || state.stopped { return false }
                state.ready[ObjectIdentifier(ready)] = ready
                return true
            }
            if waits { await ready.wait(timeout: .seconds(5), fallback: ()) }
            _ = state.withLock { $0.ready.removeValue(forKey: ObjectIdentifier(ready)) }
        }
        return stream
    }

    private func setListening(_ listening: Bool) {
        let waiters = state.withLock { state -> [Rendezvous<Void>] in
            state.listening = listening
            guard listening else { return [] }
            defer { state.ready = [:] }
            return Array(state.ready.values)
        }
        for waiter in waiters { waiter.fulfil(()) }
    }

    func stop() {
        for waiter in state.withLock({ state in defer { state.ready = [:] }; return Array(state.ready.values) }) { waiter.fulfil(()) }
        let task = state.withLock { state in
            state.stopped = true
            defer { state.task = nil }
            return state.task
        }
        task?.cancel()
        hub.finish()
    }

    private func listen() async {
        // A client of its own, of one connection, so the listening connection never waits for (or
        // holds back) the store's pool.
        var configuration = configuration
        configuration.options.maximumConnections = 1
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        await withDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: channel) { notifications in
                            setListening(true)
                            for try await notification in notifications {
                                guard let signal = StoreSignal(rawValue: notification.payload) else { continue }
                                hub.raise(signal)
                            }
                        }
                    }
                } catch {
                    setListening(false)
                    guard !Task.isCancelled, state.withLock({ !$0.stopped }) else { break }
                    logger.warning("listening for changes failed; trying again in 1 s", metadata: ["error": "\(String(reflecting: error))"])
                    // Whatever was announced meanwhile: every loop looks again.
                    for signal in StoreSignal.allCases { hub.raise(signal) }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            group.cancelAll()
        }
    }
}

extension PostgresStore: StoreSignals {
    public func signals() async -> AsyncStream<StoreSignal> { await listener.subscribe() }
}
