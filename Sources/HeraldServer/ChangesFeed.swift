import Foundation
import HeraldCore
import Hummingbird
import ServiceLifecycle

/// How a changes feed answers, for `/db/{db}/_changes` and `GET /api/events` alike: `normal`
/// answers at once; `longpoll` waits (up to `timeout`) for the first change; `continuous` streams
/// one JSON object per line and `eventsource` Server-Sent Events, both with heartbeats, until
/// `timeout` or `limit`, then a closing `{"last_seq"}`. Long feeds wake on commit
/// (``CommitSignal``), never by polling, and a token holds only so many open (``FeedLimiter``).
/// A long feed ends early (``FeedEnd``) when its client's connection closes — its slot is free at
/// once — and when the server begins a graceful stop, answering what it has so far.
struct ChangesFeed: Sendable {
    enum Mode: String, Sendable { case normal, longpoll, continuous, eventsource }

    var mode: Mode
    var since: Int64
    var limit: Int
    var timeout: Duration
    var heartbeat: Duration?
    /// The media type of a continuous feed: CouchDB's and Sync Gateway's `application/json` for
    /// `/db/`, NDJSON for Herald's own `/api/events`.
    var continuousMediaType = "application/json"

    /// The most a streaming feed reads per page.
    static let pageSize = 1000

    /// One page of what the caller may see after `since`, the last `seq` scanned, and whether the
    /// scan reached the end of what was committed (fewer rows than asked).
    typealias Page = @Sendable (_ since: Int64, _ limit: Int) async throws -> (results: [JSONValue], lastSeq: Int64, complete: Bool)

    /// A normal or longpoll answer, laid out as CouchDB writes it — one result per line between
    /// `{"results":[` and `],`, then `"last_seq"` — which clients that read the body line by line
    /// (python-cloudant) depend on. The same JSON to any other parser.
    static func body(_ results: [JSONValue], lastSeq: Int64) -> String {
        "{\"results\":[\n" + results.map(\.jsonString).joined(separator: ",\n") + (results.isEmpty ? "" : "\n") + "],\n\"last_seq\":"
            + JSONValue.string(String(lastSeq)).jsonString + "}\n"
    }

    /// Reads a page, and moves `since` past every `seq` committed before the read when the scan
    /// was complete: commits elsewhere (another database, the event log) share the `seq` space, and
    /// a feed that did not move past them would wake for them again at once.
    static func read(_ page: Page, since: Int64, limit: Int, commits: CommitSignal) async throws -> (results: [JSONValue], since: Int64, complete: Bool) {
        let committedBefore = commits.latest
        let (results, lastSeq, complete) = try await page(since, limit)
        return (results, complete ? max(lastSeq, committedBefore) : lastSeq, complete)
    }

    /// What a streaming feed hands its writer: a page of changes; once, the moment it has caught up
    /// with what was committed (Sync Gateway's WebSocket feed says so with `[]`); a keep-alive.
    enum Beat: Sendable {
        case changes([JSONValue])
        case caughtUp
        case heartbeat
    }

    /// The loop of every streaming feed (continuous, eventsource, websocket): reads pages after
    /// `since`, waits on commits when caught up, beats at `heartbeat` while idle, and returns the
    /// last `seq` read when `limit` results were sent, `timeout` passed, or `end` ended the feed.
    func stream(page: Page, commits: CommitSignal, end: FeedEnd, emit: (Beat) async throws -> Void) async throws -> Int64 {
        let deadline = ContinuousClock.now + timeout
        var since = self.since
        var sent = 0
        var caughtUp = false
        var lastWrite = ContinuousClock.now
        while sent < limit {
            let read = try await Self.read(page, since: since, limit: min(limit - sent, Self.pageSize), commits: commits)
            since = read.since
            if !read.results.isEmpty {
                try await emit(.changes(read.results))
                lastWrite = ContinuousClock.now
            }
            sent += read.results.count
            // Caught up is said whenever the read reached the end, even as the feed ends.
            if read.complete && !caughtUp {
                caughtUp = true
                try await emit(.caughtUp)
                lastWrite = ContinuousClock.now
            }
            if sent >= limit || ContinuousClock.now >= deadline || end.hasEnded { break }
            var wait = deadline - ContinuousClock.now
            if let heartbeat { wait = min(wait, max(.milliseconds(1), lastWrite + heartbeat - ContinuousClock.now)) }
            await commits.wait(after: since, timeout: wait, end: end)
            if Task.isCancelled || end.hasEnded { break }
            if let heartbeat, ContinuousClock.now - lastWrite >= heartbeat {
                try await emit(.heartbeat)
                lastWrite = ContinuousClock.now
            }
        }
        return since
    }

