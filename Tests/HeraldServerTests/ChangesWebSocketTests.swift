import Foundation
import HeraldCore
import Testing

/// `GET /db/{db}/_changes?feed=websocket` as Sync Gateway serves it, read by websocket-client from
/// PyPI: the options as the first message, each page a JSON array, `[]` once caught up, empty
/// messages as heartbeats, and refusals as close codes a client can read.
@Suite struct ChangesWebSocketTests {
    static let module = "websocket"

    /// Follows the feed with `options`, writes document `b` once the feed has caught up, and prints
    /// every message received (as JSON strings) until `pages` messages other than heartbeats have
    /// come, and then a heartbeat when `heartbeat` is "1". Heartbeats may come between any two.
    static let follower = """
        import json, sys, urllib.request, websocket
        base, token, options, write_token, pages, heartbeat = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6] == "1"
        ws = websocket.create_connection(base.replace("http://", "ws://") + "/db/leads/_changes?feed=websocket",
                                         header=["Authorization: Bearer " + token], timeout=20)
        ws.send(options)
        seen = []
        while len([m for m in seen if m != ""]) < pages or (heartbeat and seen[-1] != ""):
            seen.append(ws.recv())
            if seen[-1] == "[]" and write_token:
                request = urllib.request.Request(base + "/db/leads/b", data=b'{"n":2,"channels":["bde"]}', method="PUT",
                                                 headers={"Authorization": "Bearer " + write_token, "Content-Type": "application/json"})
                urllib.request.urlopen(request).read()
                write_token = ""
        ws.close()
        print(json.dumps(seen))
        """

    /// Opens the feed and prints the close frame's code and reason the server answers with.
    static let refused = """
        import json, struct, sys, websocket
        base, path, token, options = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
        ws = websocket.create_connection(base.replace("http://", "ws://") + path,
                                         header=["Authorization: Bearer " + token] if token else [], timeout=20)
        if options != "-":
            ws.send(options)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE, opcode
        print(json.dumps({"code": struct.unpack("!H", data[:2])[0], "reason": data[2:].decode()}))
        """

    /// Opens feeds one after another, each with a 300 ms timeout, and prints how each ended: the
    /// opcodes received (1 text, 8 close) and the close code.
    static let timingOut = """
        import json, struct, sys, websocket
        base, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        ended = []
        for _ in range(count):
            ws = websocket.create_connection(base.replace("http://", "ws://") + "/db/leads/_changes?feed=websocket",
                                             header=["Authorization: Bearer " + token], timeout=20)
            ws.send('{"since":0,"timeout":300}')
            seen = []
            while True:
                opcode, data = ws.recv_data(control_frame=True)
                seen.append(opcode)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    ended.append({"opcodes": seen, "code": struct.unpack("!H", data[:2])[0]})
                    break
            ws.close()
        print(json.dumps(ended))
        """

    /// Signs in by cookie (`POST /db/_session`), opens the feed with that cookie from `origin`, and
    /// prints the first frame: a close's code, or the first message.
    static let byCookie = """
        import json, struct, sys, urllib.request, websocket
        base, token, origin = sys.argv[1], sys.argv[2], sys.argv[3]
        login = urllib.request.Request(base + "/db/_session", data=json.dumps({"name": "ana", "password": token}).encode(),
                                       headers={"Content-Type": "application/json"}, method="POST")
        cookie = urllib.request.urlopen(login).headers["Set-Cookie"].split(";")[0]
        ws = websocket.create_connection(base.replace("http://", "ws://") + "/db/leads/_changes?feed=websocket",
                                         cookie=cookie, origin=origin, timeout=20)
        ws.send('{"since":0}')
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            print(json.dumps({"code": struct.unpack("!H", data[:2])[0], "reason": data[2:].decode()}))
        else:
            print(json.dumps({"message": data.decode()}))
        """

