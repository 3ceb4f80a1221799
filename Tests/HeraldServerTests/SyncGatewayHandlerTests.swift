import Foundation
import HeraldCore
import HeraldVerify
import Testing

/// A Sync Gateway config file's `event_handlers`, run unchanged: the seed guide's three examples
/// against real receivers on 127.0.0.1.
@Suite struct SyncGatewayHandlerTests {
    static var workerBuilt: Bool { ExternalTools.jsWorkerBuilt }

    /// The seed's handler block, inside a Sync Gateway config with settings Herald ignores.
    static func config(database: String = "leads", handlers: String) -> String {
        """
        {
          "interface": ":4984",
          "adminInterface": "127.0.0.1:4985",
          "log": ["Event"],
          "databases": {
            "\(database)": {
              "server": "walrus:",
              "bucket": "\(database)",
              "users": {"GUEST": {"disabled": false, "admin_channels": ["*"]}},
              "event_handlers": \(handlers)
            }
          }
        }
        """
    }

    static func run(_ text: String, dataDirectory: URL? = nil, _ body: @Sendable @escaping (HeraldHarness) async throws -> Void) async throws {
        let config = try SyncGatewayConfig(text: text)
        try await HeraldHarness.run { configuration in
            configuration.syncGateway = config
            // The offline event at a stop must arrive: a loaded machine (the whole suite at once)
            // can take longer than serve's 5 s to fan it out and send it.
            configuration.engine.stopDrainLimit = .seconds(60)
            if let dataDirectory { configuration.dataDirectory = dataDirectory }
        } _: { herald in try await body(herald) }
    }

