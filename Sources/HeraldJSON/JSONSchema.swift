import Foundation

/// A JSON Schema that event payloads are validated against: draft 2020-12, or draft 7 when the
/// schema declares it in `$schema` (or the caller makes draft 7 the default).
///
/// The schema is compiled once, when it is registered: every keyword is checked, `$ref`s are
/// resolved within the document, patterns are compiled, and the result is a table of nodes that
/// validation walks without reading the schema's JSON again. Whatever Herald would not enforce is
/// refused there, with its path: an unknown keyword, a known keyword with a malformed value, an
/// unknown `format`, a reference to another document, a `$schema` other than draft 7 or 2020-12, a
/// keyword that has no effect where it stands (`then` without `if`, `additionalItems` without an
/// array `items`, draft 7 keywords beside `$ref`), and references that would evaluate one value
/// forever (`{"$ref": "#"}`).
///
/// Enforced keywords, both drafts: `type`, `enum`, `const`, `multipleOf`, `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `pattern`, `format`,
/// `minItems`, `maxItems`, `uniqueItems`, `contains`, `minProperties`, `maxProperties`, `required`,
/// `properties`, `patternProperties`, `additionalProperties`, `propertyNames`, `allOf`, `anyOf`,
/// `oneOf`, `not`, `if`/`then`/`else`, `$ref` (with `definitions` or `$defs`, and `$id`).
/// Draft 7 only: `items` as an array (a tuple) with `additionalItems`, and `dependencies`.
/// Draft 2020-12 only: `prefixItems` (then `items` for the rest), `dependentRequired`,
/// `dependentSchemas`, `minContains`, `maxContains`, `$anchor`.
/// Annotations are accepted and have no effect: `title`, `description`, `default`, `examples`,
/// `$comment`, `readOnly`, `writeOnly`, `deprecated`, `contentMediaType`, `contentEncoding`.
public struct JSONSchema: Sendable {
    /// The JSON Schema drafts Herald understands. A schema picks one with `$schema`.
    public enum Draft: String, Sendable, CaseIterable {
        /// `http://json-schema.org/draft-07/schema#`.
        case draft7 = "http://json-schema.org/draft-07/schema#"
        /// `https://json-schema.org/draft/2020-12/schema`.
        case draft2020_12 = "https://json-schema.org/draft/2020-12/schema"

        /// The draft a `$schema` value names (`http` or `https`, with or without the empty
        /// fragment), nil for any other value.
        public init?(declaration: String) {
            var uri = declaration
            if uri.hasSuffix("#") { uri.removeLast() }
            if uri.hasPrefix("https://") { uri = "http://" + uri.dropFirst("https://".count) }
            switch uri {
            case "http://json-schema.org/draft-07/schema": self = .draft7
            case "http://json-schema.org/draft/2020-12/schema": self = .draft2020_12
            default: return nil
            }
        }
    }

    /// The schema as it was given.
    public let document: JSONValue
    /// The draft the schema is read with: the one its `$schema` names, else the initializer's default.
    public let draft: Draft
    let program: SchemaProgram

    /// Compiles `document`, throwing where it is not a schema Herald can enforce in full.
    ///
    /// - Parameter defaultDraft: the draft for a document without `$schema`.
    public init(_ document: JSONValue, defaultDraft: Draft = .draft2020_12) throws(SchemaViolation) {
        switch document {
        case .object, .bool: break
        default: throw SchemaViolation(path: "", message: "a schema must be an object or a boolean")
        }
        var draft = defaultDraft
        if let declared = document["$schema"] {
            guard let uri = declared.stringValue else { throw SchemaViolation(path: "/$schema", message: "must be a string") }
            guard let named = Draft(declaration: uri) else {
                throw SchemaViolation(
                    path: "/$schema",
                    message: "\(uri) is not a supported draft: use \(Draft.draft7.rawValue) or \(Draft.draft2020_12.rawValue)"
                )
            }
            draft = named
        }
        self.document = document
        self.draft = draft
        self.program = try SchemaCompiler.compile(document, draft: draft)
    }

