import Foundation
import HeraldCore
import HeraldSQLite
import HummingbirdBcrypt
import Synchronization
import Testing

/// The web UI in a real headless Chromium driven by Selenium, on a Herald started from the built
/// binary, with a real receiver on 127.0.0.1.
@Suite struct BrowserTests {
    static var chromiumAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    }

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary && BrowserTests.chromiumAvailable && ExternalTools.hasPython("selenium")), "needs the built herald, Chromium, chromedriver and selenium"))
    func aMemberRegistersAHookWatchesDeliveriesRedeliversAndPings() async throws {
        let binary = try ExternalTools.require(ExternalTools.heraldBinary, "the built herald executable")
        let python = try ExternalTools.require(Self.chromiumAvailable ? await ExternalTools.lookUpPython(importing: "selenium") : nil, "Chromium, chromedriver and Python's selenium")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-browser-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let (providerToken, adminToken): (String, String)
        do {
            let store = try SQLiteStore(directory: dataDirectory)
            _ = try await store.createUser(email: "admin@example.org", passwordHash: Bcrypt.hash("admin password 1", cost: 4), role: .admin, teamID: nil, now: Date())
            providerToken = try await HeraldHarness.issueToken(store: store, scope: .provider, team: nil).1
            adminToken = try await HeraldHarness.issueToken(store: store, scope: .admin, team: nil).1
        }
        let failing = Mutex(false)
        try await TestReceiver.run { receiver in
            receiver.respond { _, request in
                if request.path == "/control/fail" {
                    failing.withLock { $0 = true }
                    return .init()
                }
                return failing.withLock { $0 } ? .init(status: 500, body: "receiver is down") : .init(body: "ok")
            }
            let root = ExternalTools.packageRoot
            let server = try ChildProcess(binary: binary, arguments: [
                "serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets", "--retry-schedule", "1h",
                "--templates-dir", root.appendingPathComponent("Templates").path, "--public-dir", root.appendingPathComponent("Public").path,
            ])
            defer { server.stop() }
            let port = try await server.waitForPort()
            let screenshot = root.appendingPathComponent(".build/herald-hook-page.png")
            try? FileManager.default.removeItem(at: screenshot)
            let result = try await ExternalTools.run(python, [
                root.appendingPathComponent("Tests/Browser/hook_journey.py").path, "http://127.0.0.1:\(port)", "http://127.0.0.1:\(receiver.port)",
                "admin@example.org", "admin password 1", providerToken, adminToken, screenshot.path,
            ])
            #expect(result.status == 0 && result.output.contains("BROWSER OK"), "\(result.output)\n--- server log ---\n\(server.output)")
            #expect(FileManager.default.fileExists(atPath: screenshot.path), "the hook page screenshot")
        }
    }

    /// Every page at 390 px: no horizontal scrolling, no serious or critical axe-core violation, and
    /// the delivery's tabs and the skip link work from the keyboard.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary && BrowserTests.chromiumAvailable && ExternalTools.hasPython("axe_core_python")), "needs the built herald, Chromium, chromedriver, selenium and axe-core-python"))
    func everyPageFitsAPhoneAndPassesAxe() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let python = try await ExternalTools.requirePython(importing: "selenium, axe_core_python")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-a11y-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let password = "correct horse battery"
        let (teamToken, providerToken, memberID): (String, String, Int64)
        do {
            let store = try SQLiteStore(directory: dataDirectory)
            let team = try await store.createTeam(name: "Banco de Desarrollo Económico", slug: "bde", now: Date())
            _ = try await store.createUser(email: "admin@example.org", passwordHash: Bcrypt.hash(password, cost: 4), role: .admin, teamID: nil, now: Date())
            memberID = try await store.createUser(email: "ana@bde.example", passwordHash: Bcrypt.hash(password, cost: 4), role: .member, teamID: team.id, now: Date()).id
            teamToken = try await HeraldHarness.issueToken(store: store, scope: .team, team: team).1
            providerToken = try await HeraldHarness.issueToken(store: store, scope: .provider, team: nil).1
        }
        try await TestReceiver.run { receiver in
            let root = ExternalTools.packageRoot
            let server = try ChildProcess(binary: binary, arguments: [
                "serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets",
                "--templates-dir", root.appendingPathComponent("Templates").path, "--public-dir", root.appendingPathComponent("Public").path,
            ])
            defer { server.stop() }
            let port = try await server.waitForPort()
            let api = HeraldHarnessClient(baseURL: "http://127.0.0.1:\(port)")
            let hook = try #require(try await api.call(.POST, "/api/hooks", token: teamToken, body: #"{"url":"\#(receiver.url())","events":["lead.*"]}"#).json["id"]?.intValue)
            _ = try await api.call(.POST, "/api/events", token: providerToken, body: #"{"type":"lead.created","data":{"lead_id":"a11y"}}"#)
            let delivery = try #require(try await eventuallyValue("the lead's delivery is logged") {
                try await api.call(.GET, "/api/hooks/\(hook)/deliveries", token: teamToken).json["deliveries"]?.arrayValue?
                    .first { $0["event"] == .string("lead.created") }?["id"]?.stringValue
            })
            let shots = root.appendingPathComponent(".build/screenshots")
            try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
            let result = try await ExternalTools.run(python, [
                root.appendingPathComponent("Tests/Browser/accessibility.py").path, "http://127.0.0.1:\(port)", "admin@example.org", "ana@bde.example",
                password, String(hook), delivery, "bde", String(memberID), shots.path,
            ])
            #expect(result.status == 0 && result.output.contains("ACCESSIBILITY OK"), "\(result.output)")
        }
    }

    /// A portal link in the provider's own page: the allowed origin frames the team's hook pages
    /// (register, deliveries, redeliver, end the session; read-only shows no buttons), another
    /// origin's frame is refused by the browser.
    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasHeraldBinary && BrowserTests.chromiumAvailable && ExternalTools.hasPython("selenium")), "needs the built herald, Chromium, chromedriver and selenium"))
    func aPortalLinkWorksFramedByTheProvidersPageOnly() async throws {
        let binary = try #require(ExternalTools.heraldBinary)
        let python = try await ExternalTools.requirePython(importing: "selenium")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-portal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let providerToken: String
        do {
            let store = try SQLiteStore(directory: dataDirectory)
            _ = try await store.createTeam(name: "Banco de Desarrollo Económico", slug: "bde", now: Date())
            providerToken = try await HeraldHarness.issueToken(store: store, scope: .provider, team: nil).1
        }
        try await TestReceiver.run { receiver in
            try await TestReceiver.run { allowedPage in
                try await TestReceiver.run { otherPage in
                    let root = ExternalTools.packageRoot
                    let server = try ChildProcess(binary: binary, arguments: [
                        "serve", "--data-dir", dataDirectory.path, "--port", "0", "--allow-private-targets",
                        "--portal-frame-ancestor", "http://127.0.0.1:\(allowedPage.port)",
                        "--templates-dir", root.appendingPathComponent("Templates").path, "--public-dir", root.appendingPathComponent("Public").path,
                    ])
                    defer { server.stop() }
                    let port = try await server.waitForPort()
                    // The provider's page: its own heading, and Herald's portal in a frame.
                    for page in [allowedPage, otherPage] {
                        page.respond { _, request in
                            let token = request.path.split(separator: "/").last.map(String.init) ?? ""
                            return .init(
                                headers: ["Content-Type": "text/html; charset=utf-8"],
                                body: """
                                    <!doctype html><title>CRM</title><h1>Our CRM</h1>
                                    <iframe id="portal" name="portal" src="http://127.0.0.1:\(port)/portal/\(token)" width="1200" height="900"></iframe>
                                    """
                            )
                        }
                    }
                    let result = try await ExternalTools.run(python, [
                        root.appendingPathComponent("Tests/Browser/portal_frame.py").path, "http://127.0.0.1:\(port)",
                        "http://127.0.0.1:\(allowedPage.port)", "http://127.0.0.1:\(otherPage.port)", providerToken, "http://127.0.0.1:\(receiver.port)",
                    ])
                    #expect(result.status == 0 && result.output.contains("BROWSER OK"), "\(result.output)\n--- server log ---\n\(server.output)")
                    #expect(receiver.received.contains { $0.path == "/portal-hook" && $0.bodyString.contains("lead_portal_1") }, "the framed hook was delivered to")
                }
            }
        }
    }
}
