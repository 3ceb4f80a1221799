import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The benchmark's receiver on 127.0.0.1: answers 204 at once and notes when each event arrived.
final class BenchReceiver: Sendable {
    private let arrivals = Mutex<[(id: Substring, at: ContinuousClock.Instant)]>([])
    private let count = Atomic<Int>(0)

    var received: Int { count.load(ordering: .relaxed) }

    /// Arrival times by event id (`evt_…`, read from the fixed position in the body).
    func takeArrivals() -> [(id: Substring, at: ContinuousClock.Instant)] {
        arrivals.withLock { arrivals in
            defer { arrivals.removeAll() }
            return arrivals
        }
    }

    func reset() {
        _ = takeArrivals()
        count.store(0, ordering: .relaxed)
    }

    func application(logger: Logger, onPort: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 22)
            let now = ContinuousClock.now
            self.count.wrappingAdd(1, ordering: .relaxed)
            // {"id":"evt_XXXXXXXXXXXXXXXXXXXXXXXXXX",…}: the id is bytes 7..<37.
            if body.readableBytes > 37, let text = body.getString(at: body.readerIndex + 7, length: 30), text.hasPrefix("evt_") {
                self.arrivals.withLock { $0.append((Substring(text), now)) }
            }
            return Response(status: .noContent)
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-receiver"),
            onServerRunning: { channel in onPort(channel.localAddress?.port ?? 0) }, logger: logger
        )
    }
}

/// Runs a benchmark receiver (`makeApplication` gets the callback for its port) on 127.0.0.1 for
/// as long as `body` runs; `body` gets the port.
func runBenchReceiver<App: ApplicationProtocol>(
    logger: Logger, _ makeApplication: (Logger, @escaping @Sendable (Int) -> Void) -> App, _ body: (Int) async throws -> Void
) async throws {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let application = makeApplication(logger) { portContinuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        try await body(await iterator.next() ?? 0)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}
