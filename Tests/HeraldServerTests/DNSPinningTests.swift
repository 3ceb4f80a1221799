import AsyncHTTPClient
import Foundation
@testable import HeraldDelivery
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Synchronization
import Testing

/// A request connects to the address the SSRF guard checked, not to a second resolution's answer.
///
/// The names end in `.test`, which no resolver on this machine answers: a request can only reach
/// the receiver on 127.0.0.1 through the address the guard's resolver gave and checked.
@Suite struct DNSPinningTests {
    /// A resolver that answers from a table and counts its calls.
    final class Resolver: Sendable {
        let table: Mutex<[String: [String]]>
        let calls = Mutex<[String]>([])
        init(_ table: [String: [String]]) { self.table = Mutex(table) }
        func resolve(_ host: String) -> [String] {
            calls.withLock { $0.append(host) }
            return table.withLock { $0[host] ?? [] }
        }
        func answer(_ host: String, with addresses: [String]) { table.withLock { $0[host] = addresses } }
    }

    static func loopbackOnlyGuard(_ resolver: Resolver) throws -> TargetGuard {
        TargetGuard(allowPrivateTargets: false, allowedNetworks: [try #require(IPNetwork("127.0.0.1/32"))]) { resolver.resolve($0) }
    }

    /// The `Host` of each request the receiver got.
    final class Seen: Sendable {
        let hosts = Mutex<[String]>([])
    }

    static func receiverRouter(_ seen: Seen) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("**") { request, _ -> Response in
            seen.hosts.withLock { $0.append(request.head.authority ?? "") }
            return Response(status: .ok)
        }
        return router
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "pinning-receiver")
        logger.logLevel = .critical
        return logger
    }()

    /// As the engine's: a failed connection is one failed attempt, not retried inside the client.
    static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    func post(_ clients: GuardedClients, _ url: String, tls: TLSConfiguration? = nil) async throws -> UInt {
        try await clients.withClient(for: url, insecure: false) { client in
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: "{}"))
            request.tlsConfiguration = tls
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 16)
            return response.status.code
        }
    }

    /// A clock the test moves.
    final class TestClock: Sendable {
        private let offset = Mutex<Duration>(.zero)
        private let start = ContinuousClock.now
        var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
        func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    }

    @Test func aNameIsConnectedToTheAddressTheGuardCheckedAndCheckedAgainWhenItsVerdictEnds() async throws {
        let seen = Seen()
        try await withRunningApplication(logger: Self.quietLogger) { onPort in
            Application(
                router: Self.receiverRouter(seen), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: Self.quietLogger
            )
        } _: { port in
            let resolver = Resolver(["receiver.herald.test": ["127.0.0.1"]])
            let clock = TestClock()
            let clients = GuardedClients(
                targetGuard: try Self.loopbackOnlyGuard(resolver), configuration: Self.clientConfiguration, verdictLifetime: .seconds(30),
                now: { clock.now }
            )
            defer { Task { await clients.shutdown() } }
            let url = "http://receiver.herald.test:\(port)/hook"
            #expect(try await post(clients, url) == 200)
            #expect(try await post(clients, url) == 200)
            // Sent as the name, to the checked address; resolved once by the guard, whose verdict
            // stands for its lifetime.
            #expect(seen.hosts.withLock { $0 } == ["receiver.herald.test:\(port)", "receiver.herald.test:\(port)"])
            #expect(resolver.calls.withLock { $0 } == ["receiver.herald.test"])
            #expect(clients.pinnedCount == 1)

            // The name now answers a private address. Within the verdict's lifetime the request
            // still goes to the address that was checked (the receiver gets it), never to the new one.
            resolver.answer("receiver.herald.test", with: ["10.0.0.7"])
            clock.advance(by: .seconds(29))
            #expect(try await post(clients, url) == 200)
            #expect(seen.hosts.withLock { $0.count } == 3)
            // Once it ends, the name is resolved again and refused before any connection; a refusal
            // is not kept, so each later try resolves afresh.
            clock.advance(by: .seconds(1))
            await #expect(throws: TargetRefused.self) { _ = try await post(clients, url) }
            #expect(resolver.calls.withLock { $0 } == ["receiver.herald.test", "receiver.herald.test"])
            // One public and one private answer: refused too (every answer is checked).
            resolver.answer("receiver.herald.test", with: ["93.184.216.34", "169.254.169.254"])
            do {
                _ = try await post(clients, url)
                Issue.record("a name with a metadata address among its answers was accepted")
            } catch let refused as TargetRefused {
                // Refused without saying which internal address the name has (no resolver oracle).
                #expect(refused.reason.contains("non-public") && !refused.reason.contains("169.254"), "\(refused.reason)")
            }
            #expect(seen.hosts.withLock { $0.count } == 3)
            #expect(resolver.calls.withLock { $0.count } == 3)
            let (errorClass, message) = DeliverySender.classify(TargetRefused(reason: "the host x resolves to 10.0.0.7, a non-public address"))
            #expect(errorClass == .refused && message.contains("10.0.0.7"))
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: MutualTLSTests.openssl != nil), "needs openssl to make test certificates"))
    func tlsStillVerifiesTheNameWhenTheConnectionIsPinned() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-pinning-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pems = try await MutualTLSTests.makeCertificates(in: directory, subjectAltName: "DNS:receiver.herald.test")
        let serverTLS = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(pems.serverCert.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pems.serverKey.utf8), format: .pem))
        )
        let seen = Seen()
        try await withRunningApplication(logger: Self.quietLogger) { onPort in
            Application(
                router: Self.receiverRouter(seen), server: try .tls(tlsConfiguration: serverTLS),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: Self.quietLogger
            )
        } _: { port in
            let resolver = Resolver(["receiver.herald.test": ["127.0.0.1"], "impostor.herald.test": ["127.0.0.1"]])
            let clients = GuardedClients(targetGuard: try Self.loopbackOnlyGuard(resolver), configuration: Self.clientConfiguration)
            defer { Task { await clients.shutdown() } }
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pems.ca.utf8)))
            #expect(try await post(clients, "https://receiver.herald.test:\(port)/hook", tls: trusting) == 200)
            // Same address, a name the certificate does not hold: the handshake fails on the name.
            do {
                _ = try await post(clients, "https://impostor.herald.test:\(port)/hook", tls: trusting)
                Issue.record("a certificate for another name was accepted")
            } catch {
                #expect(DeliverySender.classify(error).0 == .tls, "\(error)")
            }
            #expect(seen.hosts.withLock { $0 } == ["receiver.herald.test:\(port)"])
        }
    }
}
