import Foundation
import HeraldJSON
import Testing

@Suite struct JSONParsingTests {
    @Test func roundTripsKeepingKeyOrderAndIntegers() throws {
        let text = #"{"b":1,"a":[true,false,null,-12,1.5,"x\"y\\z\n"],"big":9007199254740993}"#
        #expect(try JSONValue(parsing: text).jsonString == text)
    }

    @Test func prettyPrintsWithIndentationInKeyOrder() throws {
        let value = try JSONValue(parsing: #"{"b":[1,{"c":null}],"a":{},"e":[]}"#)
        #expect(value.prettyString == "{\n  \"b\": [\n    1,\n    {\n      \"c\": null\n    }\n  ],\n  \"a\": {},\n  \"e\": []\n}")
        #expect(try JSONValue(parsing: value.prettyString) == value)
    }

    @Test(arguments: [
        (#"{"a":1,"b":2,"a":3}"#, #"duplicate key "a" in the object at $"#),
        (#"{"data":{"items":[{"x":1},{"x":1,"x":2}]}}"#, #"duplicate key "x" in the object at $.data.items[1]"#),
        (#"{"a b":{"k":1,"k":1}}"#, #"duplicate key "k" in the object at $["a b"]"#),
    ])
    func duplicateKeysAreRefusedWithTheirPath(_ text: String, _ reason: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
        do {
            _ = try JSONValue(parsing: text)
        } catch {
            #expect(error.reason == reason)
        }
    }

    @Test func manyKeysAreCheckedAndADuplicateAmongThemFound() throws {
        let keys = (0..<20_000).map { #""k\#($0)":\#($0)"# }
        let object = try JSONValue(parsing: "{" + keys.joined(separator: ",") + "}")
        #expect(object.objectValue?.count == 20_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "{" + keys.joined(separator: ",") + #","k19999":0}"#) }
    }

    @Test(arguments: ["1.0", "-0.0", "2.50", "1e3", "1E+03", "-1.5e-7", "12345678901234567890123", "-9223372036854775809", "0.1000000000000000000000001"])
    func numbersAreKeptAsTheyWereWritten(_ number: String) throws {
        let text = #"{"n":\#(number),"list":[\#(number)]}"#
        let value = try JSONValue(parsing: text)
        #expect(value.jsonString == text)
        #expect(value.prettyString.contains(": \(number)"))
        #expect(value["n"]?.typeName == "number")
    }

    @Test func numbersCompareByValue() throws {
        #expect(try JSONValue(parsing: "1.0") == .int(1))
        #expect(try JSONValue(parsing: "1e2") == JSONValue(parsing: "100.00"))
        #expect(try JSONValue(parsing: "0.1") == .double(0.1))
        #expect(try JSONValue(parsing: "12345678901234567890123") != JSONValue(parsing: "12345678901234567890124"))
        #expect(try JSONValue(parsing: "1.0").intValue == 1)
        #expect(try JSONValue(parsing: "1.5").intValue == nil)
        #expect(try Set([JSONValue(parsing: "1.0"), .int(1), JSONValue(parsing: "1e0")]).count == 1)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "1e400") }
    }

    @Test func keysAreKeptByteForByte() throws {
        // "é" composed (U+00E9) and decomposed (e + U+0301) are two keys, and each is sent as it came.
        let text = "{\"caf\u{00E9}\":1,\"cafe\u{0301}\":2}"
        let value = try JSONValue(parsing: text)
        #expect(value.objectValue?.count == 2)
        #expect(Array(value.jsonString.utf8) == Array(text.utf8))
    }

    @Test func stringsAreWrittenWithTheFewestEscapesAndReadBackAsTheyWere() throws {
        #expect(JSONValue.string("plain café 😀").jsonString == "\"plain café 😀\"")
        #expect(JSONValue.string(#"{"a":"b\c"}"#).jsonString == #""{\"a\":\"b\\c\"}""#)
        #expect(JSONValue.string("tab\tline\nreturn\r bell\u{07} nul\u{00} us\u{1F} del\u{7F}").jsonString
            == #""tab\tline\nreturn\r bell\u0007 nul\u0000 us\u001f del\#u{7F}""#)
        // Every byte below 0x80 and some beyond, escaped or not, in every position: read back the same.
        var text = String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) })
        text += "é😀\"" + text + "\u{2028}"
        for sample in [text, String(text.dropFirst(34)), String(text.dropLast(3)), "\"", "\\\\", ""] {
            let written = JSONValue.string(sample).jsonString
            #expect(try JSONValue(parsing: written) == .string(sample))
            #expect(!written.unicodeScalars.dropFirst().dropLast().contains { $0.value < 0x20 }, "no raw control character is written")
        }
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try JSONValue(parsing: #""caf\u00e9 \ud83d\ude00 \/""#) == .string("café 😀 /"))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":}", "01", "1.", "\"\\x\"", "tru", "{} {}", "\"\u{01}\"", "\"\\ud800\"", "NaN"])
    func refusesInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func refusesDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: String(repeating: "[", count: 200) + String(repeating: "]", count: 200)) }
    }
}

@Suite struct JSONSchemaTests {
    let schema = try! JSONSchema(
        JSONValue(parsing: #"""
            {"type":"object","required":["lead_id"],"additionalProperties":false,
             "properties":{"lead_id":{"type":"string","minLength":1},"email":{"type":"string","format":"email"},
               "amount":{"type":"number","minimum":0},"programs":{"type":"array","items":{"enum":["export","film"]},"maxItems":2},
               "tier":{"type":"integer"}}}
            """#)
    )

    func violation(_ text: String) throws -> SchemaViolation? {
        schema.firstViolation(of: try JSONValue(parsing: text), at: "/data")
    }

    @Test func aCatastrophicPatternIsStoppedAtItsBudgetAndTheValueRefused() throws {
        let schema = try JSONSchema(JSONValue(parsing: #"{"properties":{"code":{"type":"string","pattern":"^(a+)+$"}}}"#))
        // Linear for a match; exponential backtracking for a long near-match, cut at the budget.
        #expect(schema.firstViolation(of: try JSONValue(parsing: #"{"code":"aaaa"}"#)) == nil)
        let started = ContinuousClock.now
        let violation = schema.firstViolation(of: .object([("code", .string(String(repeating: "a", count: 64) + "!"))]), at: "/data")
        let elapsed = ContinuousClock.now - started
        #expect(violation?.path == "/data/code")
        #expect(violation?.message.contains("backtracks too much") == true, "\(violation?.message ?? "accepted")")
        print("a catastrophic pattern was stopped after \(elapsed) (budget \(JSONSchema.patternBudget))")
    }

    @Test func aPatternThatDoesNotCompileIsRefusedWhereverItIs() throws {
        #expect(throws: SchemaViolation.self) { try JSONSchema(JSONValue(parsing: #"{"properties":{"a":{"items":{"pattern":"(unclosed"}}}}"#)) }
        _ = try JSONSchema(JSONValue(parsing: #"{"properties":{"pattern":{"type":"string","pattern":"^[a-z]+(-[a-z]+)*$"}}}"#))
    }

    @Test func acceptsAConformingPayload() throws {
        #expect(try violation(#"{"lead_id":"l1","email":"a@b.org","amount":10.5,"programs":["film"],"tier":2}"#) == nil)
    }

    @Test(arguments: [
        (#"{}"#, "/data/lead_id"), (#"{"lead_id":""}"#, "/data/lead_id"), (#"{"lead_id":1}"#, "/data/lead_id"),
        (#"{"lead_id":"x","email":"nope"}"#, "/data/email"), (#"{"lead_id":"x","amount":-1}"#, "/data/amount"),
        (#"{"lead_id":"x","programs":["tv"]}"#, "/data/programs/0"), (#"{"lead_id":"x","programs":["film","film","film"]}"#, "/data/programs"),
        (#"{"lead_id":"x","extra":1}"#, "/data/extra"), (#"{"lead_id":"x","tier":1.5}"#, "/data/tier"), (#"[]"#, "/data"),
    ])
    func reportsThePathOfTheFirstViolation(_ payload: String, _ path: String) throws {
        #expect(try violation(payload)?.path == path)
    }

    @Test func refusesASchemaThatIsNotAnObject() {
        #expect(throws: SchemaViolation.self) { try JSONSchema(.string("object")) }
    }
}
