import Foundation
import HTTPTypes
import HeraldVerify
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP receiver on 127.0.0.1 that records every request and answers as told.
final class TestReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [(String, String)]
        var body: [UInt8]
        var bodyString: String { String(decoding: body, as: UTF8.self) }

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var lookup: HeaderLookup { HeaderLookup(headers) }
    }

    struct Reply: Sendable {
        var status: Int = 200
        var headers: [String: String] = [:]
        var body: String = "ok"
        var delay: Duration = .zero
    }

    /// Decides the reply from every request received so far (this one last) and this request.
    typealias Responder = @Sendable ([Received], Received) -> Reply

    private let state = Mutex<(received: [Received], responder: Responder)>(([], { _, _ in Reply() }))
    private let boundPort = Mutex(0)
    var port: Int { boundPort.withLock { $0 } }

    var received: [Received] { state.withLock { $0.received } }

    func respond(_ responder: @escaping Responder) {
        state.withLock { $0.responder = responder }
    }

    func url(_ path: String = "/hook") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Runs the receiver for the duration of `body`.
    static func run<T: Sendable>(_ body: @Sendable (TestReceiver) async throws -> T) async throws -> T {
        let receiver = TestReceiver()
        let router = Router()
        // GETs are answered too: a receiver can stand in for a provider's page (a portal's frame).
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 4 << 20)
            let received = Received(
                path: request.uri.path, headers: request.headers.map { ($0.name.rawName, $0.value) }, body: Array(bytes.readableBytesView)
            )
            let reply = receiver.state.withLock { state -> Reply in
                state.received.append(received)
                return state.responder(state.received, received)
            }
            if reply.delay > .zero { try await Task.sleep(for: reply.delay) }
            var headers = HTTPFields()
            for (name, value) in reply.headers { headers[HTTPField.Name(name)!] = value }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        router.post("**", use: handler)
        router.get("**", use: handler)
        var logger = Logger(label: "receiver")
        logger.logLevel = .warning
        return try await withRunningApplication(logger: logger) { onPort in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: logger)
        } _: { port in
            receiver.boundPort.withLock { $0 = port }
            return try await body(receiver)
        }
    }
}
