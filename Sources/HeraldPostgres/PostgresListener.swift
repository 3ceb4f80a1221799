import HeraldCore
import Logging
import PostgresNIO
import Synchronization

/// One connection that `LISTEN`s on the schema's channel and hands each notification to every
/// subscriber; it reconnects after a failure (a signal missed meanwhile costs at most the engine's
/// idle interval: every loop also wakes on its own).
final class PostgresListener: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<StoreSignal>.Continuation] = [:]
        var next = 0
        var task: Task<Void, Never>?
        var stopped = false
    }

    private let state = Mutex(State())
    private let channel: String
    private let logger: Logger
    private let configuration: PostgresClient.Configuration

    init(configuration: PostgresClient.Configuration, channel: String, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
    }

    func subscribe() -> AsyncStream<StoreSignal> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreSignal.self, bufferingPolicy: .bufferingNewest(16))
        let start = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            let id = state.next
            state.next += 1
            state.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
            return state.task == nil
        }
        if start {
            let task = Task { await self.listen() }
            state.withLock { $0.task = task }
        }
        return stream
    }

    func stop() {
        let (task, subscribers) = state.withLock { state in
            state.stopped = true
            defer { state.subscribers = [:]; state.task = nil }
            return (state.task, Array(state.subscribers.values))
        }
        task?.cancel()
        for subscriber in subscribers { subscriber.finish() }
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
                            for try await notification in notifications {
                                guard let signal = StoreSignal(rawValue: notification.payload) else { continue }
                                for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield(signal) }
                            }
                        }
                    }
                } catch {
                    guard !Task.isCancelled else { break }
                    logger.warning("listening for changes failed; trying again in 1 s", metadata: ["error": "\(String(reflecting: error))"])
                    // Whatever was announced meanwhile: every loop looks again.
                    for subscriber in state.withLock({ Array($0.subscribers.values) }) {
                        for signal in StoreSignal.allCases { subscriber.yield(signal) }
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            group.cancelAll()
        }
    }
}

extension PostgresStore: StoreSignals {
    public func signals() -> AsyncStream<StoreSignal> { listener.subscribe() }
}
