import ArgumentParser
import Foundation

struct Emit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Emit an event through a running server's API.")

    @Argument(help: "The event type, e.g. lead.created.") var type: String
    @Option(help: "The event's data as JSON.") var data: String = "{}"
    @Option(help: "Channels to route the event to, comma-separated.") var channels: String?
    @Option(help: "Idempotency key: a repeated key returns the first event.") var idempotencyKey: String?
    @Option(help: "The server's base URL (env HERALD_URL).") var url: String = ProcessInfo.processInfo.environment["HERALD_URL"] ?? "http://127.0.0.1:8080"
    @Option(help: "A provider or admin token (env HERALD_TOKEN).") var token: String?

    func run() async throws {
        guard let token = token ?? ProcessInfo.processInfo.environment["HERALD_TOKEN"] else { throw ValidationError("pass --token or set HERALD_TOKEN") }
        var body = "{\"type\":\(jsonString(type)),\"data\":\(data)"
        if let channels {
            body += ",\"channels\":[" + channels.split(separator: ",").map { jsonString(String($0)) }.joined(separator: ",") + "]"
        }
        if let idempotencyKey { body += ",\"idempotency_key\":\(jsonString(idempotencyKey))" }
        body += "}"
        let (status, text) = try await ServerAPI(url: url, token: token).call(.POST, "/api/events", body: body)
        print(text)
        if status >= 300 { throw ExitCode(1) }
    }

    func jsonString(_ value: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [value], options: [])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