    /// A long feed's slot for `principal`, or the refusal `tooManyFeeds` makes when its token (or
    /// its team, across the team's tokens) holds its most.
    static func slot(_ feeds: FeedLimiter, principal: Principal, tooManyFeeds: (String) -> any Error) throws -> FeedSlot {
        try FeedSlot(feeds, token: principal.tokenID, team: principal.teamID) { refusal in
            switch refusal {
            case .token: tooManyFeeds("This token has \(feeds.perToken) changes feeds open.")
            case .team: tooManyFeeds("This team's tokens have \(feeds.perTeam) changes feeds open.")
            }
        }
    }

    /// Answers the feed for `principal`; `tooManyFeeds` makes the refusal when its token (or its
    /// team, across the team's tokens) holds its most long feeds, from the message given.
    func response(
        services: HeraldServices, principal: Principal, request: Request, context: HeraldRequestContext, page: @escaping Page,
        tooManyFeeds: (String) -> any Error
    ) async throws -> Response {
        func answer(_ results: [JSONValue], _ lastSeq: Int64) throws -> Response {
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: Self.body(results, lastSeq: lastSeq))))
        }
        let commits = services.commits
        if mode == .normal {
            let (results, lastSeq, _) = try await page(since, limit)
            return try answer(results, lastSeq)
        }
        let slot = try Self.slot(services.feeds, principal: principal, tooManyFeeds: tooManyFeeds)
        let deadline = ContinuousClock.now + timeout
        let end = FeedEnd()
        (services.pacing.clientGone(context.connection) ?? context.connectionClosed).whenComplete { _ in end.end() }
        if mode == .longpoll {
            defer { slot.release() }
            var since = since
            let pageLimit = self.limit
            return try await withGracefulShutdownHandler {
                while true {
                    let (results, lastSeq, _) = try await Self.read(page, since: since, limit: pageLimit, commits: commits)
                    since = lastSeq
                    if !results.isEmpty || ContinuousClock.now >= deadline || end.hasEnded { return try answer(results, lastSeq) }
                    await commits.wait(after: since, timeout: deadline - ContinuousClock.now, end: end)
                    if Task.isCancelled { return try answer([], since) }
                }
            } onGracefulShutdown: {
                end.end()
            }
        }
        let eventSource = mode == .eventsource
        // The slot goes back when the stream ends, or when the response is dropped unsent.
        let stream = ResponseBody { [self] writer in
            defer { slot.release() }
            let since = try await withGracefulShutdownHandler {
                try await self.stream(page: page, commits: commits, end: end) { beat in
                    switch beat {
                    case .changes(let results):
                        var text = ""
                        for result in results {
                            let line = result.jsonString
                            text += eventSource ? "id: \(result["seq"]?.intValue ?? 0)\ndata: \(line)\n\n" : line + "\n"
                        }
                        try await writer.write(ByteBuffer(string: text))
                    case .caughtUp: break
                    case .heartbeat: try await writer.write(ByteBuffer(string: eventSource ? ":\n\n" : "\n"))
                    }
                }
            } onGracefulShutdown: {
                end.end()
            }
            let closing = JSONValue.object([("last_seq", .string(String(since)))]).jsonString
            try await writer.write(ByteBuffer(string: eventSource ? "event: end\ndata: \(closing)\n\n" : closing + "\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: eventSource ? "text/event-stream" : continuousMediaType, .cacheControl: "no-cache"], body: stream)
    }
}