    static func run(_ script: String, _ arguments: [String]) async throws -> JSONValue {
        let python = try await ExternalTools.requirePython(importing: module)
        let result = try await ExternalTools.run(python, ["-c", script] + arguments)
        #expect(result.status == 0, "\(result.output)")
        return try JSONValue(parsing: Data((result.output.split(separator: "\n").last.map(String.init) ?? "").utf8))
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython(Self.module)), "needs Python with websocket-client"))
    func aWebSocketFollowsChangesAsSyncGatewaySendsThem() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            #expect(try await herald.call(.PUT, "/db/leads/a", token: provider, body: #"{"n":1,"channels":["bde"]}"#).status == 201)
            #expect(try await herald.call(.PUT, "/db/leads/hidden", token: provider, body: #"{"n":0,"channels":["cce"]}"#).status == 201)
            let bde = try await herald.makeTeam("bde")
            #expect(try await herald.call(.PUT, "/api/teams/bde/channels", token: herald.adminToken, body: #"{"channels":["bde"]}"#).status == 200)

            // A team token: its channel's documents only, bodies included, then a heartbeat.
            let seen = try await Self.run(Self.follower, [herald.baseURL, bde.token, #"{"since":0,"include_docs":true,"heartbeat":100}"#, provider, "3", "1"])
            let messages = try #require(seen.arrayValue).compactMap(\.stringValue)
            let pages = messages.filter { !$0.isEmpty }
            try #require(pages.count == 3 && messages.last == "", "three pages, then a heartbeat while idle: \(messages)")
            let first = try JSONValue(parsing: Data(pages[0].utf8))
            #expect(first.arrayValue?.map { $0["id"]?.stringValue } == ["a"], "\(pages[0])")
            #expect(first.arrayValue?.first?["doc"]?["n"] == .int(1))
            #expect(pages[1] == "[]", "caught up")
            let second = try JSONValue(parsing: Data(pages[2].utf8))
            #expect(second.arrayValue?.map { $0["id"]?.stringValue } == ["b"], "\(pages[2])")
            #expect(second.arrayValue?.first?["changes"]?.arrayValue?.first?["rev"]?.stringValue?.hasPrefix("1-") == true)

            // The provider's token, from a `since` and with a limit: the feed ends after it.
            let afterA = try #require(first.arrayValue?.first?["seq"]?.intValue)
            let limited = try await Self.run(Self.follower, [herald.baseURL, provider, #"{"since":"\#(afterA)","limit":1}"#, "", "1", "0"])
            let page = try JSONValue(parsing: Data((limited.arrayValue?.first?.stringValue ?? "").utf8))
            #expect(page.arrayValue?.map { $0["id"]?.stringValue } == ["hidden"], "\(limited)")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython(Self.module)), "needs Python with websocket-client"))
    func aRefusedWebSocketClosesWithTheStatusAndReason() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            let feed = "/db/leads/_changes?feed=websocket"
            let anonymous = try await Self.run(Self.refused, [herald.baseURL, feed, "", "{}"])
            #expect(anonymous["code"] == .int(4401), "\(anonymous)")
            #expect(anonymous["reason"]?.stringValue?.contains("token") == true, "\(anonymous)")
            let missing = try await Self.run(Self.refused, [herald.baseURL, "/db/nowhere/_changes?feed=websocket", provider, "{}"])
            #expect(missing["code"] == .int(4404), "\(missing)")
            let notAFeed = try await Self.run(Self.refused, [herald.baseURL, "/db/leads/_changes", provider, "{}"])
            #expect(notAFeed["code"] == .int(4400), "\(notAFeed)")
            // Options that are not a JSON object, or that ask for what the feed cannot do, end it with a 4400.
            let badOptions = try await Self.run(Self.refused, [herald.baseURL, feed, provider, "[1]"])
            #expect(badOptions["code"] == .int(4400), "\(badOptions)")
            #expect(badOptions["reason"]?.stringValue?.contains("JSON object") == true)
            let badFilter = try await Self.run(Self.refused, [herald.baseURL, feed, provider, #"{"filter":"nope"}"#])
            #expect(badFilter["code"] == .int(4400), "\(badFilter)")
            let backwards = try await Self.run(Self.refused, [herald.baseURL, feed, provider, #"{"descending":true}"#])
            #expect(backwards["code"] == .int(4400), "\(backwards)")
            #expect(backwards["reason"]?.stringValue?.contains("descending") == true)
            // A `feed` among the options does not turn the WebSocket into another feed: it still streams.
            let named = try await Self.run(Self.byCookie.replacingOccurrences(of: #"ws.send('{"since":0}')"#, with: #"ws.send('{"since":0,"feed":"normal"}')"#), [herald.baseURL, provider, herald.baseURL])
            #expect(named["message"]?.stringValue == "[]", "\(named)")
            // A socket that never sends its options is closed after 10 s with 4408.
            let silent = try await Self.run(Self.refused, [herald.baseURL, feed, provider, "-"])
            #expect(silent["code"] == .int(4408), "\(silent)")
            #expect(silent["reason"]?.stringValue?.contains("did not come") == true)
            // Without the upgrade, feed=websocket is a clear 400.
            let plain = try await herald.call(.GET, "/db/leads/_changes?feed=websocket", token: provider)
            #expect(plain.status == 400)
            #expect(plain.json["reason"]?.stringValue?.contains("WebSocket") == true, "\(plain.text)")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython(Self.module)), "needs Python with websocket-client"))
    func aFeedEndsAtItsTimeoutWithANormalCloseAndGivesItsSlotBack() async throws {
        try await HeraldHarness.run(configure: { $0.maxFeedsPerToken = 2 }) { herald in
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            // Five feeds in a row on a token that may hold two: each must have given its slot back.
            let ended = try await Self.run(Self.timingOut, [herald.baseURL, try await herald.providerToken(), "5"])
            let expected = JSONValue.object([("opcodes", .array([.int(1), .int(8)])), ("code", .int(1000))])
            #expect(ended == .array(Array(repeating: expected, count: 5)), "\(ended)")
        }
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython(Self.module)), "needs Python with websocket-client"))
    func aFeedSignedInByCookieOpensOnlyFromThisServersOrigin() async throws {
        try await HeraldHarness.run { herald in
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            let provider = try await herald.providerToken()
            // A page elsewhere cannot ride the cookie (browsers send it with any page's WebSocket).
            let foreign = try await Self.run(Self.byCookie, [herald.baseURL, provider, "https://elsewhere.example"])
            #expect(foreign["code"] == .int(4403), "\(foreign)")
            let own = try await Self.run(Self.byCookie, [herald.baseURL, provider, herald.baseURL])
            #expect(own["message"]?.stringValue == "[]", "\(own)")
        }
    }
}
