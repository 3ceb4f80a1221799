import Foundation
import HeraldCore
import HeraldDelivery
import Testing

/// `--egress-proxy`: every delivery goes out through a real proxy process started by the test —
/// Debian's tinyproxy for HTTP, microsocks for SOCKS5 — and none goes around it.
@Suite struct EgressProxyTests {
    /// tinyproxy on a free port of 127.0.0.1, logging each request it carries.
    static func tinyproxy(in directory: URL) async throws -> (ChildProcess, Int) {
        let binary = try ExternalTools.require(ExternalTools.tinyproxy, "tinyproxy")
        let port = try RawSocketPort.unused()
        let config = directory.appendingPathComponent("tinyproxy.conf")
        try """
        Port \(port)
        Listen 127.0.0.1
        Timeout 30
        Allow 127.0.0.1
        MaxClients 50
        LogLevel Info
        """.write(to: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(binary: URL(fileURLWithPath: binary), arguments: ["-d", "-c", config.path], logDirectory: directory)
        try await ChildProcess.waitForPort(port)
        return (process, port)
    }

    /// A Herald whose egress goes through `proxy`, and one hook of team bde on a receiver: emits a
    /// lead and waits for it to arrive, then runs `then`.
    static func deliverOneLead(through proxy: String, then: @Sendable (TestReceiver) async throws -> Void) async throws {
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.egressProxy = EgressProxy(url: proxy)
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                _ = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let provider = try await herald.providerToken()
                #expect(try await herald.emit(provider, #"{"type":"lead.created","channels":["bde"],"data":{"lead_id":"l1"}}"#).status == 202)
                try await eventually("the lead arrives") { receiver.received.contains { $0.header("X-Herald-Event") == "lead.created" } }
                try await then(receiver)
            }
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.tinyproxy != nil), "needs Debian's tinyproxy"), .timeLimit(.minutes(2)))
    func deliveriesGoOutThroughAnHTTPProxy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-proxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (proxy, port) = try await Self.tinyproxy(in: directory)
        defer { proxy.stop() }
        try await Self.deliverOneLead(through: "http://127.0.0.1:\(port)") { receiver in
            // tinyproxy logs the tunnel it opened for Herald, to the receiver's port (the client
            // tunnels plain http targets too, so the proxy sees no request to add its Via to).
            _ = try await proxy.waitFor("Request \\(file descriptor \\d+\\): CONNECT 127\\.0\\.0\\.1:\(receiver.port) HTTP/1\\.1")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.microsocks != nil), "needs microsocks"), .timeLimit(.minutes(2)))
    func deliveriesGoOutThroughASOCKS5ProxyAndNotAroundIt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-socks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = try ExternalTools.require(ExternalTools.microsocks, "microsocks")
        let port = try RawSocketPort.unused()
        let socks = try ChildProcess(binary: URL(fileURLWithPath: binary), arguments: ["-i", "127.0.0.1", "-p", String(port)], logDirectory: directory)
        defer { socks.stop() }
        try await ChildProcess.waitForPort(port)
        try await Self.deliverOneLead(through: "socks5://127.0.0.1:\(port)") { receiver in
            // microsocks logs each connection it makes for a client: to the receiver's port.
            _ = try await socks.waitFor("connected to 127\\.0\\.0\\.1:\(receiver.port)")
        }
        // With the proxy gone, nothing goes around it: the attempt fails, the receiver gets nothing.
        socks.stop()
        try await TestReceiver.run { receiver in
            try await HeraldHarness.run { configuration in
                configuration.engine.egressProxy = EgressProxy(url: "socks5://127.0.0.1:\(port)")
            } _: { herald in
                let bde = try await herald.makeTeam("bde")
                let hook = try await herald.makeHook(bde, #"{"url":"\#(receiver.url())","events":["lead.*"]}"#)
                let failed = try await eventuallyValue("the ping's attempt fails at the proxy") {
                    let log = try await herald.call(.GET, "/api/hooks/\(hook.id)/deliveries", token: bde.token).json["deliveries"]?.arrayValue ?? []
                    return log.first { $0["status_code"] == .null && $0["attempts"]?.intValue ?? 0 >= 1 }
                }
                #expect(failed != nil)
                #expect(receiver.received.isEmpty)
            }
        }
    }

    @Test(arguments: ["ftp://127.0.0.1:21", "socks5://user:pw@127.0.0.1:1080", "http://", "127.0.0.1:3128", "http://127.0.0.1:3128/path"])
    func anUnreadableProxyIsRefused(url: String) {
        #expect(EgressProxy(url: url) == nil)
    }

    @Test func aProxyIsReadWithItsDefaultsAndShownWithoutItsPassword() throws {
        let http = try #require(EgressProxy(url: "http://egress:s%3Acret@proxy.internal"))
        #expect(http.kind == .http && http.port == 3128 && http.username == "egress" && http.password == "s:cret")
        #expect(http.description == "http://proxy.internal:3128")
        #expect(EgressProxy(url: "socks5://10.0.0.9")?.port == 1080)
    }
}
