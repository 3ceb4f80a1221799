import Foundation
import HeraldCore
import Testing

/// Reading Sync Gateway config files: backtick strings, handler settings, errors by path.
@Suite struct SyncGatewayConfigTests {
    @Test func backtickStringsBecomeJSONStringsAndOrdinaryStringsAreLeftAlone() throws {
        let text = "{\"a\": `line \"one\"\n\tline \\two`, \"b\": \"a `tick` inside\"}"
        let json = try JSONValue(parsing: try SyncGatewayConfig.backticksToJSONStrings(text))
        #expect(json["a"]?.stringValue == "line \"one\"\n\tline \\two")
        #expect(json["b"]?.stringValue == "a `tick` inside")
        #expect(throws: ConfigError(path: "", message: "a backtick string opened on line 1 is never closed")) {
            try SyncGatewayConfig.backticksToJSONStrings("{\"a\": `open")
        }
    }

    @Test func handlersAreReadWithSyncGatewaysDefaults() throws {
        let config = try SyncGatewayConfig(text: """
            {"databases": {"leads": {"event_handlers": {
                "document_changed": [{"handler": "webhook", "url": "http://127.0.0.1:9/a", "timeout": 0, "options": {"winning_rev_only": true}}],
                "db_state_changed": [{"handler": "webhook", "url": "https://example.org/state", "filter": ` function(doc) { return true; } `}]
            }}}}
            """)
        let database = try #require(config.databases.first)
        #expect(database.maxProcesses == 500 && database.waitForProcess == 5)
        #expect(database.handlers.map(\.kind) == [.documentChanged, .dbStateChanged])
        #expect(database.handlers[0].timeoutSeconds == Hook.maxTimeoutSeconds)
        #expect(database.handlers[0].winningRevOnly)
        #expect(database.handlers[1].timeoutSeconds == 60)
        #expect(database.handlers[1].filter == "function(doc) { return true; }")
        #expect(database.handlers[1].path == "databases.leads.event_handlers.db_state_changed[0]")
    }

    @Test func aDatabaseMayNameTheMemberThatOrdersItsWrites() throws {
        let config = try SyncGatewayConfig(text: #"{"databases": {"rows": {"version_field": "updated_at"}, "leads": {}}}"#)
        #expect(config.databases.first { $0.name == "rows" }?.versionField == "updated_at")
        #expect(config.databases.first { $0.name == "leads" }?.versionField == nil)
        #expect(throws: ConfigError.self) { try SyncGatewayConfig(text: #"{"databases": {"rows": {"version_field": "_rev"}}}"#) }
    }

    @Test(arguments: [
        (
            #"{"databases":{"leads":{"event_handlers":{"document_changed":[{"handler":"webhook","url":"http://a/"},{"handler":"webhook"}]}}}}"#,
            "databases.leads.event_handlers.document_changed[1].url: is required"
        ),
        (
            #"{"databases":{"leads":{"event_handlers":{"document_changed":[{"handler":"email","url":"http://a/"}]}}}}"#,
            #"databases.leads.event_handlers.document_changed[0].handler: "email" is not a handler type Herald runs (it runs "webhook")"#
        ),
        (
            #"{"databases":{"leads":{"event_handlers":{"document_changed":[{"handler":"webhook","url":"ftp://a/"}]}}}}"#,
            "databases.leads.event_handlers.document_changed[0].url: must be an http:// or https:// URL"
        ),
        (
            #"{"databases":{"leads":{"event_handlers":{"max_processes":0,"document_changed":[]}}}}"#,
            "databases.leads.event_handlers.max_processes: must be a whole number from 1 to 100000"
        ),
        (
            #"{"databases":{"leads":{"event_handlers":{"wait_for_process":"soon"}}}}"#,
            #"databases.leads.event_handlers.wait_for_process: must be a number of milliseconds, as a string ("20")"#
        ),
        (#"{"databases":{"Leads!":{}}}"#, "databases.Leads!: is not a valid database name (lowercase letters, digits and _$()+-/, starting with a letter)"),
    ])
    func errorsNameThePathOfTheSetting(text: String, message: String) {
        do {
            _ = try SyncGatewayConfig(text: text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func settingsHeraldDoesNotUseAreListedNotFatal() throws {
        let config = try SyncGatewayConfig(text: """
            {"interface": ":4984", "log": ["Events+"], "databases": {"leads": {"bucket": "b", "sync": `function(doc){ channel(doc.channels); }`,
             "event_handlers": {"document_changed": [{"handler": "webhook", "url": "http://a/", "extra": 1}], "document_deleted": []}}}}
            """)
        #expect(config.ignored == [
            "interface", "databases.leads.bucket", "databases.leads.sync", "databases.leads.event_handlers.document_changed[0].extra",
            "databases.leads.event_handlers.document_deleted",
        ])
        #expect(config.logKeys == ["Events+"])
    }
}
