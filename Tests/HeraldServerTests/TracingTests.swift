import Foundation
import HeraldCore
import Testing

/// OpenTelemetry traces, exported over OTLP/HTTP to a collector stand-in: an event's ingest,
/// commit, fan-out and attempt are spans of the provider's own trace, each naming the event, and
/// the receiver gets a `traceparent` of that trace whose parent is the attempt's span.
@Suite struct TracingTests {
    /// A span as the collector received it.
    struct Span: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: Int
        var attributes: [String: JSONValue]
    }

    /// OTLP/JSON writes ids as hex; protobuf's JSON mapping as base64. Either, as hex.
    static func hex(_ text: String) -> String {
        if text.allSatisfy(\.isHexDigit), text.count == 32 || text.count == 16 { return text.lowercased() }
        return Data(base64Encoded: text).map { $0.map { String(format: "%02x", $0) }.joined() } ?? text
    }

    static func spans(in requests: [TestReceiver.Received]) -> [Span] {
        requests.filter { $0.path == "/v1/traces" }.flatMap { request -> [Span] in
            guard let body = try? JSONValue(parsing: request.bodyString) else { return [] }
            return (body["resourceSpans"]?.arrayValue ?? []).flatMap { resource in
                (resource["scopeSpans"]?.arrayValue ?? []).flatMap { scope in
                    (scope["spans"]?.arrayValue ?? []).map { span in
                        var attributes: [String: JSONValue] = [:]
                        for attribute in span["attributes"]?.arrayValue ?? [] {
                            guard let key = attribute["key"]?.stringValue, case .object(let value)? = attribute["value"], let first = value.first else { continue }
                            attributes[key] = first.value
                        }
                        return Span(
                            traceID: hex(span["traceId"]?.stringValue ?? ""), spanID: hex(span["spanId"]?.stringValue ?? ""),
                            parentSpanID: hex(span["parentSpanId"]?.stringValue ?? ""), name: span["name"]?.stringValue ?? "",
                            kind: Int(span["kind"]?.intValue ?? 0), attributes: attributes
                        )
                    }
                }
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald"))
    func anEventsSpansJoinTheProvidersTraceAndTheReceiverGetsItsTraceparent() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-tracing-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory)
        try await TestReceiver.run { collector in
            try await TestReceiver.run { receiver in
                let server = try ChildProcess(
                    binary: binary,
                    arguments: [
                        "serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets",
                        "--otlp-endpoint", "http://127.0.0.1:\(collector.port)",
                    ],
                    environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "200"]
                )
                defer { server.stop() }
                let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(try await server.waitForPort())")
                let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url("/crm"))","events":["lead.*"]}"#)
                #expect(hook.status == 201, "\(hook.text)")

                // The provider's own trace and span.
                let traceID = "4bf92f3577b34da6a3ce929d0e0e4736", providerSpan = "00f067aa0ba902b7"
                let emitted = try await api.call(
                    .POST, "/api/events", token: providerToken, body: #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"lead_1"}}"#,
                    headers: ["traceparent": "00-\(traceID)-\(providerSpan)-01"]
                )
                #expect(emitted.status == 202, "\(emitted.text)")
                let eventID = try #require(emitted.json["id"]?.stringValue)

                let delivered = try #require(try await eventuallyValue("the lead is delivered", timeout: .seconds(60)) {
                    receiver.received.first { $0.header("X-Herald-Event") == "lead.created" }
                })
                let sentParent = try #require(delivered.header("traceparent"), "the delivery carries a traceparent")
                // One trace context, the one the delivery log records (two `traceparent` headers are
                // an invalid trace to a receiver).
                #expect(delivered.headers.filter { $0.0.lowercased() == "traceparent" }.map(\.1) == [sentParent], "\(delivered.headers)")
                let parts = sentParent.split(separator: "-").map(String.init)
                #expect(parts.count == 4 && parts[1] == traceID, "the receiver's traceparent is in the provider's trace: \(sentParent)")

                let spans = try #require(try await eventuallyValue("the event's spans reach the collector", timeout: .seconds(60)) {
                    let spans = Self.spans(in: collector.received).filter { $0.traceID == traceID }
                    return Set(["herald.commit", "herald.fan-out", "herald.attempt"]).isSubset(of: spans.map(\.name)) ? spans : nil
                }, "\(server.output.suffix(3000))")
                func span(_ name: String) -> Span? { spans.first { $0.name == name } }
                // The request's span continues the provider's; the others hang under it.
                let request = try #require(spans.first { $0.parentSpanID == providerSpan }, "a span whose parent is the provider's: \(spans.map(\.name))")
                #expect(request.kind == 2, "the request's span is a server span")
                for name in ["herald.commit", "herald.fan-out", "herald.attempt"] {
                    #expect(span(name)?.parentSpanID == request.spanID, "\(name) is a child of the request's span")
                }
                #expect(span("herald.commit")?.attributes["herald.event.id"] == .string(eventID))
                #expect(span("herald.fan-out")?.attributes["herald.event.id"] == .string(eventID))
                #expect(span("herald.fan-out")?.attributes["herald.deliveries"]?.intValue ?? Int64(span("herald.fan-out")?.attributes["herald.deliveries"]?.stringValue ?? "") == 1)
                let attempt = try #require(span("herald.attempt"))
                // The attempt is the client span: the HTTP client makes none of its own, in this trace
                // or another (one would have ended, and been exported, before the attempt's).
                let clientSpans = Self.spans(in: collector.received).filter { $0.kind == 3 }
                #expect(clientSpans.map(\.name) == ["herald.attempt"], "\(clientSpans.map { ($0.name, $0.traceID) })")
                #expect(attempt.kind == 3, "the attempt is a client span")
                #expect(attempt.attributes["herald.event.id"] == .string(eventID))
                // Where it went, without the receiver's path (which may hold a secret).
                #expect(attempt.attributes["server.address"] == .string("127.0.0.1") && attempt.attributes["url.full"] == nil)
                #expect(parts.count == 4 && parts[2] == attempt.spanID, "the receiver's parent is the attempt's span")
                let status = attempt.attributes["http.response.status_code"]
                #expect(status?.intValue == 200 || status?.stringValue == "200", "\(String(describing: status))")
            }
        }
    }

    @Test func withoutACollectorNothingIsTracedAndNoTraceparentIsSent() async throws {
        // The in-process harness has no exporter: a provider's traceparent is not passed on.
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url("/crm"))","events":["lead.*"]}"#)
                let emitted = try await herald.call(
                    .POST, "/api/events", token: try await herald.providerToken(), body: #"{"type":"lead.created","data":{"lead_id":"lead_1"}}"#,
                    headers: ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
                )
                #expect(emitted.status == 202)
                let delivered = try #require(try await eventuallyValue("the lead is delivered") {
                    receiver.received.first { $0.header("X-Herald-Event") == "lead.created" }
                })
                #expect(delivered.header("traceparent") == nil)
                let stored = try await herald.store.events(since: 0, limit: 10)
                #expect(stored.allSatisfy { $0.traceContext == nil })
            }
        }
    }
}