    /// How long one `pattern` may take on one string. A pattern that backtracks catastrophically
    /// (`^(a+)+$` on a long near-match) is stopped there, and the value refused, instead of holding
    /// a thread for minutes. `patternProperties` and `propertyNames` patterns get the same budget.
    public static let patternBudget: Duration = .milliseconds(50)

    /// Whether `regex` finds a match in `text`; nil when matching ran past `budget` (the regex
    /// engine reports its progress, and is stopped, during a long match).
    public static func matches(_ regex: NSRegularExpression, _ text: String, budget: Duration = patternBudget) -> Bool? {
        let deadline = ContinuousClock.now + budget
        var found = false
        var outOfTime = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(text.startIndex..., in: text)) { result, _, stop in
            if result != nil {
                found = true
                stop.pointee = true
            } else if ContinuousClock.now > deadline {
                outOfTime = true
                stop.pointee = true
            }
        }
        if found { return true }
        return outOfTime ? nil : false
    }

    /// The first violation found, or nil when `value` conforms. Paths in the violation are JSON
    /// Pointers into `value`, after `path`. Patterns stop at `deadline` as at their own budget: a
    /// request's values share one bound, however many there are.
    public func firstViolation(of value: JSONValue, at path: String = "", deadline: ContinuousClock.Instant? = nil) -> SchemaViolation? {
        var evaluator = SchemaEvaluator(program: program, prefix: path, quiet: false)
        evaluator.deadline = deadline
        return evaluator.evaluate(value, program.root)
    }

    /// Whether `value` conforms; cheaper than `firstViolation` when the reason is not needed.
    public func isValid(_ value: JSONValue) -> Bool {
        var evaluator = SchemaEvaluator(program: program, prefix: "", quiet: true)
        return evaluator.evaluate(value, program.root) == nil
    }

    /// `key` as one JSON Pointer reference token (`~` and `/` escaped).
    static func escape(_ key: String) -> String {
        guard key.contains(where: { $0 == "~" || $0 == "/" }) else { return key }
        return key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// A loose email check: one `@`, something before it, a dot after it, no spaces. `format: email`
    /// and account addresses use it.
    public static func looksLikeEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !s.contains(" ")
    }
}

/// Where and why a value does not conform to a schema, or a schema cannot be used. `path` is a
/// JSON Pointer: into the value for a violation, into the schema for a refused schema.
public struct SchemaViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path.isEmpty ? "/" : path): \(message)" }

    /// What evaluation returns where only pass or fail counts (inside `anyOf`, `not`, `if`…).
    static let quiet = SchemaViolation(path: "", message: "")
}

// MARK: - The compiled form

/// A compiled schema: one node per schema object or boolean in the document, each a list of checks
/// that refer to other nodes by index.
struct SchemaProgram: Sendable {
    var nodes: [SchemaNode]
    /// The node of each `$ref` (a check holds an index into this table).
    var references: [Int]
    var root: Int
}

/// The checks of one schema, in the order they run: the value's type, then `enum`/`const`, then
/// the checks of its kind, then required members, then the parts of the value, then the
/// subschemas that apply to the value as a whole.
struct SchemaNode: Sendable {
    var checks: [SchemaCheck]
}

/// The JSON types a `type` keyword allows.
struct SchemaTypes: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = SchemaTypes(rawValue: 1)
    static let boolean = SchemaTypes(rawValue: 2)
    static let integer = SchemaTypes(rawValue: 4)
    static let number = SchemaTypes(rawValue: 8)
    static let string = SchemaTypes(rawValue: 16)
    static let array = SchemaTypes(rawValue: 32)
    static let object = SchemaTypes(rawValue: 64)

    static let byName: [String: SchemaTypes] = [
        "null": .null, "boolean": .boolean, "integer": .integer, "number": .number, "string": .string, "array": .array, "object": .object,
    ]
    static let names: [(SchemaTypes, String)] = [
        (.null, "null"), (.boolean, "boolean"), (.integer, "integer"), (.number, "number"), (.string, "string"), (.array, "array"),
        (.object, "object"),
    ]

    /// Whether `value` is of one of these types (an integer is also a number; a number with no
    /// fractional part, like `1.0`, is also an integer).
    func admits(_ value: JSONValue) -> Bool {
        if case .string = value { return contains(.string) }
        if case .object = value { return contains(.object) }
        if case .array = value { return contains(.array) }
        if case .bool = value { return contains(.boolean) }
        if case .null = value { return contains(.null) }
        if contains(.number), value.numberValue != nil { return true }
        return contains(.integer) && SchemaNumber.isIntegral(value)
    }

    var description: String { Self.names.filter { contains($0.0) }.map(\.1).joined(separator: " or ") }
}

