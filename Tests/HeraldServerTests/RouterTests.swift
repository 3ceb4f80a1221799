import Foundation
import HeraldCore
import HeraldSQLite
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import HeraldServer

/// Herald's router answered in memory (HummingbirdTesting's `.router`): what needs no socket and no
/// running engine — request checks, CouchDB's session endpoint, the GitHub hook shape's refusals.
@Suite struct RouterTests {
    /// The router on a fresh SQLite store, with an admin token and a team token for team `bde`.
    static func withRouter(_ body: @escaping @Sendable (any TestClientProtocol, _ admin: String, _ team: String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-router-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        var configuration = HeraldConfiguration()
        configuration.dataDirectory = directory
        configuration.templatesDirectory = ExternalTools.packageRoot.appendingPathComponent("Templates")
        configuration.publicDirectory = ExternalTools.packageRoot.appendingPathComponent("Public")
        var logger = Logger(label: "herald-router-test")
        logger.logLevel = .warning
        let services = HeraldServices(store: store, secretBox: SecretBox.random(), configuration: configuration, logger: logger)
        let admin = try await HeraldHarness.issueToken(store: store, scope: .admin, team: nil).1
        let team = try await HeraldHarness.issueToken(store: store, scope: .team, team: try await store.createTeam(name: "BDE", slug: "bde", now: Date())).1
        let app = Application(router: buildRouter(services, renderer: try await PageRenderer(directory: configuration.templatesDirectory)))
        do {
            try await app.test(.router) { client in try await body(client, admin, team) }
        } catch {
            await services.engine.shutdown()
            throw error
        }
        await services.engine.shutdown()
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONValue(parsing: Data(response.body.readableBytesView))
    }

    @Test func anAnonymousSessionIsNobodyAndABadLoginIsCouchDBs401() async throws {
        try await Self.withRouter { client, _, _ in
            let nobody = try await client.execute(uri: "/_session", method: .get)
            #expect(nobody.status == .ok)
            #expect(try Self.json(nobody)["userCtx"]?["name"] == .null)
            #expect(try Self.json(nobody)["info"]?["authentication_handlers"] == .array([.string("cookie"), .string("default")]))
            let refused = try await client.execute(
                uri: "/db/_session", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "name=ana&password=hrld_nope")
            )
            #expect(refused.status == .unauthorized)
            #expect(try Self.json(refused)["error"]?.stringValue == "unauthorized")
        }
    }

    @Test func aFormLoginSetsACookieThatSignsTheSessionIn() async throws {
        try await Self.withRouter { client, admin, _ in
            let login = try await client.execute(
                uri: "/_session", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "name=ops&password=\(admin)")
            )
            #expect(login.status == .ok)
            #expect(try Self.json(login)["roles"]?.arrayValue?.contains(.string("_admin")) == true)
            let cookie = try #require(login.headers[.setCookie]).prefix { $0 != ";" }
            let who = try await client.execute(uri: "/db/_session", method: .get, headers: [.cookie: String(cookie)])
            #expect(try Self.json(who)["userCtx"]?["name"]?.stringValue == "ops")
            #expect(try Self.json(who)["info"]?["authenticated"]?.stringValue == "cookie")
        }
    }

    @Test func gitHubsHookShapeIsRefusedFieldByField() async throws {
        try await Self.withRouter { client, _, team in
            let refused = try await client.execute(
                uri: "/api/hooks", method: .post, headers: [.authorization: "Bearer \(team)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"email","config":{"url":"https://example.org/h","insecure_ssl":"yes","token":"x"}}"#)
            )
            #expect(refused.status == .unprocessableContent)
            let fields = try Self.json(refused)["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
            #expect(Set(fields) == ["/name", "/config/insecure_ssl", "/config/token"], "\(fields)")
        }
    }
}
