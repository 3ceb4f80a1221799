import Foundation
import HeraldCore
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import Synchronization
import Testing

/// A receiver that demands a client certificate (mutual TLS), on 127.0.0.1.
@Suite struct MutualTLSTests {
    static var openssl: String? { ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: FileManager.default.isExecutableFile(atPath:)) }

    /// A CA, a server certificate (for 127.0.0.1 unless `subjectAltName` names another) and a
    /// client certificate, made with openssl.
    static func makeCertificates(in directory: URL, subjectAltName: String = "IP:127.0.0.1") async throws -> (ca: String, serverCert: String, serverKey: String, clientCert: String, clientKey: String) {
        let openssl = try #require(Self.openssl)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        try "subjectAltName=\(subjectAltName)\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=Test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.pem"),
             "-days", "2", "-extfile", path("san.ext")],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("client.key"), "-out", path("client.csr"), "-subj", "/CN=herald-hook"],
            ["x509", "-req", "-in", path("client.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("client.pem"), "-days", "2"],
        ]
        for step in steps {
            let result = try await ExternalTools.run(openssl, step)
            #expect(result.status == 0, "\(result.output)")
        }
        let read = { (name: String) in try String(contentsOfFile: path(name), encoding: .utf8) }
        return (try read("ca.pem"), try read("server.pem"), try read("server.key"), try read("client.pem"), try read("client.key"))
    }

    @Test(.enabled(if: ExternalTools.runs(needing: openssl != nil), "needs openssl to make test certificates"))
    func aHookWithItsClientCertificateGetsThroughAndOneWithoutIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-mtls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pems = try await Self.makeCertificates(in: directory)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(pems.serverCert.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pems.serverKey.utf8), format: .pem))
        )
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pems.ca.utf8)))
        tls.certificateVerification = .noHostnameVerification  // a client certificate is required
        let received = Mutex<[String]>([])
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            received.withLock { $0.append(String(buffer: body)) }
            return Response(status: .ok)
        }
        var logger = Logger(label: "mtls-receiver")
        logger.logLevel = .critical
        try await withRunningApplication(logger: logger) { onPort in
            Application(
                router: router, server: try .tls(tlsConfiguration: tls), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { onPort($0.localAddress?.port ?? 0) }, logger: logger
            )
        } _: { port in
            try await HeraldHarness.run { herald in
                let bde = try await herald.makeTeam("bde")
                let certificate = JSONValue.object([("certificate", .string(pems.clientCert)), ("private_key", .string(pems.clientKey))])
                let withCertificate = JSONValue.object([
                    ("url", .string("https://127.0.0.1:\(port)/with")), ("events", .array([.string("lead.created")])), ("insecure_ssl", .bool(true)),
                    ("tls_client_certificate", certificate),
                ])
                let created = try await herald.call(.POST, "/api/hooks", token: bde.token, body: withCertificate.jsonString)
                #expect(created.status == 201, "\(created.text)")
                #expect(created.json["tls_client_certificate"]?["private_key"]?.stringValue == "********")
                #expect(!created.text.contains("PRIVATE KEY"))
                let without = try await herald.makeHook(bde, #"{"url":"https://127.0.0.1:\#(port)/without","events":["lead.created"],"insecure_ssl":true}"#)
                _ = try await herald.emit(try await herald.providerToken(), #"{"type":"lead.created","data":{"lead_id":"m1"}}"#)
                try await eventually("the hook with the certificate delivers") { received.withLock { $0.contains { $0.contains("m1") } } }
                try await eventually("the hook without fails on TLS") {
                    let log = try await herald.call(.GET, "/api/hooks/\(without.id)/deliveries?status=failure", token: bde.token)
                    guard let id = log.json["deliveries"]?.arrayValue?.first(where: { $0["event"]?.stringValue == "lead.created" })?["id"]?.stringValue else { return false }
                    let detail = try await herald.call(.GET, "/api/hooks/\(without.id)/deliveries/\(id)", token: bde.token)
                    let errors = detail.json["attempt_log"]?.arrayValue?.compactMap { $0["error"]?.stringValue } ?? []
                    return !errors.isEmpty && errors.allSatisfy { ["tls", "connect", "http"].contains($0) }
                }
                #expect(received.withLock { $0.filter { $0.contains("m1") }.count } == 1)
                let bad = try await herald.call(
                    .PATCH, "/api/hooks/\(created.json["id"]?.intValue ?? 0)", token: bde.token,
                    body: #"{"tls_client_certificate":{"certificate":"not a pem","private_key":"nope"}}"#
                )
                #expect(bad.status == 422)
            }
        }
    }
}