/// A compiled regular expression and its source, for `pattern`, `patternProperties` and formats.
/// `NSRegularExpression` is immutable and may be used from several threads at once.
///
/// Schemas are written in ECMA-262's regular expression syntax and run on ICU's, so where the two
/// differ the pattern is rewritten first: `$` is the end of the string (ICU also matches before a
/// final newline), `\d` and `\w` are ASCII (`[0-9]`, `[A-Za-z0-9_]`), `\s` is ECMA-262's set of
/// white space, a `[` inside a class is a literal, and `[]`/`[^]` match nothing/anything.
struct SchemaPattern: @unchecked Sendable {
    let source: String
    let regex: NSRegularExpression

    /// nil when `source` does not compile.
    init?(_ source: String) {
        guard let regex = try? NSRegularExpression(pattern: Self.icuPattern(for: source)) else { return nil }
        self.source = source
        self.regex = regex
    }

    static let ecmaSpace = "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

    /// `source`, an ECMA-262 pattern, as an ICU pattern that matches the same strings.
    static func icuPattern(for source: String) -> String {
        let chars = Array(source.unicodeScalars)
        var out = ""
        var inClass = false
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count {
                let next = chars[i + 1]
                switch (next, inClass) {
                case ("d", false): out += "[0-9]"
                case ("d", true): out += "0-9"
                case ("D", false): out += "[^0-9]"
                case ("w", false): out += "[A-Za-z0-9_]"
                case ("w", true): out += "A-Za-z0-9_"
                case ("W", false): out += "[^A-Za-z0-9_]"
                case ("s", false): out += "[" + ecmaSpace + "]"
                case ("s", true): out += ecmaSpace
                case ("S", false): out += "[^" + ecmaSpace + "]"
                default:
                    out.unicodeScalars.append(c)
                    out.unicodeScalars.append(next)
                }
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                out += c == "[" ? "\\[" : String(c)
            } else if c == "[" {
                if i + 1 < chars.count, chars[i + 1] == "]" {
                    out += "(?!)"
                    i += 2
                    continue
                }
                if i + 2 < chars.count, chars[i + 1] == "^", chars[i + 2] == "]" {
                    out += "[\\s\\S]"
                    i += 3
                    continue
                }
                inClass = true
                out += "["
                // A "]" right after "[" or "[^" closes the class in ECMA-262 (it is empty), but is a
                // literal in ICU; the cases above took the empty classes, so a "^" passes through.
                if i + 1 < chars.count, chars[i + 1] == "^" {
                    out += "^"
                    i += 1
                }
            } else if c == "$" {
                out += "\\z"
            } else {
                out.unicodeScalars.append(c)
            }
            i += 1
        }
        return out
    }

    /// Whether the pattern matches somewhere in `text`; nil when it ran out of time (its own
    /// budget, or `deadline`).
    func matches(_ text: String, deadline: ContinuousClock.Instant? = nil) -> Bool? {
        guard let deadline else { return JSONSchema.matches(regex, text) }
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        return JSONSchema.matches(regex, text, budget: min(JSONSchema.patternBudget, left))
    }
}

/// How `properties`, `patternProperties` and `additionalProperties` of one schema treat members.
struct PropertyRules: Sendable {
    enum Additional: Sendable {
        /// Members no other rule names are allowed.
        case allowed
        /// `additionalProperties: false`.
        case forbidden
        case schema(Int)
    }
    var named: [ExactString: Int] = [:]
    var patterns: [(pattern: SchemaPattern, node: Int)] = []
    var additional: Additional = .allowed
}

/// Which bound a number is checked against.
enum NumberBound: Sendable {
    case minimum, maximum, exclusiveMinimum, exclusiveMaximum
}

