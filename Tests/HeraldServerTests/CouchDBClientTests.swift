import Foundation
import HeraldCore
import Testing

/// CouchDB clients from PyPI, unchanged, against `/db/`: python-cloudant (cookie login, the
/// line-per-result `_changes` it parses, `_all_docs` ranges) and pycouchdb (session login, ranges).
@Suite struct CouchDBClientTests {
    static let modules = "cloudant, pycouchdb"

    static let script = """
        import json, sys
        base, token = sys.argv[1], sys.argv[2]
        seen = {}

        from cloudant.client import CouchDB
        # Cookie login (cloudant's default) at /db/_session, then every request on the cookie.
        client = CouchDB("ana", token, url=base + "/db/", connect=True, auto_renew=True)
        seen["cloudant_session"] = client.session()["userCtx"]
        db = client["leads"]
        db.create_document({"_id": "d", "n": 4})
        seen["cloudant_changes"] = [change["id"] for change in db.changes()]
        seen["cloudant_all_descending"] = [row["id"] for row in db.all_docs(descending=True, skip=1, limit=2)["rows"]]
        seen["cloudant_range"] = [row["id"] for row in db.all_docs(startkey="b", endkey="d", inclusive_end=False)["rows"]]
        client.disconnect()
        # Given the server's root without /db, cloudant logs in at /_session.
        root = CouchDB("ana", token, url=base + "/db", connect=True, auto_renew=True)
        seen["cloudant_root_session"] = root.session()["info"]["authenticated"]
        root.disconnect()

        import pycouchdb
        host = base.replace("http://", "http://ana:%s@" % token)
        server = pycouchdb.Server(host + "/db/", authmethod="session")
        pdb = server.database("leads")
        seen["pycouchdb_all_descending"] = [row["id"] for row in pdb.all(as_list=True, descending="true", skip=1, limit=2)]
        pdb.save({"_id": "e", "n": 5})
        seen["pycouchdb_changes"] = [change["id"] for change in pdb.changes_list()[1]]
        print(json.dumps(seen))
        """

    @Test(.enabled(if: ExternalTools.runs(needing: ExternalTools.hasPython(Self.modules)), "needs Python with cloudant and pycouchdb"))
    func cloudantAndPycouchdbReadWriteAndFollowChangesUnchanged() async throws {
        let python = try await ExternalTools.requirePython(importing: Self.modules)
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            for id in ["a", "b", "c"] {
                #expect(try await herald.call(.PUT, "/db/leads/\(id)", token: provider, body: #"{"n":1}"#).status == 201)
            }
            let result = try await ExternalTools.run(python, ["-c", Self.script, herald.baseURL, provider])
            #expect(result.status == 0, "\(result.output)")
            let seen = try JSONValue(parsing: Data((result.output.split(separator: "\n").last.map(String.init) ?? "").utf8))
            #expect(seen["cloudant_session"]?["name"]?.stringValue == "ana")
            #expect(seen["cloudant_session"]?["roles"] == .array([.string("provider")]))
            #expect(seen["cloudant_changes"] == .array(["a", "b", "c", "d"].map(JSONValue.string)), "one result per line, as cloudant reads them")
            #expect(seen["cloudant_all_descending"] == .array(["c", "b"].map(JSONValue.string)))
            #expect(seen["cloudant_range"] == .array(["b", "c"].map(JSONValue.string)))
            #expect(seen["cloudant_root_session"]?.stringValue == "cookie")
            #expect(seen["pycouchdb_all_descending"] == .array(["c", "b"].map(JSONValue.string)))
            #expect(seen["pycouchdb_changes"] == .array(["a", "b", "c", "d", "e"].map(JSONValue.string)))
        }
    }

    @Test func aSessionCookieIsAsStrongAsItsTokenAndEndsWithIt() async throws {
        try await HeraldHarness.run { herald in
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            let refused = try await herald.call(.POST, "/db/_session", token: nil, body: #"{"name":"ana","password":"hrld_not_a_token"}"#)
            #expect(refused.status == 401 && refused.json["error"]?.stringValue == "unauthorized")
            let login = try await herald.call(.POST, "/db/_session", token: nil, body: #"{"name":"ana","password":"\#(provider)"}"#)
            #expect(login.status == 200 && login.json["ok"] == .bool(true))
            let setCookie = try #require(login.header("Set-Cookie"))
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Max-Age=600"))
            let cookie = String(setCookie.prefix { $0 != ";" })
            #expect(!cookie.contains(provider), "the token is sealed, not readable in the cookie")
            // The cookie signs in under /db/, not the API.
            #expect(try await herald.call(.GET, "/db/leads", token: nil, headers: ["Cookie": cookie]).status == 200)
            #expect(try await herald.call(.GET, "/api/hooks", token: nil, headers: ["Cookie": cookie]).status == 401)
            let who = try await herald.call(.GET, "/db/_session", token: nil, headers: ["Cookie": cookie])
            #expect(who.json["info"]?["authenticated"]?.stringValue == "cookie" && who.json["userCtx"]?["name"]?.stringValue == "ana")
            // A POST on a cookie must be JSON: another site's form cannot write.
            let form = try await herald.call(.POST, "/db/leads", token: nil, body: #"{"n":1}"#, headers: ["Cookie": cookie, "Content-Type": "text/plain"])
            #expect(form.status == 415)
            // A forged cookie signs nobody in.
            let forged = try await herald.call(.GET, "/db/leads", token: nil, headers: ["Cookie": "AuthSession=" + String(cookie.dropFirst("AuthSession=".count).reversed())])
            #expect(forged.status == 401)
            // The token revoked, its cookie stops working at once.
            let tokens = try await herald.call(.GET, "/api/tokens", token: herald.adminToken)
            let id = try #require(tokens.json["tokens"]?.arrayValue?.first { provider.hasPrefix($0["prefix"]?.stringValue ?? "-") }?["id"]?.intValue)
            #expect(try await herald.call(.DELETE, "/api/tokens/\(id)", token: herald.adminToken).status == 204)
            #expect(try await herald.call(.GET, "/db/leads", token: nil, headers: ["Cookie": cookie]).status == 401)
            let out = try await herald.call(.DELETE, "/db/_session", token: nil)
            #expect(out.header("Set-Cookie")?.contains("Max-Age=0") == true)
        }
    }
}
