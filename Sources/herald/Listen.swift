import ArgumentParser
import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldVerify
import Hummingbird
import Logging
import NIOCore

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local receiver that verifies each delivery and prints it (for development).",
        discussion: """
            Point a hook at http://127.0.0.1:PORT/ (with the server's --allow-private-targets). Each delivery
            is verified and printed: event, delivery id, the verification result, the pretty-printed payload.
            Unverified requests are answered 401.
            """
    )

    @OptionGroup var keys: VerificationKeyOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one.") var port = 9000
    @Option(help: "Forward verified deliveries (same headers and body) to this URL and answer with its status.") var forwardTo: String?
    @Option(help: "Answer every verified delivery with this status code, to try retries and redelivery.") var failWith: Int?

    func run() async throws {
        let verifier = try keys.verifier()
        if let failWith, !(100...599).contains(failWith) { throw ValidationError("--fail-with must be an HTTP status code") }
        var logger = Logger(label: "herald-listen")
        logger.logLevel = .warning
        let router = Router()
        let forwardTo = forwardTo
        let failWith = failWith
        let handle: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            let bytes = Array(body.readableBytesView)
            let headers = HeaderLookup(request.headers.map { ($0.name.rawName, $0.value) })
            let title = "── \(headers["X-Herald-Event"] ?? "?")  delivery \(headers["X-Herald-Delivery"] ?? headers["webhook-id"] ?? "?")"
                + "  hook \(headers["X-Herald-Hook-ID"] ?? "?")" + (headers["X-Herald-Redelivery"] == "true" ? "  (redelivery)" : "")
            let schemes: [WebhookVerifier.Scheme]
            do {
                schemes = try verifier.verify(headers: headers, body: bytes)
            } catch {
                Self.output("\(title)\n✗ rejected: \(error)\n")
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "signature verification failed: \(error)\n")))
            }
            Self.output("\(title)\n✓ verified (\(schemes.map(\.rawValue).joined(separator: ", ")))\n\(Self.pretty(bytes, contentType: headers["Content-Type"]))\n")
            if let failWith {
                Self.output("→ answered \(failWith) (--fail-with)\n")
                return Response(status: .init(code: failWith))
            }
            guard let forwardTo else { return Response(status: .noContent) }
            var forwarded = HTTPClientRequest(url: forwardTo)
            forwarded.method = .POST
            for field in request.headers where !["host", "content-length", "connection"].contains(field.name.canonicalName) {
                forwarded.headers.add(name: field.name.rawName, value: field.value)
            }
            forwarded.body = .bytes(body)
            do {
                let response = try await HTTPClient.shared.execute(forwarded, timeout: .seconds(30))
                let reply = try await response.body.collect(upTo: 1 << 20)
                Self.output("→ forwarded to \(forwardTo): \(response.status.code)\n")
                return Response(status: .init(code: Int(response.status.code)), body: .init(byteBuffer: reply))
            } catch {
                Self.output("→ forwarding to \(forwardTo) failed: \(error)\n")
                return Response(status: .badGateway)
            }
        }
        router.post("/", use: handle)
        router.post("**", use: handle)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "herald-listen"),
            onServerRunning: { [host] channel in
                Self.output("Listening on http://\(host):\(channel.localAddress?.port ?? 0)/ — waiting for deliveries\n")
            },
            logger: logger
        )
        try await app.runService()
    }

    static func output(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// The payload pretty-printed; form bodies are decoded from `payload=` first.
    static func pretty(_ bytes: [UInt8], contentType: String?) -> String {
        var text = String(decoding: bytes, as: UTF8.self)
        if contentType?.hasPrefix("application/x-www-form-urlencoded") == true, text.hasPrefix("payload=") {
            text = String(text.dropFirst(8)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? text
        }
        return (try? JSONValue(parsing: text).prettyString) ?? text
    }
}
