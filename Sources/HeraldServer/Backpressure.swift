import Foundation
import HeraldCore
import Metrics
import Synchronization

/// Backpressure on writes: past ``HeraldConfiguration/maxBacklog`` of accepted, unfinished work, a
/// write waits a little (a database's `wait_for_process`) for the backlog to shrink, then is
/// refused with 503 and `Retry-After`. Where Sync Gateway drops the event of a write that finds its
/// queue full, Herald refuses the write: nothing it accepted is ever dropped.
final class Backpressure: Sendable {
    let bound: Int
    /// Writes are refused while the data directory's file system has less free space than this.
    let minimumFreeBytes: Int64
    private let dataDirectory: URL
    private let store: any HeraldStore
    private let cached = Mutex<(count: Int, at: ContinuousClock.Instant)?>(nil)
    /// How long a count is trusted while under the bound.
    static let freshness: Duration = .milliseconds(250)

    init(store: any HeraldStore, bound: Int, dataDirectory: URL, minimumFreeBytes: Int64) {
        self.store = store
        self.bound = bound
        self.dataDirectory = dataDirectory
        self.minimumFreeBytes = minimumFreeBytes
    }

    /// Free bytes on the data directory's file system (nil when it cannot be read).
    func freeBytes() -> Int64? {
        (try? FileManager.default.attributesOfFileSystem(forPath: dataDirectory.path)[.systemFreeSize] as? NSNumber)?.int64Value
    }

    var diskIsLow: Bool { freeBytes().map { $0 < minimumFreeBytes } ?? false }

    /// Returns when the write may go ahead; nil when it must be refused after waiting `wait`.
    func admit(wait: Duration) async throws -> Bool {
        if try await count(fresh: false) < bound && !diskLowCached() { return true }
        if wait > .zero { try await Task.sleep(for: wait) }
        return try await count(fresh: true) < bound && !diskIsLow
    }

    private let diskChecked = Mutex<(low: Bool, at: ContinuousClock.Instant)?>(nil)

    /// The free-space check, at most every second on the fast path.
    private func diskLowCached() -> Bool {
        if let checked = diskChecked.withLock({ $0 }), ContinuousClock.now - checked.at < .seconds(1) { return checked.low }
        let low = diskIsLow
        diskChecked.withLock { $0 = (low, .now) }
        return low
    }

    /// The backlog now, and whether it is at the bound (`/healthz` says "degraded").
    func current() async throws -> (backlog: Int, full: Bool) {
        let count = try await count(fresh: true)
        return (count, count >= bound || diskIsLow)
    }

    private let refreshing = Atomic<Bool>(false)

    /// The backlog, counted at most every ``freshness`` on the fast path, by one caller at a time:
    /// the others go on with the last count (a burst of writes must not become a burst of counts).
    private func count(fresh: Bool) async throws -> Int {
        if !fresh, let cached = cached.withLock({ $0 }) {
            let stale = ContinuousClock.now - cached.at >= Self.freshness
            guard stale, refreshing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return cached.count }
            defer { refreshing.store(false, ordering: .releasing) }
            return try await recount()
        }
        return try await recount()
    }

    private func recount() async throws -> Int {
        let count = try await store.backlog()
        cached.withLock { $0 = (count, .now) }
        return count
    }
}

extension HeraldServices {
    /// Admits a document write to `database`, or refuses it with 503 once its wait is over.
    func admitDocumentWrite(database: String) async throws {
        let wait = configuration.syncGateway?.databases.first { $0.name == database }.map { Duration.milliseconds($0.waitForProcess) }
            ?? configuration.defaultWaitForBacklog
        guard try await backpressure.admit(wait: wait) else {
            Self.refusedDocumentWrites.increment()
            var error = CouchError(status: .serviceUnavailable, error: "service_unavailable", reason: Self.backlogMessage(backpressure.bound))
            error.retryAfter = Self.retryAfterSeconds
            throw error
        }
    }

    /// Admits a `POST /api/events`, or refuses it with 503 (problem+json) once its wait is over.
    func admitEvents() async throws {
        guard try await backpressure.admit(wait: configuration.defaultWaitForBacklog) else {
            Self.refusedEvents.increment()
            var problem = Problem(
                status: .serviceUnavailable, type: "/problems/backlog", title: "Too much work waiting", detail: Self.backlogMessage(backpressure.bound)
            )
            problem.headers[.retryAfter] = String(Self.retryAfterSeconds)
            throw problem
        }
    }

    static let retryAfterSeconds = 1
    static func backlogMessage(_ bound: Int) -> String {
        "Herald has \(bound) or more deliveries waiting, or its disk is nearly full; nothing was stored. Retry shortly."
    }

    static let refusedEvents = Counter(label: "herald_writes_refused_total", dimensions: [("kind", "events")])
    static let refusedDocumentWrites = Counter(label: "herald_writes_refused_total", dimensions: [("kind", "documents")])
}
