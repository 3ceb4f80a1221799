import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import HeraldServer

/// The HTTP server bounds what idle and stalled clients can hold: connections past the cap are
/// closed as soon as they are accepted, and connections that send nothing are closed after the
/// idle timeout, while a long feed being written is not cut.
@Suite struct ConnectionLimitTests {
    @Test func connectionsPastTheCapAreClosedAtOnceAndTheOthersServeAgainOnceFreed() async throws {
        try await HeraldHarness.run(configure: { $0.maxConnections = 4; $0.idleTimeout = .seconds(120) }) { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            var idle: [RawSocket] = []
            for _ in 0..<4 { idle.append(try RawSocket(port: port)) }
            try await eventually("the server holds the four idle connections") { herald.services.connections.count == 4 }
            // The fifth is closed long before any idle timeout (120 s) could.
            let fifth = try RawSocket(port: port)
            #expect(await fifth.closedByServer(within: .seconds(10)))
            idle.removeAll()
            try await eventually("the idle connections are released") { herald.services.connections.count == 0 }
            #expect(try await herald.call(.GET, "/healthz", token: nil).status == 200)
        }
    }

    @Test func aConnectionThatSendsNothingIsClosedButALongFeedIsNot() async throws {
        try await HeraldHarness.run(configure: { $0.idleTimeout = .seconds(1) }) { herald in
            let port = try #require(Int(herald.baseURL.split(separator: ":").last ?? ""))
            let silent = try RawSocket(port: port)
            // A head that never ends (a byte, then nothing) is cut the same way.
            let dribbling = try RawSocket(port: port)
            dribbling.send("GET /healthz HT")
            #expect(await silent.closedByServer(within: .seconds(15)))
            #expect(await dribbling.closedByServer(within: .seconds(15)))
            // A changes feed streams for three idle timeouts and ends on its own terms.
            let provider = try await herald.providerToken()
            let response = try await herald.call(.GET, "/api/events?feed=continuous&heartbeat=300&timeout=3000", token: provider)
            #expect(response.status == 200)
            #expect(response.text.hasSuffix("\n") && response.text.contains("last_seq"), "\(response.text)")
        }
    }
}

/// A client socket that connects and sends nothing.
final class RawSocket: Sendable {
    let descriptor: Int32

    /// Connects to 127.0.0.1:`port`, from `source` (another loopback address) when given.
    init(port: Int, from source: String? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(descriptor)
                throw ChildProcessError(description: "cannot bind to \(source): \(String(cString: strerror(errno)))")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw ChildProcessError(description: "cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the server closed the connection within `timeout` (waited for on a dispatch thread,
    /// not on the concurrency pool the server in this process needs).
    func closedByServer(within timeout: Duration) async -> Bool {
        let (descriptor, milliseconds) = (self.descriptor, Int32(timeout.components.seconds * 1000))
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let deadline = ContinuousClock.now + timeout
                var ready = poll(&poller, 1, milliseconds)
                // A signal (a child process of another test ended) interrupts the wait: wait on.
                while ready < 0 && errno == EINTR && ContinuousClock.now < deadline {
                    let left = deadline - ContinuousClock.now
                    ready = poll(&poller, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                }
                guard ready == 1 else { return continuation.resume(returning: false) }
                var byte: UInt8 = 0
                continuation.resume(returning: read(descriptor, &byte, 1) <= 0)
            }
        }
    }

    /// Writes `text` (a request or part of one).
    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
    }

    /// Everything the server sends until it closes the connection or `timeout` passes (read on a
    /// dispatch thread, not on the concurrency pool the server in this process needs).
    func readAll(within timeout: Duration) async -> String {
        String(decoding: await readBytes(within: timeout), as: UTF8.self)
    }

    /// Writes `bytes` (a WebSocket frame).
    func send(bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
    }

    /// A response's head (and whatever came with it): read until the blank line that ends it, or
    /// `timeout`.
    func readHead(within timeout: Duration) async -> String {
        String(decoding: await readBytes(within: timeout, until: Array("\r\n\r\n".utf8)), as: UTF8.self)
    }

    /// ``readAll(within:)`` as bytes, returning early once `count` bytes have come, or once what
    /// came holds `until`.
    func readBytes(within timeout: Duration, count: Int = .max, until end: [UInt8]? = nil) async -> [UInt8] {
        let descriptor = self.descriptor
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let deadline = ContinuousClock.now + timeout
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while ContinuousClock.now < deadline, received.count < count {
                    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&poller, 1, 100)
                    if ready < 0 && errno == EINTR { continue }  // a signal (a child process of another test ended)
                    guard ready >= 0 else { break }
                    if poller.revents == 0 { continue }
                    let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
                    if count <= 0 { break }
                    received += chunk[..<count]
                    if let end, received.count >= end.count, (0...(received.count - end.count)).contains(where: { received[$0..<($0 + end.count)].elementsEqual(end) }) {
                        break
                    }
                }
                continuation.resume(returning: received)
            }
        }
    }

    deinit { close(descriptor) }
}

/// Ports for tests.
enum RawSocketPort {
    /// A port on 127.0.0.1 that nothing listens on: bound by the system, then closed.
    static func unused() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw ChildProcessError(description: "cannot bind a port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
