import Foundation
import HeraldJSON
import Testing

/// The official JSON Schema Test Suite, draft 7, run through `JSONSchema`.
///
/// The suite is the Debian package `json-schema-test-suite` (files under
/// /usr/share/json-schema-test-suite), or the checkout `HERALD_JSON_SCHEMA_SUITE` names. Without it
/// the tests are skipped, except under `CI=true`, where a missing suite is a failure.
///
/// Every group's schema is compiled as draft 7 (the suite's files have no `$schema`). A group whose
/// schema Herald refuses must be listed in `expectedRefusals`, with the reason and a part of the
/// refusal's message; a listed group that is accepted fails too, so the list stays true. For every
/// accepted schema, each case must come out valid or invalid exactly as the suite says.
@Suite struct JSONSchemaSuiteTests {
    static let environment = ProcessInfo.processInfo.environment
    static let root = URL(fileURLWithPath: environment["HERALD_JSON_SCHEMA_SUITE"] ?? "/usr/share/json-schema-test-suite")
    static let draft7 = root.appendingPathComponent("tests/draft7")
    static let isPresent = FileManager.default.fileExists(atPath: draft7.appendingPathComponent("type.json").path)
    static let isCI = environment["CI"] == "true"

    /// The parts of the suite that are run: the required tests, the formats Herald enforces, and the
    /// optional files about numbers and regular expressions. `optional/content.json` is not run:
    /// `contentEncoding` and `contentMediaType` are annotations here, not checked.
    enum Part: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case required = "."
        case formats = "optional/format"
        case optional = "optional"

        var files: [String] {
            let directory = JSONSchemaSuiteTests.draft7.appendingPathComponent(rawValue)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            let prefix = self == .required ? "" : rawValue + "/"
            return names.filter { name in
                name.hasSuffix(".json") && (self != .optional || ["bignum.json", "zeroTerminatedFloats.json", "ecmascript-regex.json"].contains(name))
            }.sorted().map { prefix + $0 }
        }

        var testDescription: String { self == .required ? "draft7" : "draft7/\(rawValue)" }
    }

    /// Groups whose schema is refused when registered, by design: "file: group description" →
    /// (why, a part of the refusal's message).
    static let expectedRefusals: [String: (reason: String, message: String)] = [
        // References to other documents: Herald resolves references within the schema only, and
        // these need the suite's remote server (localhost:1234) or the draft 7 meta-schema.
        "refRemote.json: remote ref": ("remote reference", "another document"),
        "refRemote.json: fragment within remote ref": ("remote reference", "another document"),
        "refRemote.json: ref within remote ref": ("remote reference", "another document"),
        "refRemote.json: base URI change": ("remote reference", "another document"),
        "refRemote.json: base URI change - change folder": ("remote reference", "another document"),
        "refRemote.json: base URI change - change folder in subschema": ("remote reference", "another document"),
        "refRemote.json: root ref in remote ref": ("remote reference", "another document"),
        "definitions.json: valid definition": ("the draft 7 meta-schema is a remote reference", "another document"),
        "definitions.json: invalid definition": ("the draft 7 meta-schema is a remote reference", "another document"),
        "ref.json: remote ref, containing refs itself": ("the draft 7 meta-schema is a remote reference", "another document"),
        // Keywords that have no effect where they stand are refused rather than silently ignored.
        "ref.json: ref overrides any sibling keywords": ("draft 7 ignores maxItems beside $ref", "beside $ref is ignored"),
        "if-then-else.json: ignore if without then or else": ("if alone has no effect", "if has no effect"),
        "if-then-else.json: ignore then without if": ("then alone has no effect", "then has no effect"),
        "if-then-else.json: ignore else without if": ("else alone has no effect", "else has no effect"),
        "if-then-else.json: non-interference across combined schemas": ("if, then and else in separate schemas have no effect", "has no effect"),
        "additionalItems.json: items is schema, no additionalItems": ("additionalItems has no effect unless items is an array", "additionalItems has no effect"),
        "additionalItems.json: additionalItems as false without items": ("additionalItems has no effect without an items array", "additionalItems has no effect"),
        // A format Herald does not check (IDNA 2008 contextual rules) is refused, not ignored.
        "optional/format/idn-hostname.json: validation of internationalized host names": ("idn-hostname is not enforced", "format idn-hostname"),
    ]

    @Test(.enabled(if: isPresent || isCI), arguments: Part.allCases)
    func draft7Suite(_ part: Part) throws {
        let files = part.files
        try #require(!files.isEmpty, "no test files under \(Self.draft7.path) (set HERALD_JSON_SCHEMA_SUITE to the suite's checkout)")
        var groups = 0, cases = 0, passed = 0, refused = 0, casesRefused = 0
        var seenGroups: Set<String> = []
        for file in files {
            let data = try Data(contentsOf: Self.draft7.appendingPathComponent(file))
            let suiteGroups = try #require(try JSONValue(parsing: data).arrayValue, "\(file) is not an array of groups")
            for group in suiteGroups {
                groups += 1
                let name = "\(file): \(group["description"]?.stringValue ?? "?")"
                let tests = group["tests"]?.arrayValue ?? []
                seenGroups.insert(name)
                cases += tests.count
                let document = try #require(group["schema"], "\(name) has no schema")
                let schema: JSONSchema
                do {
                    schema = try JSONSchema(document, defaultDraft: .draft7)
                } catch {
                    refused += 1
                    casesRefused += tests.count
                    if let expected = Self.expectedRefusals[name] {
                        #expect(error.message.contains(expected.message), "\(name): refused for another reason than \(expected.reason): \(error)")
                    } else {
                        Issue.record("\(name): the schema was refused: \(error)")
                    }
                    continue
                }
                if Self.expectedRefusals[name] != nil {
                    Issue.record("\(name): listed as refused (\(Self.expectedRefusals[name]!.reason)) but the schema was accepted")
                }
                for test in tests {
                    let data = try #require(test["data"])
                    let expected = try #require(test["valid"]?.boolValue as Bool?)
                    let violation = schema.firstViolation(of: data)
                    #expect((violation == nil) == expected, "\(name) / \(test["description"]?.stringValue ?? "?"): \(violation.map { "\($0)" } ?? "accepted")")
                    #expect(schema.isValid(data) == (violation == nil), "\(name): isValid and firstViolation disagree")
                    if (violation == nil) == expected { passed += 1 }
                }
            }
        }
        // Every listed group of this part must be in the suite: a group renamed or removed is noticed.
        for name in Self.expectedRefusals.keys.sorted() where files.contains(where: { name.hasPrefix($0 + ": ") }) && !seenGroups.contains(name) {
            Issue.record("\(name) is listed as refused but is not in the suite")
        }
        print(
            "JSON Schema Test Suite \(part.testDescription): \(files.count) files, \(groups) groups, \(cases) cases; "
                + "\(passed) of the \(cases - casesRefused) cases of accepted groups passed; "
                + "\(refused) groups (\(casesRefused) cases) refused by design"
        )
    }

    /// Under CI the suite must be there: a missing suite fails instead of skipping the tests above.
    @Test func theSuiteIsInstalledOnCI() {
        if Self.isCI && !Self.isPresent {
            Issue.record("CI=true but the JSON Schema Test Suite is not at \(Self.draft7.path): install json-schema-test-suite or set HERALD_JSON_SCHEMA_SUITE")
        }
    }
}
