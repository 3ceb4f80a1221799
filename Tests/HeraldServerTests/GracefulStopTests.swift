import Foundation
import HeraldCore
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A stop never hangs: SIGTERM ends every open changes feed with its closing line (a WebSocket feed
/// with its close frame), cuts the attempt
/// a receiver never answers once `--stop-grace-seconds` is over, and exits 0; the cut delivery is
/// sent again after the restart.
@Suite struct GracefulStopTests {
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary), "needs the built herald executable"), .timeLimit(.minutes(3)))
    func aStopEndsEveryFeedCutsAHangingAttemptAndExitsWithinItsBound() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-stop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (teamToken, providerToken) = try await HeraldHarness.prepareDataDirectory(dataDirectory, databases: ["leads"])
        let arguments = [
            "serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--stop-grace-seconds", "3",
            "--max-feeds-per-token", "100", "--max-feeds-per-team", "100",
        ]
        let hanging = Atomic<Bool>(true)
        try await TestReceiver.run { receiver in
            // Until the restart, the receiver answers no request within the hook's 30 s timeout (a longer
            // delay would only keep the receiver's own shutdown waiting at the end of the test).
            receiver.respond { _, _ in hanging.load(ordering: .relaxed) ? .init(delay: .seconds(31)) : .init() }
            let herald = try ChildProcess(binary: binary, arguments: arguments)
            defer { herald.stop() }
            let port = try await herald.waitForPort()
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)")
            let hook = try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["lead.*"],"timeout_seconds":30}"#)
            #expect(hook.status == 201, "\(hook.text)")

            // Twenty open feeds of each kind.
            var feeds: [(kind: String, socket: RawSocket)] = []
            for kind in ["continuous", "eventsource", "longpoll"] {
                for _ in 0..<20 {
                    let socket = try RawSocket(port: port)
                    socket.send("GET /api/events?feed=\(kind)&since=1000000&timeout=120000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(teamToken)\r\n\r\n")
                    feeds.append((kind, socket))
                }
            }
            // Twenty WebSocket feeds: each switched, sent its options at once (a client's frame, masked
            // with a key of zeros), and caught up (`[]`) before the next.
            for _ in 0..<20 {
                let socket = try RawSocket(port: port)
                socket.send(
                    "GET /db/leads/_changes?feed=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(teamToken)\r\n\r\n"
                )
                let head = await socket.readHead(within: .seconds(10))
                #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
                let options = Array(#"{"since":1000000,"timeout":120000}"#.utf8)
                socket.send(bytes: [0x81, 0x80 | UInt8(options.count), 0, 0, 0, 0] + options)
                let caughtUp = await socket.readBytes(within: .seconds(10), count: 4)
                #expect(caughtUp == [0x81, 0x02] + Array("[]".utf8), "\(caughtUp)")
                feeds.append(("websocket", socket))
            }
            // Every stream has its head; a long poll has nothing to say yet.
            for (kind, socket) in feeds where kind == "continuous" || kind == "eventsource" {
                let head = await socket.readHead(within: .seconds(10))
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(kind): \(head)")
            }

            // The lead's attempt starts last, so a loaded machine's slow set-up cannot outlast its 30 s.
            #expect(try await api.call(.POST, "/api/events", token: providerToken, body: #"{"type":"lead.created","data":{"lead_id":"cut"}}"#).status == 202)
            let cutID = try #require(try await eventuallyValue("the attempt is in flight at the receiver") {
                receiver.received.first { $0.header("X-Herald-Event") == "lead.created" }?.header("X-Herald-Delivery")
            })

            let stopping = ContinuousClock.now
            herald.process.send(SIGTERM)
            let status = try await herald.exited(timeout: .seconds(60))
            let took = ContinuousClock.now - stopping
            print("the stop took \(took) with 80 feeds open and an attempt that never ends (grace 3 s, the hook's timeout 30 s)")
            #expect(status == 0, "\(herald.output.suffix(3000))")
            // Neither the hook's 30 s timeout nor the feeds' two minutes held it.
            #expect(took < .seconds(20), "\(took)")
            #expect(herald.output.contains("attempts still in flight when the stop's grace ended were cut"), "\(herald.output.suffix(3000))")
            for (kind, socket) in feeds {
                if kind == "websocket" {
                    // The close frame: normal closure (1000); pings (every 30 s) may come before it.
                    let rest = await socket.readBytes(within: .seconds(2))
                    var frames: [(opcode: UInt8, payload: ArraySlice<UInt8>)] = []
                    var at = rest.startIndex
                    while at + 1 < rest.endIndex, rest[at + 1] < 126, at + 2 + Int(rest[at + 1]) <= rest.endIndex {
                        frames.append((rest[at] & 0x0F, rest[(at + 2)..<(at + 2 + Int(rest[at + 1]))]))
                        at += 2 + Int(rest[at + 1])
                    }
                    let notPings = frames.filter { $0.opcode != 0x9 }
                    #expect(at == rest.endIndex && notPings.map(\.opcode) == [0x8] && notPings.first?.payload.elementsEqual([0x03, 0xE8]) == true, "\(rest)")
                    continue
                }
                let rest = await socket.readAll(within: .seconds(2))
                switch kind {
                case "continuous": #expect(rest.contains(#"{"last_seq":"#), "\(kind): \(rest)")
                case "eventsource": #expect(rest.contains("event: end\ndata: {\"last_seq\":"), "\(kind): \(rest)")
                case "websocket": break
                default: #expect(rest.hasPrefix("HTTP/1.1 200") && rest.contains(#""last_seq":"#), "\(kind): \(rest)")
                }
            }

            // After the restart the cut delivery is sent again, the same delivery.
            hanging.store(false, ordering: .relaxed)
            let again = try ChildProcess(binary: binary, arguments: arguments)
            defer { again.stop() }
            _ = try await again.waitForPort()
            try await eventually("the cut delivery is sent again", timeout: .seconds(30)) {
                receiver.received.filter { $0.header("X-Herald-Delivery") == cutID }.count >= 2
            }
        }
    }
}