/// One check of a compiled schema. Node numbers are indexes into `SchemaProgram.nodes`.
enum SchemaCheck: Sendable {
    /// The `false` schema.
    case never
    case types(SchemaTypes)
    case enumeration([JSONValue])
    case constant(JSONValue)
    case minLength(Int)
    case maxLength(Int)
    case pattern(SchemaPattern)
    case format(SchemaFormat)
    case bound(NumberBound, SchemaNumber)
    case multipleOf(SchemaNumber)
    case minItems(Int)
    case maxItems(Int)
    case uniqueItems
    /// Schemas for the leading items by position (a draft 7 `items` array, `prefixItems`), and one
    /// for the rest (`additionalItems`, or `items` in 2020-12 and as a single schema in draft 7).
    case items(prefix: [Int], rest: Int?)
    case contains(Int, min: Int, max: Int?)
    case minProperties(Int)
    case maxProperties(Int)
    case required([ExactString])
    case properties(PropertyRules)
    case propertyNames(Int)
    case dependentRequired([(name: String, required: [String])])
    case dependentSchemas([(name: String, node: Int)])
    /// A `$ref`: an index into `SchemaProgram.references`.
    case reference(Int)
    case allOf([Int])
    case anyOf([Int])
    case oneOf([Int])
    case not(Int)
    case conditional(if: Int, then: Int?, else: Int?)
}

// MARK: - Validation

/// One step of the path to the value being checked.
enum PathStep {
    case key(String)
    case index(Int)
}

/// Walks a value through a compiled schema, returning the first violation. The path to the
/// current value is kept as a stack of steps and only made into text for a violation; where only
/// pass or fail counts (`quiet`) no message is made at all.
struct SchemaEvaluator {
    let program: SchemaProgram
    let prefix: String
    var quiet: Bool
    var trail: [PathStep] = []
    /// When the whole evaluation must end (patterns stop there).
    var deadline: ContinuousClock.Instant?

    init(program: SchemaProgram, prefix: String, quiet: Bool) {
        self.program = program
        self.prefix = prefix
        self.quiet = quiet
    }

    mutating func evaluate(_ value: JSONValue, _ node: Int) -> SchemaViolation? {
        for check in program.nodes[node].checks {
            if let violation = apply(check, to: value) { return violation }
        }
        return nil
    }

    /// Whether `value` conforms to `node`, without making messages.
    mutating func passes(_ value: JSONValue, _ node: Int) -> Bool {
        let wasQuiet = quiet
        quiet = true
        defer { quiet = wasQuiet }
        return evaluate(value, node) == nil
    }

    func fail(_ message: @autoclosure () -> String) -> SchemaViolation {
        quiet ? .quiet : SchemaViolation(path: path, message: message())
    }

    var path: String {
        var text = prefix
        for step in trail {
            switch step {
            case .key(let key): text += "/" + JSONSchema.escape(key)
            case .index(let index): text += "/\(index)"
            }
        }
        return text
    }

    /// Evaluates `value` one step below the current value.
    mutating func evaluate(_ value: JSONValue, _ node: Int, at step: PathStep) -> SchemaViolation? {
        trail.append(step)
        defer { trail.removeLast() }
        return evaluate(value, node)
    }

    /// A violation one step below the current value.
    mutating func fail(at step: PathStep, _ message: @autoclosure () -> String) -> SchemaViolation {
        if quiet { return .quiet }
        trail.append(step)
        defer { trail.removeLast() }
        return fail(message())
    }

