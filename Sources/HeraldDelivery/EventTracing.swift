import Foundation
import HeraldCore
import Synchronization
import Tracing

/// Traces of an event's way through Herald — ingest, commit, fan-out, each attempt — when an
/// OpenTelemetry exporter is configured (`herald serve --otlp-endpoint`); otherwise every call
/// here returns at once.
///
/// An event keeps the trace context of the request that made it (``Event/traceContext``, W3C
/// `traceparent` and `tracestate`), so the spans of its fan-out and of its attempts — made later,
/// perhaps by another node — join the provider's trace, and each attempt sends its own
/// `traceparent` to the receiver. Every span names the event (`herald.event.id`).
public enum EventTracing {
    private static let on = Atomic<Bool>(false)

    /// Whether spans are made: set once, when the exporter is bootstrapped.
    public static var isEnabled: Bool { on.load(ordering: .relaxed) }

    public static func enable() { on.store(true, ordering: .relaxed) }

    /// `context` as it is stored with an event: its `traceparent`, then a newline and its
    /// `tracestate` when it has one; nil when tracing is off or the context holds no trace.
    public static func carrier(of context: ServiceContext) -> String? {
        guard isEnabled else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryCarrier())
        guard let parent = headers["traceparent"] else { return nil }
        return headers["tracestate"].map { parent + "\n" + $0 } ?? parent
    }

    /// The trace context an event was stored with.
    public static func context(of carrier: String) -> ServiceContext {
        var context = ServiceContext.topLevel
        let parts = carrier.split(separator: "\n", maxSplits: 1).map(String.init)
        guard let parent = parts.first else { return context }
        var headers = ["traceparent": parent]
        if parts.count > 1 { headers["tracestate"] = parts[1] }
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryCarrier())
        return context
    }

    /// Runs `body` in a span named `name` when tracing is on (the events it concerns named in
    /// `herald.event.ids`); runs it alone otherwise.
    public static func span<T>(_ name: String, events: @autoclosure () -> [String], _ body: () async throws -> T) async throws -> T {
        guard isEnabled else { return try await body() }
        let ids = events()
        return try await withSpan(name, ofKind: .internal) { span in
            if ids.count == 1 { span.attributes["herald.event.id"] = ids[0] }
            span.attributes["herald.event.ids"] = ids.prefix(100).joined(separator: ",")
            span.attributes["herald.events"] = ids.count
            return try await body()
        }
    }

    /// Spans for a fan-out turn that began at `started`: one per traced event, in its trace, with
    /// the number of deliveries it made.
    static func fannedOut(_ planned: [PlannedDelivery], started: DefaultTracerClock.Instant) {
        guard isEnabled else { return }
        var counts: [String: (event: Event, deliveries: Int)] = [:]
        for delivery in planned where delivery.event.traceContext != nil {
            counts[delivery.event.id, default: (delivery.event, 0)].deliveries += delivery.note == nil ? 1 : 0
        }
        for (event, deliveries) in counts.values {
            let span = startSpan("herald.fan-out", context: context(of: event.traceContext!), ofKind: .internal, at: started)
            span.attributes["herald.event.id"] = event.id
            span.attributes["herald.event.type"] = event.type
            span.attributes["herald.deliveries"] = deliveries
            span.end()
        }
    }

    /// The span of one attempt of a traced event's delivery (nil otherwise), and the
    /// `traceparent` (and `tracestate`) headers that carry it to the receiver.
    static func startAttempt(_ delivery: ClaimedDelivery) -> (span: any Span, headers: [HTTPHeaderField])? {
        guard isEnabled, let carrier = delivery.event.traceContext else { return nil }
        let span = startSpan("herald.attempt", context: context(of: carrier), ofKind: .client)
        span.attributes["herald.event.id"] = delivery.event.id
        span.attributes["herald.event.type"] = delivery.event.type
        span.attributes["herald.delivery.id"] = delivery.deliveryID
        span.attributes["herald.hook.id"] = Int(delivery.hook.id)
        span.attributes["herald.attempt.number"] = delivery.previousAttempts + 1
        span.attributes["http.request.method"] = "POST"
        // Where it went, not the whole URL: a receiver's path or query may hold its own secret.
        if let target = URLComponents(string: delivery.hook.url), let host = target.host {
            span.attributes["url.scheme"] = target.scheme ?? ""
            span.attributes["server.address"] = host
            if let port = target.port { span.attributes["server.port"] = port }
        }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(span.context, into: &headers, using: DictionaryCarrier())
        return (span, headers.sorted { $0.key < $1.key }.map { HTTPHeaderField($0.key, $0.value) })
    }

    /// Ends an attempt's span with what came of it.
    static func endAttempt(_ span: any Span, _ sent: SentAttempt) {
        if let status = sent.attempt.responseStatus { span.attributes["http.response.status_code"] = status }
        if !sent.outcome.isSuccess {
            span.setStatus(SpanStatus(code: .error, message: sent.attempt.errorMessage ?? sent.attempt.responseStatus.map { "HTTP \($0)" }))
        }
        span.end()
    }
}

/// A trace context's headers in a dictionary, both ways.
struct DictionaryCarrier: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
