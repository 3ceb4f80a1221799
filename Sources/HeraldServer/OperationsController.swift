import Foundation
import HeraldCore
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// `/healthz`, `/metrics` and the OpenAPI document.
struct OperationsController {
    let services: HeraldServices

    func addRoutes(to router: Router<HeraldRequestContext>) {
        router.get("/healthz", use: health)
        router.get("/readyz", use: ready)
        router.get("/metrics", use: metrics)
        router.get("/api/openapi.yaml", use: openAPI)
    }

    @Sendable func health(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        do {
            _ = try await services.store.lastSeq()
            // Degraded: serving, but refusing writes until the backlog drains.
            let (backlog, full) = try await services.backpressure.current()
            return JSONResponse(
                status: .ok,
                body: .object([
                    ("status", .string(full ? "degraded" : "ok")), ("backlog", .int(Int64(backlog))), ("max_backlog", .int(Int64(services.backpressure.bound))),
                    ("disk_free_bytes", services.backpressure.freeBytes().map { .int($0) } ?? .null),
                    ("min_free_disk_bytes", .int(services.backpressure.minimumFreeBytes)),
                ])
            )
        } catch {
            return JSONResponse(status: .serviceUnavailable, body: .object([("status", .string("unavailable")), ("detail", .string("\(error)"))]))
        }
    }

    /// Ready to take traffic: the database takes a write, the delivery engine runs (where this
    /// node runs one) and the data directory's disk has more free space than the bound. 503 with
    /// the reasons otherwise.
    @Sendable func ready(_ request: Request, context: HeraldRequestContext) async throws -> JSONResponse {
        var reasons: [String] = []
        do {
            try await services.store.checkWritable()
        } catch {
            reasons.append("the database cannot be written: \(error)")
        }
        if services.configuration.role.runsEngine && !services.engine.isRunning { reasons.append("the delivery engine is not running") }
        let free = services.backpressure.freeBytes()
        if let free, free < services.backpressure.minimumFreeBytes || free == 0 {
            reasons.append("the data directory's disk has \(free) bytes free, under the \(services.backpressure.minimumFreeBytes) required")
        }
        return JSONResponse(
            status: reasons.isEmpty ? .ok : .serviceUnavailable,
            body: .object([
                ("status", .string(reasons.isEmpty ? "ready" : "not ready")), ("reasons", .array(reasons.map(JSONValue.string))),
                ("role", .string(services.configuration.role.rawValue)), ("disk_free_bytes", free.map { .int($0) } ?? .null),
            ])
        )
    }

    @Sendable func metrics(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let counts = try await services.store.deliveryCounts()
        var text = MetricsRegistry.shared.emitToString()
        text += "# TYPE herald_deliveries gauge\n"
        for status in DeliveryStatus.allCases {
            text += "herald_deliveries{status=\"\(status.rawValue)\"} \(counts[status] ?? 0)\n"
        }
        text += "# TYPE herald_event_seq gauge\nherald_event_seq \(try await services.store.lastSeq())\n"
        text += "# TYPE herald_backlog gauge\nherald_backlog \(try await services.store.backlog(now: Date(), perTeam: services.configuration.teamBacklogShare))\n"
        let oldest = try await services.store.oldestPendingDate().map { max(0, Date().timeIntervalSince($0)) } ?? 0
        text += "# TYPE herald_oldest_pending_age_seconds gauge\nherald_oldest_pending_age_seconds \(String(format: "%.3f", oldest))\n"
        let hooks = try await services.store.hooks(teamID: nil)
        let active = hooks.filter(\.active).count
        text += "# TYPE herald_hooks gauge\nherald_hooks{state=\"active\"} \(active)\nherald_hooks{state=\"disabled\"} \(hooks.count - active)\n"
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: MetricsRegistry.withHelp(text)))
        )
    }

    @Sendable func openAPI(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = FileManager.default.contents(atPath: url.path) else {
            throw Problem.notFound("The OpenAPI document is missing from this build.")
        }
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The process-wide Prometheus registry behind swift-metrics, bootstrapped once.
enum MetricsRegistry {
    static let shared: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // swift-metrics labels may hold dots (Hummingbird's `hb.requests`, `http.route`); Prometheus
        // names may not.
        factory.nameAndLabelSanitizer = { name, labels in
            (MetricsRegistry.prometheusName(name), labels.map { (MetricsRegistry.prometheusName($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// What each family measures, as its `# HELP` line says. swift-metrics' factory registers
    /// families without help, so the lines are added to the exposition, before each `# TYPE`.
    static let help: [String: String] = [
        "herald_delivery_attempts_total": "Delivery attempts made (each request to a receiver, retries and redeliveries included).",
        "herald_deliveries_succeeded_total": "Delivery attempts the receiver answered with a 2xx.",
        "herald_delivery_attempts_failed_total": "Delivery attempts that failed: a non-2xx answer, a timeout, a refused or broken connection.",
        "herald_delivery_attempt_duration_seconds": "How long delivery attempts took, from the request's start to the answer's end.",
        "herald_record_and_claim_duration_seconds": "How long the engine's store turn took: record finished attempts, claim due deliveries.",
        "herald_pruned_rows_total": "Rows removed or emptied by retention (attempt bodies, deliveries, events).",
        "herald_writes_refused_total": "Writes refused with 503 while the backlog was past its bound, by kind (events, documents).",
        "herald_ingest_commit_duration_seconds": "How long accepted events waited for their group commit (durable before the 202).",
        "herald_deliveries": "Deliveries in the log, by status.",
        "herald_event_seq": "The last sequence number appended (events and document changes).",
        "herald_backlog": "Work waiting now: events not yet fanned out plus deliveries in flight or due, each team counted up to its share.",
        "herald_oldest_pending_age_seconds": "Seconds since the oldest delivery still waiting to be sent was made; 0 when none waits.",
        "herald_hooks": "Hooks, by state (active, disabled).",
        "hb_requests": "HTTP requests answered, by route, method and status.",
        "hb_request_errors": "HTTP requests that ended in an error, by route, method and status.",
        "http_server_request_duration": "How long HTTP requests took to answer, by route, method and status.",
        "http_server_active_requests": "HTTP requests being answered now, by method.",
    ]

    /// `name` with every character Prometheus does not allow in a name as `_`.
    static func prometheusName(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }

    /// `text` with a `# HELP` line before each family's `# TYPE` line.
    static func withHelp(_ text: String) -> String {
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first, let help = help[String(name)] {
                lines.append("# HELP \(name) \(help)")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
