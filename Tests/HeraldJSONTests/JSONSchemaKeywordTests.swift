import Foundation
import HeraldJSON
import Testing

/// What `JSONSchema` refuses when a schema is registered, how it picks a draft, and the draft
/// 2020-12 keywords the official draft 7 suite does not cover.
@Suite struct JSONSchemaKeywordTests {
    func schema(_ text: String, draft: JSONSchema.Draft = .draft2020_12) throws -> JSONSchema {
        try JSONSchema(JSONValue(parsing: text), defaultDraft: draft)
    }

    /// The refusal of `text`, nil when it is accepted.
    func refusal(_ text: String, draft: JSONSchema.Draft = .draft2020_12) throws -> SchemaViolation? {
        let document = try JSONValue(parsing: text)
        do {
            _ = try JSONSchema(document, defaultDraft: draft)
            return nil
        } catch {
            return error
        }
    }

    func valid(_ schema: JSONSchema, _ text: String) throws -> Bool {
        let value = try JSONValue(parsing: text)
        let verdict = schema.firstViolation(of: value) == nil
        #expect(schema.isValid(value) == verdict)
        return verdict
    }

    // MARK: Refused at registration

    @Test(arguments: [
        (#"{"properties":{"name":{"type":"string","maxLenght":3}}}"#, "/properties/name/maxLenght", "maxLength"),
        (#"{"items":{"Type":"string"}}"#, "/items/Type", "type"),
        (#"{"allOf":[{"requred":["a"]}]}"#, "/allOf/0/requred", "required"),
        (#"{"$defs":{"a":{"frobnicate":true}}}"#, "/$defs/a/frobnicate", nil),
    ] as [(String, String, String?)])
    func anUnknownKeywordIsRefusedWithItsPath(_ text: String, _ path: String, _ suggestion: String?) throws {
        let violation = try #require(try refusal(text))
        #expect(violation.path == path)
        let keyword = try #require(path.split(separator: "/").last)
        #expect(violation.message.contains(String(keyword)), "\(violation)")
        if let suggestion { #expect(violation.message.contains("did you mean \(suggestion)?"), "\(violation)") }
    }

    @Test func propertiesNamedLikeKeywordsAreNames() throws {
        let schema = try schema(#"{"properties":{"minLength":{"type":"integer"},"$ref":{"type":"string"},"frobnicate":{}},"required":["$ref"]}"#)
        #expect(try valid(schema, #"{"minLength":3,"$ref":"x","frobnicate":null}"#))
        #expect(try !valid(schema, #"{"minLength":"3","$ref":"x"}"#))
        #expect(try !valid(schema, #"{"minLength":3}"#))
    }

    @Test(arguments: [
        (#"{"minLength":-1}"#, "/minLength"), (#"{"maxItems":1.5}"#, "/maxItems"), (#"{"required":3}"#, "/required"),
        (#"{"required":["a","a"]}"#, "/required"), (#"{"type":"integr"}"#, "/type"), (#"{"type":[]}"#, "/type"),
        (#"{"enum":1}"#, "/enum"), (#"{"multipleOf":0}"#, "/multipleOf"), (#"{"minimum":"1"}"#, "/minimum"),
        (#"{"exclusiveMinimum":true}"#, "/exclusiveMinimum"), (#"{"properties":{"a":3}}"#, "/properties/a"),
        (#"{"allOf":[]}"#, "/allOf"), (#"{"pattern":"(unclosed"}"#, "/pattern"), (#"{"patternProperties":{"[":{}}}"#, "/patternProperties/["),
        (#"{"uniqueItems":"yes"}"#, "/uniqueItems"), (#"{"$ref":1}"#, "/$ref"), (#"{"not":"string"}"#, "/not"),
        (#"{"dependentRequired":{"a":"b"}}"#, "/dependentRequired/a"), (#"{"then":{}}"#, "/then"), (#"{"if":{}}"#, "/if"),
        (#"{"unevaluatedProperties":false}"#, "/unevaluatedProperties"), (#"{"$anchor":"1a"}"#, "/$anchor"),
    ])
    func aKnownKeywordWithAMalformedValueIsRefused(_ text: String, _ path: String) throws {
        let violation = try #require(try refusal(text), "\(text) was accepted")
        #expect(violation.path == path, "\(violation)")
    }

    @Test func aRemoteReferenceIsRefusedAndSaysSo() throws {
        for reference in ["http://example.com/schemas/lead.json", "other.json#/definitions/a", "https://json-schema.org/draft/2020-12/schema"] {
            let violation = try #require(try refusal(#"{"properties":{"lead":{"$ref":"\#(reference)"}}}"#))
            #expect(violation.path == "/properties/lead/$ref")
            #expect(violation.message.contains("another document") && violation.message.contains(reference), "\(violation)")
        }
        let inside = try #require(try refusal(##"{"$ref":"#/$defs/missing"}"##))
        #expect(inside.message.contains("points to nothing"), "\(inside)")
    }

    @Test(arguments: ["phone-number", "idn-hostname", "Email", ""])
    func anUnknownFormatIsRefused(_ format: String) throws {
        let violation = try #require(try refusal(#"{"properties":{"a":{"format":"\#(format)"}}}"#))
        #expect(violation.path == "/properties/a/format")
        #expect(violation.message.contains("format \(format) is not one Herald enforces"), "\(violation)")
    }

    @Test(arguments: [
        (##"{"$ref":"#"}"##, ""), (##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}}}"##, "/$defs/"),
        (##"{"anyOf":[{"type":"string"},{"not":{"$ref":"#"}}]}"##, ""),
        (##"{"if":{"type":"object"},"then":{"$ref":"#/$defs/x"},"$defs":{"x":{"$ref":"#"}}}"##, ""),
    ])
    func aReferenceCycleThatTakesNoStepIntoTheValueIsRefused(_ text: String, _ pathPrefix: String) throws {
        let violation = try #require(try refusal(text))
        #expect(violation.path.hasPrefix(pathPrefix))
        #expect(violation.message.contains("would never end"), "\(violation)")
    }

    @Test func recursionThroughTheValueIsFine() throws {
        let tree = try schema(##"{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#"}}},"additionalProperties":false}"##)
        #expect(try valid(tree, #"{"value":1,"children":[{"value":2,"children":[{"value":3}]}]}"#))
        let bad = try JSONValue(parsing: #"{"value":1,"children":[{"value":2,"children":[{"value":"3"}]}]}"#)
        #expect(tree.firstViolation(of: bad, at: "/data")?.path == "/data/children/0/children/0/value")
    }

    @Test func aSchemaDeclaringAnotherDraftIsRefused() throws {
        for uri in ["http://json-schema.org/draft-04/schema#", "https://json-schema.org/draft/2019-09/schema", "http://example.com/mine"] {
            let violation = try #require(try refusal(#"{"$schema":"\#(uri)","type":"object"}"#))
            #expect(violation.path == "/$schema" && violation.message.contains("not a supported draft"), "\(violation)")
        }
        let nested = try #require(try refusal(#"{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"a":{"$schema":"http://json-schema.org/draft-07/schema#"}}}"#))
        #expect(nested.path == "/properties/a/$schema")
    }

    // MARK: Drafts

    @Test func theDraftComesFromSchemaElseTheDefault() throws {
        let draft7 = #"{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"integer"}],"additionalItems":false}"#
        #expect(try schema(draft7).draft == .draft7)
        #expect(try schema(draft7.replacingOccurrences(of: "schema#", with: "schema")).draft == .draft7)
        #expect(try schema(#"{"$schema":"https://json-schema.org/draft/2020-12/schema"}"#, draft: .draft7).draft == .draft2020_12)
        #expect(try schema("{}").draft == .draft2020_12)
        #expect(try schema("{}", draft: .draft7).draft == .draft7)

        let tuple = try schema(draft7)
        #expect(try valid(tuple, "[1]"))
        #expect(try !valid(tuple, "[1, 2]"))
        #expect(try !valid(tuple, #"["a"]"#))
        // The same keywords read as 2020-12 are refused: items is not a tuple there.
        let refused = try #require(try refusal(#"{"items":[{"type":"integer"}],"additionalItems":false}"#))
        #expect(refused.path == "/items" && refused.message.contains("prefixItems"), "\(refused)")
        #expect(try refusal(#"{"prefixItems":[{}]}"#, draft: .draft7)?.path == "/prefixItems")
        #expect(try refusal(#"{"dependencies":{"a":["b"]}}"#)?.path == "/dependencies")
        #expect(try refusal(#"{"dependentSchemas":{"a":{}}}"#, draft: .draft7)?.path == "/dependentSchemas")
    }

    @Test func draft7IgnoresWhatIsBesideRefSoItIsRefusedAnd2020AppliesIt() throws {
        let text = ##"{"$defs":{"list":{"type":"array"}},"properties":{"a":{"$ref":"#/$defs/list","maxItems":2}}}"##
        let violation = try #require(try refusal(text, draft: .draft7))
        #expect(violation.path == "/properties/a/maxItems" && violation.message.contains("beside $ref"), "\(violation)")
        let schema = try schema(text)
        #expect(try valid(schema, #"{"a":[1,2]}"#))
        #expect(try !valid(schema, #"{"a":[1,2,3]}"#))
        #expect(try !valid(schema, #"{"a":"x"}"#))
        // Annotations and definitions beside $ref are fine in draft 7.
        _ = try self.schema(##"{"$ref":"#/definitions/a","description":"d","definitions":{"a":{"type":"string"}}}"##, draft: .draft7)
    }

    @Test func prefixItemsThenItemsForTheRest() throws {
        let schema = try schema(#"{"prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}"#)
        #expect(try valid(schema, #"["a", 1]"#))
        #expect(try valid(schema, #"["a"]"#))
        #expect(try !valid(schema, #"["a", 1, null]"#))
        #expect(schema.firstViolation(of: try JSONValue(parsing: #"[1]"#))?.path == "/0")
        let open = try self.schema(#"{"prefixItems":[{"type":"string"}],"items":{"type":"integer"}}"#)
        #expect(try valid(open, #"["a", 1, 2]"#))
        #expect(open.firstViolation(of: try JSONValue(parsing: #"["a", 1, "b"]"#))?.path == "/2")
    }

    @Test func defsAndDefinitionsHoldReferencedSchemas() throws {
        for container in ["$defs", "definitions"] {
            let schema = try schema(##"{"\##(container)":{"id":{"type":"string","pattern":"^l_"}},"properties":{"lead":{"$ref":"#/\##(container)/id"}}}"##)
            #expect(try valid(schema, #"{"lead":"l_1"}"#))
            #expect(schema.firstViolation(of: try JSONValue(parsing: #"{"lead":"x"}"#))?.path == "/lead")
        }
    }

    @Test func dependentRequiredAndDependentSchemas() throws {
        let schema = try schema(#"{"dependentRequired":{"card":["billing"]},"dependentSchemas":{"coupon":{"required":["code"]}}}"#)
        #expect(try valid(schema, #"{"card":1,"billing":2}"#))
        #expect(try valid(schema, #"{"billing":2}"#))
        let missing = schema.firstViolation(of: try JSONValue(parsing: #"{"card":1}"#), at: "/data")
        #expect(missing?.path == "/data/billing" && missing?.message == "is required when card is present")
        #expect(try !valid(schema, #"{"coupon":true}"#))
        #expect(try valid(schema, #"{"coupon":true,"code":"x"}"#))
    }

    @Test func minContainsAndMaxContains() throws {
        let schema = try schema(#"{"contains":{"const":1},"minContains":2,"maxContains":3}"#)
        #expect(try !valid(schema, "[1]"))
        #expect(try valid(schema, "[1, 1, 2]"))
        #expect(try !valid(schema, "[1, 1, 1, 1]"))
        #expect(try valid(try self.schema(#"{"contains":{"const":1},"minContains":0}"#), "[]"))
    }

    @Test func anchorsAndIdsResolveWithinTheDocument() throws {
        let schema = try schema(
            ##"{"$id":"https://example.com/lead","properties":{"a":{"$ref":"#code"},"b":{"$ref":"parts/amount"}},"$defs":{"code":{"$anchor":"code","type":"string"},"amount":{"$id":"parts/amount","type":"number"}}}"##
        )
        #expect(try valid(schema, #"{"a":"x","b":1.5}"#))
        #expect(try !valid(schema, #"{"a":1}"#))
        #expect(try !valid(schema, #"{"b":"1"}"#))
        #expect(try refusal(#"{"$id":"https://example.com/lead","$ref":"https://example.com/other"}"#)?.message.contains("another document") == true)
    }

    @Test func pointersUnescapeTildeSlashAndPercent() throws {
        let schema = try schema(##"{"$defs":{"a/b":{"type":"integer"},"c~d":{"type":"string"},"e f":{"type":"null"}},"prefixItems":[{"$ref":"#/$defs/a~1b"},{"$ref":"#/$defs/c~0d"},{"$ref":"#/$defs/e%20f"}]}"##)
        #expect(try valid(schema, #"[1, "x", null]"#))
        #expect(try !valid(schema, #"["1"]"#))
        #expect(try !valid(schema, #"[1, 2]"#))
        #expect(try !valid(schema, #"[1, "x", 0]"#))
    }

    // MARK: Values

    @Test func multipleOfIsExactForDecimals() throws {
        let cents = try schema(#"{"multipleOf":0.01}"#)
        for amount in ["19.99", "0.07", "1", "1e2", "123456789.12"] { #expect(try valid(cents, amount), "\(amount)") }
        for amount in ["19.999", "0.001", "1e-3"] { #expect(try !valid(cents, amount), "\(amount)") }
        let tiny = try schema(#"{"multipleOf":0.0001}"#)
        #expect(try valid(tiny, "0.0075"))
        #expect(try valid(tiny, "0.0001"))
        #expect(try !valid(tiny, "0.00751"))
        let integers = try schema(#"{"multipleOf":3}"#)
        #expect(try valid(integers, "9223372036854775806"))
        #expect(try !valid(integers, "9223372036854775807"))
        #expect(try valid(try schema(#"{"multipleOf":2}"#), "1e300"), "a double beyond Decimal's range is checked by its exact remainder")
    }

    @Test func equalityIsMathematicalAndIgnoresKeyOrder() throws {
        #expect(try valid(try schema(#"{"const":{"a":1,"b":[1.0,{"c":2}]}}"#), #"{"b":[1,{"c":2.0}],"a":1.0}"#))
        #expect(try !valid(try schema(#"{"const":{"a":1}}"#), #"{"a":true}"#))
        #expect(try valid(try schema(#"{"enum":[1,"x"]}"#), "1.0"))
        let unique = try schema(#"{"uniqueItems":true}"#)
        #expect(try !valid(unique, #"[{"a":1,"b":2},{"b":2,"a":1.0}]"#))
        #expect(try !valid(unique, "[1, 1.0]"))
        #expect(try valid(unique, "[1, true, \"1\", [1], {\"a\":1}]"))
        #expect(unique.firstViolation(of: try JSONValue(parsing: "[0, 1, 0]"))?.message.contains("0 and 2") == true)
    }

    @Test func stringsAndPropertyNamesCompareByCodePoint() throws {
        // "é" composed (U+00E9) and decomposed (e + U+0301) look alike but are different strings.
        let composed = "caf\u{00E9}", decomposed = "cafe\u{0301}"
        let constant = try JSONSchema(.object([("const", .string(composed))]))
        #expect(constant.isValid(.string(composed)))
        #expect(!constant.isValid(.string(decomposed)))
        let required = try JSONSchema(.object([("required", .array([.string(composed)])), ("properties", .object([(composed, .object([("type", .string("integer"))]))]))]))
        #expect(required.isValid(.object([(composed, .int(1))])))
        #expect(!required.isValid(.object([(decomposed, .int(1))])))
        #expect(required.isValid(.object([(composed, .int(1)), (decomposed, .string("not checked by properties"))])))
        #expect(JSONSchema.matches(try NSRegularExpression(pattern: "x"), "x") == true)
    }

    @Test func patternsHaveECMAScriptMeaning() throws {
        let anchored = try schema(#"{"pattern":"^[a-z]+$"}"#)
        #expect(anchored.isValid(.string("abc")))
        #expect(!anchored.isValid(.string("abc\n")), "$ is the end of the string, not before a final newline")
        let digits = try schema(#"{"pattern":"^\\d+$"}"#)
        #expect(digits.isValid(.string("042")))
        #expect(!digits.isValid(.string("\u{0967}\u{0968}")), "\\d is ASCII digits only")
        let word = try schema(#"{"patternProperties":{"^\\w+$":{"type":"integer"}}}"#)
        #expect(word.isValid(.object([("\u{00E9}", .string("é is not a \\w character"))])))
        #expect(!word.isValid(.object([("e", .string("checked"))])))
        let space = try schema(#"{"pattern":"^\\s$"}"#)
        #expect(space.isValid(.string("\u{FEFF}")))
        let classes = try schema(#"{"pattern":"^[[]x[^]$"}"#)
        #expect(classes.isValid(.string("[x]")))
        #expect(try !valid(try self.schema(#"{"pattern":"[]"}"#), #""anything""#), "[] matches nothing")
    }

    @Test func integersIncludeWholeFloatsAndBounds() throws {
        let schema = try schema(#"{"type":"integer","minimum":9007199254740993}"#)
        #expect(try valid(schema, "9007199254740993"))
        #expect(try !valid(schema, "9007199254740992"))
        #expect(try !valid(schema, "9007199254740992.0"))
        #expect(try valid(try self.schema(#"{"type":"integer"}"#), "1e52"))
        #expect(try !valid(try self.schema(#"{"type":"integer"}"#), "1.5"))
    }

    @Test(arguments: [
        ("date-time", "2025-11-22T14:00:00.5+01:00", true), ("date-time", "2025-02-29T14:00:00Z", false),
        ("date-time", "2016-12-31T23:59:60Z", true), ("date-time", "2016-12-31T22:59:60Z", false), ("date", "2024-02-29", true),
        ("date", "2025-13-01", false), ("time", "14:00:00", false), ("duration", "P1Y2M3DT4H5M6S", true), ("duration", "PT", false),
        ("duration", "P1D2Y", false), ("duration", "P2W", true), ("hostname", "api.example.org", true), ("hostname", "-a.example", false),
        ("ipv4", "10.0.0.1", true), ("ipv4", "10.0.0.01", false), ("ipv6", "fe80::1:2", true), ("ipv6", "1::2::3", false),
        ("ipv6", "::ffff:10.0.0.1", true), ("uri", "https://example.org/a?b#c", true), ("uri", "/relative", false),
        ("uri-reference", "../a b", false), ("uri-reference", "../a%20b", true), ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
        ("uuid", "123e4567e89b12d3a456426614174000", false), ("regex", "^a+$", true), ("regex", "\\Aabc\\z", false),
        ("json-pointer", "/a~1b", true), ("json-pointer", "a", false), ("relative-json-pointer", "0#", true),
        ("relative-json-pointer", "01", false), ("uri-template", "https://x/{id}{?q*}", true), ("uri-template", "https://x/{id", false),
        ("email", "lead@example.org", true), ("email", "lead", false),
    ])
    func formatsAreEnforced(_ format: String, _ value: String, _ expected: Bool) throws {
        let schema = try schema(#"{"format":"\#(format)"}"#)
        #expect(schema.isValid(.string(value)) == expected)
        #expect(schema.isValid(.int(1)), "a format applies to strings only")
    }

    @Test func aPatternPropertyThatBacktracksIsStoppedAtItsBudget() throws {
        let schema = try schema(#"{"patternProperties":{"^(a+)+$":{"type":"integer"}}}"#)
        let name = String(repeating: "a", count: 64) + "!"
        let started = ContinuousClock.now
        let violation = schema.firstViolation(of: .object([(name, .int(1))]))
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(violation?.message.contains("backtracks too much") == true, "\(violation.map { "\($0)" } ?? "accepted")")
    }
}
