import Foundation

/// A replay: every event a hook matches in a time range queued again for it, in `seq` order, as a
/// job with progress. Events emitted while the hook was disabled are included; a job scans the
/// range once (its cursor is stored with each step, so a restart resumes where it stopped and a
/// step repeated after a crash queues nothing twice).
public struct ReplayJob: Sendable, Hashable {
    public var id: Int64
    public var hookID: Int64
    public var since: Date
    public var until: Date?
    /// Only events whose delivery to the hook failed.
    public var onlyFailed: Bool
    public var state: JobState
    /// The `seq` range the job scans, fixed when it is created.
    public var fromSeq: Int64
    public var toSeq: Int64
    /// The last `seq` scanned.
    public var cursor: Int64
    /// Deliveries queued so far.
    public var queued: Int
    public var createdAt: Date
    public var finishedAt: Date?

    public init(
        id: Int64, hookID: Int64, since: Date, until: Date?, onlyFailed: Bool, state: JobState, fromSeq: Int64, toSeq: Int64, cursor: Int64,
        queued: Int, createdAt: Date, finishedAt: Date?
    ) {
        self.id = id
        self.hookID = hookID
        self.since = since
        self.until = until
        self.onlyFailed = onlyFailed
        self.state = state
        self.fromSeq = fromSeq
        self.toSeq = toSeq
        self.cursor = cursor
        self.queued = queued
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }

    /// Events in the range (progress counts events scanned, matched or not).
    public var total: Int { Int(max(0, toSeq - fromSeq + 1)) }
    public var done: Int { state == .done ? total : Int(min(max(0, cursor - fromSeq + 1), Int64(total))) }
    public var percent: Int { total == 0 ? 100 : done * 100 / total }

    /// Whether the replay re-queues `event` for `hook`: the hook's event patterns and its granted
    /// channels (all of them for a hook of the config file), whatever the hook's state or creation.
    public static func matches(_ event: Event, hook: Hook, grantedChannels: Set<String>) -> Bool {
        event.type != PingPayload.eventType && EventMatcher.listens(hook, to: event, grantedChannels: grantedChannels)
    }
}

public enum JobState: String, Sendable, Hashable, CaseIterable {
    case running, done, cancelled
}

/// Replay jobs. A step is two plain calls: read the next events after the job's cursor, then queue
/// the chosen ones and move the cursor, in one transaction.
public protocol ReplayStore: Sendable {
    /// Creates a running job over the events created in `[since, until)` (until now when nil).
    func createReplayJob(hookID: Int64, since: Date, until: Date?, onlyFailed: Bool, now: Date) async throws -> ReplayJob
    func replayJob(id: Int64) async throws -> ReplayJob?
    func replayJobs(state: JobState) async throws -> [ReplayJob]
    /// Cancels a running job; false when it was not running.
    func cancelReplayJob(id: Int64, now: Date) async throws -> Bool
    /// Up to `limit` events after the job's cursor, within its range (targeted pings left out).
    func replayEvents(for job: ReplayJob, limit: Int) async throws -> [Event]
    /// Queues the hook's deliveries of `seqs` again (``DeliveryLifecycle/replay(now:)``; a new
    /// delivery where there is none; only failed ones when the job says so; in-flight ones left
    /// alone), moves the job's cursor from `job.cursor` to `through`, and marks it done at the end
    /// of its range. Returns the deliveries queued, or nil (nothing done) when the job is no longer
    /// running or its cursor has moved.
    func commitReplay(_ job: ReplayJob, seqs: [Int64], through: Int64, now: Date) async throws -> Int?
}
