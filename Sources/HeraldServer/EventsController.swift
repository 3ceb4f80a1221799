import Foundation
import Tracing
import HeraldDelivery
import HeraldCore
import Hummingbird
import NIOPosix
import Metrics

/// Ingest (`POST /api/events`, provider and admin) and the pull feed (`GET /api/events`).
struct EventsController {
    /// A query parameter's digits as a number, past `Int64.max` read as `Int64.max` (a `since`
    /// beyond the log, a wait beyond the cap); nil when it is not a non-negative integer.
    static func nonNegativeInteger(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int64(text) ?? .max
    }

    let services: HeraldServices
    var store: any HeraldStore { services.store }

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.post("/api/events", use: emit)
        router.get("/api/events", use: feed)
    }

    static func summary(_ event: Event) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [("id", .string(event.id)), ("seq", .int(event.seq)), ("type", .string(event.type))]
        pairs += versionField(event)
        pairs.append(("timestamp", event.timestamp.json))
        return .object(pairs)
    }

    /// `"version": N` for an event of a type with versions; nothing otherwise.
    static func versionField(_ event: Event) -> [(key: String, value: JSONValue)] {
        event.version.map { [("version", .int(Int64($0)))] } ?? []
    }

    /// Accepts one event or a batch. Answers 202 once the events are committed; their deliveries
    /// are created by the engine's fan-out from the committed log, so none can be lost.
    /// How long accepted events wait for their commit (the group commit included).
    static let ingestTimer = Timer(label: "herald_ingest_commit_duration_seconds")

    /// The schema violations of a request's events, checked on the thread pool (not the tasks that
    /// serve other requests) within one `budget` for the whole request: a pattern that backtracks
    /// on each of a thousand values costs this request its budget, not the server a minute.
    static func violations(_ checks: [(schema: JSONSchema, data: JSONValue, path: String)], budget: Duration) async throws -> [Problem.FieldError] {
        guard !checks.isEmpty else { return [] }
        return try await NIOThreadPool.singleton.runIfActive {
            let deadline = ContinuousClock.now + budget
            return checks.compactMap { check in
                check.schema.firstViolation(of: check.data, at: check.path, deadline: deadline).map { .init(field: $0.path, message: $0.message) }
            }
        }
    }

    @Sendable func emit(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        let principal = try context.require(.provider, .admin)
        // Idempotency keys belong to the token that sends them.
        let scope = "token:\(principal.tokenID)"
        let limit = services.configuration.maxEventBodyBytes
        let body = try await request.jsonBody(limit: limit)
        let headerKey = request.headers[.idempotencyKey]
        let isBatch: Bool
        let items: [JSONValue]
        switch body {
        case .array(let array):
            isBatch = true
            items = array
            guard !items.isEmpty else { throw Problem.validation([.init(field: "", message: "a batch must hold at least one event")]) }
            guard items.count <= services.configuration.maxBatchSize else {
                throw Problem.validation([.init(field: "", message: "a batch holds at most \(services.configuration.maxBatchSize) events")], status: .contentTooLarge)
            }
            if headerKey != nil {
                throw Problem.validation([.init(field: "", message: "the Idempotency-Key header applies to single events; put idempotency_key in each item")])
            }
        default:
            isBatch = false
            items = [body]
        }
        let catalog = try await services.catalog.entries()
        // The request's trace (the provider's, continued), kept with each event for its fan-out and attempts.
        let trace = EventTracing.carrier(of: ServiceContext.current ?? .topLevel)
        var events: [NewEvent] = []
        var errors: [Problem.FieldError] = []
        var schemaChecks: [(schema: JSONSchema, data: JSONValue, path: String)] = []
        var deprecated: Set<String> = []
        for (index, item) in items.enumerated() {
            let prefix = isBatch ? "/\(index)" : ""
            do {
                var reader = try FieldReader(item, pathPrefix: prefix)
                reader.rejectUnknown(["type", "version", "data", "channels", "idempotency_key"])
                let type = reader.string("type", required: true, maxLength: 128)
                var version = reader.int("version", in: 1...1_000_000)
                let channels = reader.stringArray("channels", maxCount: 50) ?? []
                let key = reader.string("idempotency_key", maxLength: 255) ?? (isBatch ? nil : headerKey)
                // A key is compared and stored whole: a NUL (or another control character) would be
                // cut or refused by the database further down, so it is refused here.
                if let key, key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                    reader.fail("idempotency_key", "must not contain control characters (NUL, CR, LF, …)")
                }
                let data = reader.value("data") ?? .object([])
                if let type {
                    if type == PingPayload.eventType {
                        reader.fail("type", "ping events are sent by Herald itself (POST /api/hooks/{id}/pings)")
                    } else if OperationalEvents.isOperational(type) {
                        reader.fail("type", "herald.* events are Herald's own, about its hooks")
                    } else if let entry = catalog[type] {
                        if let refusal = entry.type.refusal(version: version) {
                            reader.fail(refusal.field, refusal.message)
                        } else {
                            // An event that names no version is of the type's current one.
                            if version == nil { version = entry.type.currentVersion?.number }
                            if let schema = entry.schema(version: version) { schemaChecks.append((schema, data, prefix + "/data")) }
                            if entry.type.isDeprecated(version: version) { deprecated.insert(type + (version.map { " version \($0)" } ?? "")) }
                        }
                    } else {
                        reader.fail("type", "unknown event type \(type); see GET /api/event-types")
                    }
                }
                errors += reader.errors
                if let type, reader.errors.isEmpty {
                    events.append(
                        NewEvent(
                            type: type, data: data.jsonString, channels: channels, idempotencyKey: key, idempotencyScope: scope, version: version,
                            traceContext: trace
                        )
                    )
                }
            } catch let problem as Problem {
                errors += problem.errors
            }
        }
        errors += try await Self.violations(schemaChecks, budget: services.configuration.validationBudget)
        // All or nothing: one bad item rejects the batch and stores nothing.
        guard errors.isEmpty else { throw Problem.validation(errors) }
        // A key reused with another payload is refused before anything is stored, so a batch stays all or nothing.
        let keys = events.compactMap(\.idempotencyKey)
        if !keys.isEmpty {
            try Self.checkRepeatsWithinBatch(events)
            try Self.checkRepeats(events, against: try await store.events(idempotencyKeys: keys, scope: scope), isBatch: isBatch)
        }
        try await services.admitEvents()
        let committing = ContinuousClock.now
        let appended = try await EventTracing.span("herald.commit", events: events.map(\.id)) { try await services.ingest.submit(events) }
        Self.ingestTimer.record(duration: ContinuousClock.now - committing)
        // Another request with the same key may have been stored in between.
        try Self.checkRepeats(events, against: Dictionary(zip(events, appended).compactMap { new, result in
            result.duplicate ? new.idempotencyKey.map { ($0, result.event) } : nil
        }, uniquingKeysWith: { first, _ in first }), isBatch: isBatch)
        let summaries = appended.map { Self.summary($0.event) }
        var response = JSONResponse(status: .accepted, body: isBatch ? .object([("events", .array(summaries))]) : summaries[0])
        if !deprecated.isEmpty {
            // Accepted, and said (RFC 9745 and a warning a person can read): the provider should move on.
            response.headers[.deprecation] = "@\(Int(Date().timeIntervalSince1970))"
            response.headers[.heraldWarning] = "deprecated event type: " + deprecated.sorted().joined(separator: ", ")
        }
        return response
    }

    /// Answers 409 when an idempotency key is found with a different payload than the one sent now.
    static func checkRepeats(_ events: [NewEvent], against stored: [String: Event], isBatch: Bool) throws {
        let conflicts = events.enumerated().compactMap { index, new -> Problem.FieldError? in
            guard let key = new.idempotencyKey, let earlier = stored[key], !new.isRepeat(of: earlier) else { return nil }
            return .init(
                field: (isBatch ? "/\(index)" : "") + "/idempotency_key",
                message: "key \(key) was used for event \(earlier.id) with a different payload; use a new key for a new event"
            )
        }
        guard conflicts.isEmpty else { throw Problem.validation(conflicts, status: .conflict) }
    }

    /// A batch that uses one key for two different events is refused before anything is stored.
    static func checkRepeatsWithinBatch(_ events: [NewEvent]) throws {
        var first: [String: Int] = [:]
        var conflicts: [Problem.FieldError] = []
        for (index, event) in events.enumerated() {
            guard let key = event.idempotencyKey else { continue }
            guard let earlier = first[key] else {
                first[key] = index
                continue
            }
            if !event.isRepeat(of: events[earlier]) {
                conflicts.append(.init(field: "/\(index)/idempotency_key", message: "key \(key) is used by item \(earlier) for a different event"))
            }
        }
        guard conflicts.isEmpty else { throw Problem.validation(conflicts, status: .conflict) }
    }

    /// Events a team's feed page scans at most: a page costs the same however much of the log the
    /// team may not see, and `last_seq` moves past what it skipped.
    static let teamScanWindow = 1000

    /// `GET /api/events?since=SEQ&limit=N[&feed=longpoll|continuous|eventsource&timeout=MS&heartbeat=MS]`:
    /// the changes feed of the event log. A team token sees the events one of its hooks could
    /// receive, through channels granted to the team.
    @Sendable func feed(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let query = request.uri.queryParameters
        func milliseconds(_ name: String) throws -> Duration? {
            try query[name[...]].map { value in
                guard let number = Self.nonNegativeInteger(value) else { throw Problem.badRequest("\(name) must be milliseconds") }
                // A heartbeat more often than every 100 ms would only burn the server.
                return .milliseconds(min(max(number, name == "heartbeat" ? 100 : 0), 900_000))
            }
        }
        let since = try query["since"].map { value -> Int64 in
            guard let seq = Self.nonNegativeInteger(value) else { throw Problem.badRequest("since must be a non-negative sequence number") }
            return seq
        } ?? 0
        let limit = try query["limit"].map { value -> Int in
            guard let limit = Int(String(value)), (1...1000).contains(limit) else { throw Problem.badRequest("limit must be from 1 to 1000") }
            return limit
        } ?? 100
        let mode = try query["feed"].map { value -> ChangesFeed.Mode in
            guard let mode = ChangesFeed.Mode(rawValue: String(value)) else { throw Problem.badRequest("feed must be normal, longpoll, continuous or eventsource") }
            return mode
        } ?? .normal
        var visibility: (Set<String>, [Hook])?
        if principal.scope == .team {
            guard let teamID = principal.teamID, let team = try await store.team(id: teamID) else { throw Problem.notFound("No such team.") }
            visibility = (team.channels, try await store.hooks(teamID: teamID))
        }
        let (store, visible) = (self.store, visibility)
        let page: ChangesFeed.Page = { since, limit in
            var events: [Event]
            var lastSeq = since
            var complete: Bool
            if let (granted, hooks) = visible {
                events = []
                let scanned = try await store.events(since: since, limit: max(limit, Self.teamScanWindow))
                complete = scanned.count < max(limit, Self.teamScanWindow)
                for event in scanned {
                    lastSeq = event.seq
                    guard EventMatcher.isVisible(event, toTeamWith: hooks, grantedChannels: granted) else { continue }
                    events.append(event)
                    if events.count == limit {
                        complete = false
                        break
                    }
                }
            } else {
                events = try await store.events(since: since, limit: limit)
                lastSeq = events.last?.seq ?? since
                complete = events.count < limit
            }
            let results: [JSONValue] = events.map { event in
                .object(
                    [("seq", .int(event.seq)), ("id", .string(event.id)), ("type", .string(event.type))] + Self.versionField(event) + [
                        ("timestamp", event.timestamp.json), ("data", (try? JSONValue(parsing: event.data)) ?? .null),
                        ("channels", .array(event.channels.map(JSONValue.string))),
                    ]
                )
            }
            return (results, lastSeq, complete)
        }
        // A streaming feed without a limit runs until its timeout.
        let streaming = mode == .continuous || mode == .eventsource
        var feed = ChangesFeed(mode: mode, since: since, limit: streaming && query["limit"] == nil ? Int.max : limit, timeout: try milliseconds("timeout") ?? .seconds(300), heartbeat: try milliseconds("heartbeat"))
        feed.continuousMediaType = "application/x-ndjson"
        return try await feed.response(services: services, principal: principal, request: request, context: context, page: page) { message in
            Problem(status: .tooManyRequests, type: "/problems/too-many-feeds", title: "Too many feeds", detail: message)
        }
    }
}