    mutating func apply(_ check: SchemaCheck, to value: JSONValue) -> SchemaViolation? {
        switch check {
        case .never:
            return fail("no value is allowed here")
        case .types(let types):
            return types.admits(value) ? nil : fail("expected \(types.description), got \(value.typeName)")
        case .enumeration(let options):
            return options.contains(where: { SchemaEquality.equal($0, value) }) ? nil : fail("must be one of \(JSONValue.array(options).jsonString)")
        case .constant(let constant):
            return SchemaEquality.equal(constant, value) ? nil : fail("must equal \(constant.jsonString)")
        case .minLength(let min):
            guard case .string(let s) = value, s.unicodeScalars.count < min else { return nil }
            return fail("must be at least \(min) characters")
        case .maxLength(let max):
            guard case .string(let s) = value, s.unicodeScalars.count > max else { return nil }
            return fail("must be at most \(max) characters")
        case .pattern(let pattern):
            guard case .string(let s) = value else { return nil }
            switch pattern.matches(s, deadline: deadline) {
            case true: return nil
            case false: return fail("must match \(pattern.source)")
            case nil:
                return fail(
                    "could not be checked against \(pattern.source) in time (the pattern backtracks too much on this value, or the request holds too many such values)"
                )
            }
        case .format(let format):
            guard case .string(let s) = value, !format.accepts(s) else { return nil }
            return fail(format.requirement)
        case .bound(let bound, let limit):
            guard let number = SchemaNumber(value) else { return nil }
            let order = number.compare(to: limit)
            switch bound {
            case .minimum: return order >= 0 ? nil : fail("must be ≥ \(limit)")
            case .maximum: return order <= 0 ? nil : fail("must be ≤ \(limit)")
            case .exclusiveMinimum: return order > 0 ? nil : fail("must be > \(limit)")
            case .exclusiveMaximum: return order < 0 ? nil : fail("must be < \(limit)")
            }
        case .multipleOf(let divisor):
            guard let number = SchemaNumber(value), !number.isMultiple(of: divisor) else { return nil }
            return fail("must be a multiple of \(divisor)")
        case .minItems(let min):
            guard case .array(let items) = value, items.count < min else { return nil }
            return fail("must have at least \(min) items")
        case .maxItems(let max):
            guard case .array(let items) = value, items.count > max else { return nil }
            return fail("must have at most \(max) items")
        case .uniqueItems:
            guard case .array(let items) = value, items.count > 1 else { return nil }
            var seen: [SchemaEquality: Int] = [:]
            for (index, item) in items.enumerated() {
                if let first = seen.updateValue(index, forKey: SchemaEquality(item)) {
                    return fail("items must be unique: \(first) and \(index) are equal")
                }
            }
            return nil
        case .items(let prefix, let rest):
            guard case .array(let items) = value else { return nil }
            for (index, item) in items.enumerated() {
                let node = index < prefix.count ? prefix[index] : rest
                guard let node else { break }
                if let violation = evaluate(item, node, at: .index(index)) { return violation }
            }
            return nil
        case .contains(let node, let min, let max):
            guard case .array(let items) = value else { return nil }
            var count = 0
            for item in items where passes(item, node) {
                count += 1
                if count >= min && max == nil { return nil }
            }
            if count < min {
                return fail(min == 1 ? "must contain an item that matches the contains schema" : "must contain at least \(min) items that match the contains schema")
            }
            if let max, count > max { return fail("must contain at most \(max) items that match the contains schema") }
            return nil
        case .minProperties(let min):
            guard case .object(let pairs) = value, pairs.count < min else { return nil }
            return fail("must have at least \(min) properties")
        case .maxProperties(let max):
            guard case .object(let pairs) = value, pairs.count > max else { return nil }
            return fail("must have at most \(max) properties")
        case .required(let names):
            guard case .object(let pairs) = value else { return nil }
            for name in names where !pairs.contains(where: { name == $0.key }) {
                return fail(at: .key(name.text), "is required")
            }
            return nil
        case .properties(let rules):
            guard case .object(let pairs) = value else { return nil }
            for pair in pairs {
                if let violation = checkMember(pair.key, pair.value, rules) { return violation }
            }
            return nil
        case .propertyNames(let node):
            guard case .object(let pairs) = value else { return nil }
            for pair in pairs {
                guard let violation = evaluate(.string(pair.key), node, at: .key(pair.key)) else { continue }
                return quiet ? violation : SchemaViolation(path: violation.path, message: "the property name " + violation.message)
            }
            return nil
        case .dependentRequired(let dependencies):
            guard case .object(let pairs) = value else { return nil }
            for dependency in dependencies where pairs.contains(where: { $0.key.utf8.elementsEqual(dependency.name.utf8) }) {
                for name in dependency.required where !pairs.contains(where: { $0.key.utf8.elementsEqual(name.utf8) }) {
                    return fail(at: .key(name), "is required when \(dependency.name) is present")
                }
            }
            return nil
        case .dependentSchemas(let dependencies):
            guard case .object(let pairs) = value else { return nil }
            for dependency in dependencies where pairs.contains(where: { $0.key.utf8.elementsEqual(dependency.name.utf8) }) {
                if let violation = evaluate(value, dependency.node) { return violation }
            }
            return nil
        case .reference(let slot):
            return evaluate(value, program.references[slot])
        case .allOf(let nodes):
            for node in nodes {
                if let violation = evaluate(value, node) { return violation }
            }
            return nil
        case .anyOf(let nodes):
            for node in nodes where passes(value, node) { return nil }
            return fail("must match at least one of the anyOf schemas")
        case .oneOf(let nodes):
            var matched: [Int] = []
            for (index, node) in nodes.enumerated() where passes(value, node) {
                matched.append(index)
                if matched.count > 1 { return fail("must match exactly one of the oneOf schemas, but matches \(matched[0]) and \(matched[1])") }
            }
            return matched.isEmpty ? fail("must match exactly one of the oneOf schemas, but matches none") : nil
        case .not(let node):
            return passes(value, node) ? fail("must not match the schema in not") : nil
        case .conditional(let condition, let then, let otherwise):
            if passes(value, condition) {
                if let then { return evaluate(value, then) }
            } else if let otherwise {
                return evaluate(value, otherwise)
            }
            return nil
        }
    }

