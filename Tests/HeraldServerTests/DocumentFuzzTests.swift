import Foundation
import HeraldCore
import NIOHTTP1
import Testing

/// The `/db/` API under random requests — every endpoint, method, query parameter, body shape and
/// token scope, with a fixed seed so a failure can be replayed: no answer is a server error, and
/// no team ever sees a document of a channel it was not granted.
@Suite(.enabled(if: ExternalTools.isolationStep, "under CI, a step of its own: HERALD_TEST_ISOLATION=1 swift test --filter DocumentFuzzTests"))
struct DocumentFuzzTests {
    /// A small deterministic generator (SplitMix64): the same seed, the same requests.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seed: UInt64 = ProcessInfo.processInfo.environment["HERALD_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_206
    static let requests = 1000

    @Test(.timeLimit(.minutes(5)))
    func randomRequestsNeverFailTheServerNorCrossTeams() async throws {
        try await HeraldHarness.run { herald in
            let bde = try await herald.makeTeam("bde")
            let cce = try await herald.makeTeam("cce")
            let provider = try await herald.providerToken()
            #expect(try await herald.call(.PUT, "/db/leads", token: herald.adminToken).status == 201)
            // Documents only bde may read, carrying a marker no other team may ever see.
            for n in 0..<5 {
                #expect(try await herald.call(.PUT, "/db/leads/bde-\(n)", token: provider, body: #"{"marker":"BDE-ONLY-\#(n)","channels":["bde"]}"#).status == 201)
            }
            var random = Generator(state: Self.seed)
            let tokens: [(name: String, token: String?)] = [
                ("provider", provider), ("admin", herald.adminToken), ("bde", bde.token), ("cce", cce.token), ("none", nil), ("bogus", "hrld_bogus"),
            ]
            var failures: [String] = []
            for index in 0..<Self.requests {
                let (method, path, body) = Self.request(&random)
                let who = tokens.randomElement(using: &random)!
                let answer = try await herald.call(method, path, token: who.token, body: body, deadline: .seconds(20))
                if answer.status >= 500 { failures.append("#\(index) \(who.name) \(method) \(path) \(body ?? "") → \(answer.status) \(answer.text.prefix(200))") }
                if who.name == "cce" && answer.text.contains("BDE-ONLY") { failures.append("#\(index) cce read bde's document: \(method) \(path)") }
            }
            #expect(failures.isEmpty, "seed \(Self.seed):\n\(failures.prefix(20).joined(separator: "\n"))")
            // The server is still whole, and bde still reads what was shared with it.
            #expect(try await herald.call(.GET, "/healthz", token: nil).status == 200)
            let bdeView = try await herald.call(.GET, "/db/leads/bde-4", token: bde.token)
            #expect(bdeView.status == 200 || bdeView.status == 404, "\(bdeView.text)")
        }
    }

    static let ids = ["bde-0", "bde-1", "doc", "cce-doc", "x%2Fy", "%00", "_design/a", "_local", "", "a b", String(repeating: "z", count: 300), "é"]
    static let databases = ["leads", "leads", "leads", "other", "Leads", "_users", "a%00b", ""]

    static func request(_ random: inout Generator) -> (HTTPMethod, String, String?) {
        let db = databases.randomElement(using: &random)!
        let id = ids.randomElement(using: &random)!
        let query = queryString(&random)
        let body = bodies.randomElement(using: &random)!
        switch Int.random(in: 0..<12, using: &random) {
        case 0: return (.GET, "/db/\(db)/\(id)\(query)", nil)
        case 1: return (.PUT, "/db/\(db)/\(id)\(query)", body)
        case 2: return (.DELETE, "/db/\(db)/\(id)\(query)", nil)
        case 3: return (.POST, "/db/\(db)", body)
        case 4: return (.POST, "/db/\(db)/_bulk_docs", bulk(&random))
        case 5: return (.GET, "/db/\(db)/_all_docs\(query)", nil)
        case 6: return (.POST, "/db/\(db)/_all_docs", #"{"keys":["bde-0","doc",1,null]}"#)
        case 7: return (.GET, "/db/\(db)/_changes\(query)", nil)
        case 8: return (.POST, "/db/\(db)/_changes\(query)", [nil, "", #"{"doc_ids":["bde-1"]}"#, "[1]"].randomElement(using: &random)!)
        case 9: return ([.PUT, .GET, .DELETE].randomElement(using: &random)!, "/db/\(db)/_local/\(id)\(query)", body)
        case 10:
            // The database under test stays (deleting it would leave the rest of the run nothing to hit).
            let method: HTTPMethod = [.GET, .PUT, .DELETE, .HEAD].randomElement(using: &random)!
            return (method, "/db/\(method == .DELETE && db == "leads" ? "other" : db)", nil)
        default: return ([.PATCH, .OPTIONS, .POST, .GET].randomElement(using: &random)!, "/db/\(db)/\(id)/\(id)", body)
        }
    }

    static let bodies: [String?] = [
        nil, "", "{", "null", "[]", "1", #""text""#, #"{"name":"n"}"#, #"{"channels":["bde"],"n":1}"#, #"{"channels":"cce"}"#,
        #"{"_rev":"1-abc","n":2}"#, #"{"_rev":"nonsense"}"#, #"{"_deleted":true}"#, #"{"_id":"other","n":1}"#, #"{"_secret":1}"#,
        #"{"a":{"b":{"c":[1,2,{"d":1e400}]}}}"#, #"{"a":1,"a":2}"#, #"{"channels":[1,2]}"#, #"{"n":12345678901234567890123}"#,
        "{\"s\":\"\u{0000}\"}", #"{"s":"\ud800"}"#,
    ]

    static func bulk(_ random: inout Generator) -> String {
        let count = Int.random(in: 0..<4, using: &random)
        let docs = (0..<count).map { _ in (bodies.randomElement(using: &random)! ?? "{}").isEmpty ? "{}" : (bodies.randomElement(using: &random)! ?? "{}") }
        return [#"{"docs":[\#(docs.joined(separator: ","))]}"#, #"{"docs":{}}"#, #"{"new_edits":false,"docs":[{"_id":"x","_rev":"1-a"}]}"#]
            .randomElement(using: &random)!
    }

    static func queryString(_ random: inout Generator) -> String {
        let options = [
            "rev=1-abc", "rev=", "include_docs=true", "include_docs=maybe", "limit=2", "limit=-1", "limit=99999999999999999999", "since=0",
            "since=now", "since=-5", "descending=true", "skip=1", "feed=longpoll&timeout=50", "feed=continuous&timeout=50", "feed=eventsource&timeout=50",
            "feed=websocket", "heartbeat=10&feed=continuous&timeout=30", "filter=sync_gateway/bychannel&channels=bde", "filter=_doc_ids&doc_ids=[\"bde-0\"]",
            "filter=nonsense", "channels=cce", "active_only=true", "startkey=%22a%22", "endkey=%22z%22", "keys=[\"bde-0\"]", "style=all_docs", "%00=1",
        ]
        let count = Int.random(in: 0..<3, using: &random)
        guard count > 0 else { return "" }
        return "?" + (0..<count).map { _ in options.randomElement(using: &random)! }.joined(separator: "&")
    }
}
