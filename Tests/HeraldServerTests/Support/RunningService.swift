import Hummingbird
import Logging
import ServiceLifecycle

/// Runs an application on 127.0.0.1 port 0 for the duration of `body`, then shuts it down
/// gracefully, also when `body` throws.
func withRunningApplication<T: Sendable>(
    logger: Logger,
    _ makeApplication: (@escaping @Sendable (Int) -> Void) async throws -> some ApplicationProtocol,
    _ body: (Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = try await makeApplication { continuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
