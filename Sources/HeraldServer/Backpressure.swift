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
    /// The most one team's deliveries count toward ``bound``.
    let perTeam: Int
    /// Writes are refused while the data directory's file system has less free space than this.
    let minimumFreeBytes: Int64
    private let dataDirectory: URL
    private let store: any HeraldStore
    /// The last count, when it was made, and the writes let through on it since: a burst between
    /// two counts cannot pass the bound (a write counts as one unit of the backlog).
    private let cached = Mutex<(count: Int, at: ContinuousClock.Instant, admitted: Int)?>(nil)
    /// How long a count is trusted while under the bound.
    static let freshness: Duration = .milliseconds(250)

    init(store: any HeraldStore, bound: Int, perTeam: Int, dataDirectory: URL, minimumFreeBytes: Int64) {
        self.store = store
        self.bound = bound
        self.perTeam = perTeam
        self.dataDirectory = dataDirectory
        self.minimumFreeBytes = minimumFreeBytes
    }

    /// Free bytes on the data directory's file system (nil when it cannot be read).
    func freeBytes() -> Int64? {
        (try? FileManager.default.attributesOfFileSystem(forPath: dataDirectory.path)[.systemFreeSize] as? NSNumber)?.int64Value
    }

    var diskIsLow: Bool { freeBytes().map { $0 < minimumFreeBytes } ?? false }

    /// Why a write was refused.
    enum Refusal: Sendable, Hashable {
        /// The backlog stayed at its bound through the wait.
        case backlog
        /// The data directory's disk has less free space than ``minimumFreeBytes``.
        case lowDisk(freeBytes: Int64)
    }

    /// Returns nil when the write may go ahead, or why it is refused after waiting `wait`.
    func admit(wait: Duration) async throws -> Refusal? {
        if !diskLowCached(), try await takeSlot(fresh: false) { return nil }
        if wait > .zero { try await Task.sleep(for: wait) }
        if let free = freeBytes(), free < minimumFreeBytes { return .lowDisk(freeBytes: free) }
        return try await takeSlot(fresh: true) ? nil : .backlog
    }

    /// Lets one write through if the backlog (the last count plus the writes let through on it)
    /// is under the bound.
    private func takeSlot(fresh: Bool) async throws -> Bool {
        _ = try await count(fresh: fresh)
        return cached.withLock { cached in
            guard let counted = cached, counted.count + counted.admitted < bound else { return false }
            cached?.admitted += 1
            return true
        }
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
        let count = try await store.backlog(now: Date(), perTeam: perTeam)
        cached.withLock { $0 = (count, .now, 0) }
        return count
    }
}

extension HeraldServices {
    /// Admits a document write to `database`, or refuses it (503, or 507 on a nearly full disk)
    /// once its wait is over, in CouchDB's shape.
    func admitDocumentWrite(database: String) async throws {
        let wait = configuration.syncGateway?.databases.first { $0.name == database }.map { Duration.milliseconds($0.waitForProcess) }
            ?? configuration.defaultWaitForBacklog
        guard let refusal = try await backpressure.admit(wait: wait) else { return }
        Self.refusedDocumentWrites.increment()
        throw CouchErrorMiddleware.couch(problem(refusing: refusal))
    }

    /// Admits a `POST /api/events`, or refuses it (problem+json: 503, or 507 on a nearly full
    /// disk) once its wait is over.
    func admitEvents() async throws {
        guard let refusal = try await backpressure.admit(wait: configuration.defaultWaitForBacklog) else { return }
        Self.refusedEvents.increment()
        throw problem(refusing: refusal)
    }

    private func problem(refusing refusal: Backpressure.Refusal) -> Problem {
        switch refusal {
        case .backlog:
            var problem = Problem(
                status: .serviceUnavailable, type: "/problems/backlog", title: "Too much work waiting", detail: Self.backlogMessage(backpressure.bound)
            )
            problem.headers[.retryAfter] = String(Self.retryAfterSeconds)
            return problem
        case .lowDisk(let free):
            return .storageFull(
                "The data directory's disk has \(free) bytes free, under the \(backpressure.minimumFreeBytes) Herald keeps free; nothing was stored. Retry once space is freed."
            )
        }
    }

    static let retryAfterSeconds = 1
    static let lowDiskRetryAfterSeconds = 30
    static func backlogMessage(_ bound: Int) -> String {
        "Herald has \(bound) or more deliveries waiting; nothing was stored. Retry shortly."
    }

    static let refusedEvents = Counter(label: "herald_writes_refused_total", dimensions: [("kind", "events")])
    static let refusedDocumentWrites = Counter(label: "herald_writes_refused_total", dimensions: [("kind", "documents")])
}