    /// One member of an object against `properties`, `patternProperties` and `additionalProperties`.
    mutating func checkMember(_ key: String, _ member: JSONValue, _ rules: PropertyRules) -> SchemaViolation? {
        var matched = false
        if let node = rules.named[ExactString(key)] {
            matched = true
            if let violation = evaluate(member, node, at: .key(key)) { return violation }
        }
        for rule in rules.patterns {
            switch rule.pattern.matches(key, deadline: deadline) {
            case true:
                matched = true
                if let violation = evaluate(member, rule.node, at: .key(key)) { return violation }
            case false:
                break
            case nil:
                return fail(
                    at: .key(key),
                    "the property name could not be checked against \(rule.pattern.source) in \(JSONSchema.patternBudget) (the pattern backtracks too much on it)"
                )
            }
        }
        guard !matched else { return nil }
        switch rules.additional {
        case .allowed: return nil
        case .forbidden: return fail(at: .key(key), "is not an allowed property")
        case .schema(let node): return evaluate(member, node, at: .key(key))
        }
    }
}

// MARK: - Equality

/// A string compared by its Unicode scalars, as JSON Schema compares property names and strings.
/// (Swift's `==` on `String` holds "é" and "e\u{301}" equal; an object may have both as keys.)
struct ExactString: Hashable, Sendable {
    let text: String
    init(_ text: String) { self.text = text }
    static func == (lhs: ExactString, rhs: ExactString) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }
    static func == (lhs: ExactString, rhs: String) -> Bool { lhs.text.utf8.elementsEqual(rhs.utf8) }
    func hash(into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            for byte in text.utf8 { hasher.combine(byte) }
        }
    }
}

/// JSON Schema's equality, for `enum`, `const` and `uniqueItems`: numbers by value (1 and 1.0 are
/// equal, and integers are compared exactly), strings and keys by Unicode scalars, objects without
/// regard to key order. Hashing is `JSONValue`'s, which equal values share.
struct SchemaEquality: Hashable {
    let value: JSONValue
    init(_ value: JSONValue) { self.value = value }
    static func == (lhs: SchemaEquality, rhs: SchemaEquality) -> Bool { equal(lhs.value, rhs.value) }
    func hash(into hasher: inout Hasher) { value.hash(into: &hasher) }

    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            return x.utf8.elementsEqual(y.utf8)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count
                && x.allSatisfy { pair in y.contains { $0.key.utf8.elementsEqual(pair.key.utf8) && equal($0.value, pair.value) } }
        default:
            if let x = SchemaNumber(a), let y = SchemaNumber(b) { return x.compare(to: y) == 0 }
            return a == b
        }
    }
}