    func put(_ herald: HeraldHarness, _ path: String, _ body: String) async throws -> JSONValue {
        let response = try await herald.call(.PUT, path, token: herald.adminToken, body: body)
        #expect(response.status == 201, "\(response.text)")
        return response.json
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func aSingleHandlerGetsEveryChangedDocumentAsSyncGatewayPostsIt() async throws {
        try await TestReceiver.run { receiver in
            let text = Self.config(handlers: #"""
                {
                	"document_changed": [
                		{
                			"handler": "webhook",
                			"url": "\#(receiver.url("/changes"))"
                		}
                	]
                }
                """#)
            try await Self.run(text) { herald in
                let first = try await put(herald, "/db/leads/lead-1", #"{"type":"A","name":"Ana"}"#)
                let rev1 = try #require(first["rev"]?.stringValue)
                let second = try await put(herald, "/db/leads/lead-1", #"{"_rev":"\#(rev1)","type":"A","name":"Ana B."}"#)
                let rev2 = try #require(second["rev"]?.stringValue)
                let deleted = try await herald.call(.DELETE, "/db/leads/lead-1?rev=\(rev2)", token: herald.adminToken)
                #expect(deleted.status == 200)
                let rev3 = try #require(deleted.json["rev"]?.stringValue)
                try await eventually("three POSTs") { receiver.received.count >= 3 }
                // No ping first: a Sync Gateway receiver expects documents only.
                // Unordered, like Sync Gateway's handlers: the three may arrive in any order.
                let bodies = Dictionary(
                    try receiver.received.map { let body = try JSONValue(parsing: $0.body); return (body["_rev"]?.stringValue ?? "", body) },
                    uniquingKeysWith: { a, _ in a }
                )
                #expect(bodies.count == 3)
                #expect(bodies[rev1] == (try JSONValue(parsing: #"{"_id":"lead-1","_rev":"\#(rev1)","type":"A","name":"Ana"}"#)))
                #expect(bodies[rev2] == (try JSONValue(parsing: #"{"_id":"lead-1","_rev":"\#(rev2)","type":"A","name":"Ana B."}"#)))
                #expect(bodies[rev3] == (try JSONValue(parsing: #"{"_id":"lead-1","_rev":"\#(rev3)","_deleted":true}"#)))
                for request in receiver.received {
                    #expect(request.header("Content-Type") == "application/json")
                    #expect(request.header("X-Hub-Signature-256")?.hasPrefix("sha256=") == true)
                    #expect(request.header("webhook-signature") != nil)
                }
                // The hook is the file's: shown as managed, and read-only.
                let hooks = try await herald.call(.GET, "/api/hooks", token: herald.adminToken).json["hooks"]?.arrayValue ?? []
                let hook = try #require(hooks.first { $0["managed_by"] != .null })
                #expect(hook["managed_by"]?.stringValue == "config file: databases.leads.event_handlers.document_changed[0]")
                #expect(hook["payload_format"]?.stringValue == "sync_gateway")
                #expect(hook["timeout_seconds"] == .int(60))
                let id = try #require(hook["id"]?.intValue)
                let patch = try await herald.call(.PATCH, "/api/hooks/\(id)", token: herald.adminToken, body: #"{"url":"http://127.0.0.1:1/x"}"#)
                #expect(patch.status == 409)
                #expect(patch.json["detail"]?.stringValue?.contains("config file") == true)
                #expect(try await herald.call(.DELETE, "/api/hooks/\(id)", token: herald.adminToken).status == 409)
            }
        }
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func twoHandlersWithBacktickFiltersEachGetTheirType() async throws {
        try await TestReceiver.run { receiver in
            let text = Self.config(handlers: #"""
                {
                      "document_changed": [
                        {"handler": "webhook",
                         "url": "\#(receiver.url("/type_A"))",
                         "filter": `function(doc) {
                              if (doc.type == "A") {
                                return true;
                              }
                              return false;
                            }`
                         },
                        {"handler": "webhook",
                         "url": "\#(receiver.url("/type_B"))",
                         "filter": `function(doc) {
                              if (doc.type == "B") {
                                return true;
                              }
                              return false;
                            }`
                        }
                     ]
                  }
                """#)
            try await Self.run(text) { herald in
                for (id, type) in [("a1", "A"), ("b1", "B"), ("c1", "C"), ("a2", "A")] {
                    _ = try await put(herald, "/db/leads/\(id)", #"{"type":"\#(type)"}"#)
                }
                try await eventually("a2 reaches type_A") { receiver.received.contains { $0.path == "/type_A" && $0.bodyString.contains("a2") } }
                try await eventually("b1 reaches type_B") { receiver.received.contains { $0.path == "/type_B" } }
                let hooks = try await herald.call(.GET, "/api/hooks", token: herald.adminToken).json["hooks"]?.arrayValue ?? []
                let typeB = try #require(hooks.first { $0["url"]?.stringValue?.hasSuffix("/type_B") == true }?["id"]?.intValue)
                // The type_B hook's log shows the three documents its filter declined, noted as such.
                try await eventually("type_B's log shows what it skipped") {
                    let log = try await herald.call(.GET, "/api/hooks/\(typeB)/deliveries?status=skipped", token: herald.adminToken)
                    let notes = log.json["deliveries"]?.arrayValue?.compactMap { $0["note"]?.stringValue } ?? []
                    return notes == ["filtered out", "filtered out", "filtered out"]
                }
                let ids = { (path: String) in
                    receiver.received.filter { $0.path == path }.compactMap { try? JSONValue(parsing: $0.body)["_id"]?.stringValue }
                }
                #expect(ids("/type_A").sorted() == ["a1", "a2"])
                #expect(ids("/type_B") == ["b1"])
            }
        }
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func tuningSettingsApplyToTheHandlersHooks() async throws {
        try await TestReceiver.run { receiver in
            let text = Self.config(handlers: #"""
                {
                    "max_processes" : 1000,
                    "wait_for_process" : "20",
                    "document_changed": [
                     {"handler": "webhook",
                      "timeout": 90,
                      "url": "\#(receiver.url())"}
                    ]
                 }
                """#)
            let config = try SyncGatewayConfig(text: text)
            #expect(config.databases[0].maxProcesses == 1000)
            #expect(config.databases[0].waitForProcess == 20)
            #expect(config.ignored.contains("adminInterface") && config.ignored.contains("databases.leads.bucket"))
            try await Self.run(text) { herald in
                _ = try await put(herald, "/db/leads/x", #"{"n":1}"#)
                try await eventually("the document arrives") { receiver.received.count == 1 }
                let hook = try #require(try await herald.store.hooks(teamID: nil).first { $0.managedKey != nil })
                #expect(hook.timeoutSeconds == 90)
                #expect(hook.maxInFlight == 1000)
            }
        }
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func anEditedFileUpdatesTheSameHooksAndKeepsTheirLogs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await TestReceiver.run { receiver in
            let handlers = { (path: String, second: String) in
                #"{"document_changed": [{"handler": "webhook", "url": "\#(receiver.url(path))"}\#(second)]}"#
            }
            let extra = #", {"handler": "webhook", "url": "\#(receiver.url("/extra"))"}"#
            try await Self.run(Self.config(handlers: handlers("/v1", extra)), dataDirectory: directory) { herald in
                _ = try await put(herald, "/db/leads/one", #"{"n":1}"#)
                try await eventually("v1 and extra get it") { receiver.received.count == 2 }
            }
            try await Self.run(Self.config(handlers: handlers("/v2", "")), dataDirectory: directory) { herald in
                let hooks = try await herald.store.hooks(teamID: nil).filter { $0.managedKey != nil }
                #expect(hooks.count == 2)
                let main = try #require(hooks.first { $0.managedKey == "databases.leads.event_handlers.document_changed[0]" })
                #expect(main.url == receiver.url("/v2"))
                #expect(main.active)
                let retired = try #require(hooks.first { $0.managedKey == "databases.leads.event_handlers.document_changed[1]" })
                #expect(!retired.active)
                #expect(retired.disabledReason?.contains("no longer in the config file") == true)
                // Neither the API nor the hook's page revives it: it comes back only with the file.
                let patched = try await herald.call(.PATCH, "/api/hooks/\(retired.id)", token: herald.adminToken, body: #"{"active":true}"#)
                #expect(patched.status == 409)
                let admin = try await PeopleTests().signedInAdmin(herald)
                let enabled = try await admin.submit(from: "/hooks/\(retired.id)", to: "/hooks/\(retired.id)/enable", [])
                #expect(enabled.status == 409 && enabled.html.contains("managed by the config file"))
                #expect(try await herald.store.hook(id: retired.id)?.active == false)
                // The first run's delivery is still in the hook's log.
                let log = try await herald.call(.GET, "/api/hooks/\(main.id)/deliveries", token: herald.adminToken)
                #expect(log.json["deliveries"]?.arrayValue?.filter { $0["status"]?.stringValue == "success" }.count == 1)
                _ = try await put(herald, "/db/leads/two", #"{"n":2}"#)
                try await eventually("v2 gets the next one") { receiver.received.contains { $0.path == "/v2" } }
                #expect(receiver.received.filter { $0.path == "/extra" }.count == 1)
            }
        }
    }

    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func dbStateChangedArrivesOnCreateAndOnGracefulStop() async throws {
        try await TestReceiver.run { receiver in
            let text = Self.config(handlers: #"{"db_state_changed": [{"handler": "webhook", "url": "\#(receiver.url("/state"))"}]}"#)
            try await Self.run(text) { herald in
                try await eventually("online on create") { receiver.received.count == 1 }
            }
            // Leaving the run stopped the server gracefully; the offline event was delivered first.
            let bodies = try receiver.received.map { try JSONValue(parsing: $0.body) }
            #expect(bodies.count == 2)
            #expect(bodies.map { $0["state"]?.stringValue } == ["online", "offline"])
            #expect(bodies.map { $0["reason"]?.stringValue } == ["created", "server stopping"])
            for body in bodies {
                #expect(body["dbname"]?.stringValue == "leads")
                #expect(body["admininterface"]?.stringValue?.hasPrefix("127.0.0.1:") == true)
                #expect(body["localtime"]?.stringValue?.count == 29)
            }
        }
    }
}

extension SyncGatewayHandlerTests {
    @Test(.enabled(if: workerBuilt, "needs the herald-js worker (swift build)"))
    func pastTheBacklogBoundWritesWaitThenGet503AndNothingAcceptedIsLost() async throws {
        try await TestReceiver.run { receiver in
            // A slow receiver, one POST at a time: the backlog builds.
            receiver.respond { _, _ in .init(delay: .milliseconds(400)) }
            let text = Self.config(handlers: #"{"max_processes": 1, "wait_for_process": "20", "document_changed": [{"handler": "webhook", "url": "\#(receiver.url())"}]}"#)
            let config = try SyncGatewayConfig(text: text)
            try await HeraldHarness.run { configuration in
                configuration.syncGateway = config
                configuration.maxBacklog = 5
                configuration.maxBacklogPerTeam = 5  // one team's deliveries may take the whole bound
            } _: { herald in
                var accepted: [String] = []
                var refused: HeraldHarness.APIResponse?
                for n in 0..<50 where refused == nil {
                    let response = try await herald.call(.PUT, "/db/leads/d\(n)", token: herald.adminToken, body: #"{"n":\#(n)}"#)
                    if response.status == 201 { accepted.append("d\(n)") } else { refused = response }
                }
                let answer = try #require(refused, "a write past the bound is refused")
                #expect(answer.status == 503)
                #expect(answer.header("Retry-After") == "1")
                #expect(answer.json["error"]?.stringValue == "service_unavailable")
                #expect(accepted.count >= 5)
                // The receiver speeds up; the backlog drains and writes are accepted again.
                receiver.respond { _, _ in .init() }
                try await eventually("writes are accepted again", timeout: .seconds(30)) {
                    let retry = try await herald.call(.PUT, "/db/leads/late", token: herald.adminToken, body: #"{"n":"late"}"#)
                    return retry.status == 201
                }
                let all = Set(accepted + ["late"])
                // Every accepted write was delivered.
                try await eventually("every accepted document arrives", timeout: .seconds(30)) {
                    Set(receiver.received.compactMap { try? JSONValue(parsing: $0.body)["_id"]?.stringValue }).isSuperset(of: all)
                }
            }
        }
    }
}
