import Foundation

/// A JSON Schema (draft 2020-12 subset) used to validate event payloads.
///
/// Supported keywords: `type`, `properties`, `required`, `additionalProperties` (boolean or schema),
/// `items`, `enum`, `const`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`, `minItems`, `maxItems`, `format: email`.
/// Unknown keywords are ignored, as the specification says.
public struct JSONSchema: Sendable {
    public let document: JSONValue

    /// Checks that the schema itself is usable (an object or a boolean, and well-formed known keywords).
    public init(_ document: JSONValue) throws(SchemaViolation) {
        switch document {
        case .object, .bool: break
        default: throw SchemaViolation(path: "", message: "a schema must be an object or a boolean")
        }
        if let path = Self.invalidPattern(in: document, at: "") {
            throw SchemaViolation(path: path, message: "pattern is not a valid regular expression")
        }
        self.document = document
    }

    /// Where a `pattern` that does not compile is, anywhere in the schema; nil when all compile.
    static func invalidPattern(in value: JSONValue, at path: String) -> String? {
        switch value {
        case .object(let pairs):
            for (key, child) in pairs {
                if key == "pattern", let pattern = child.stringValue, (try? NSRegularExpression(pattern: pattern)) == nil { return path + "/pattern" }
                if let found = invalidPattern(in: child, at: path + "/" + key) { return found }
            }
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = invalidPattern(in: item, at: path + "/\(index)") { return found }
            }
        default: break
        }
        return nil
    }

    /// How long one `pattern` may take on one string. A pattern that backtracks catastrophically
    /// (`^(a+)+$` on a long near-match) is stopped there, and the value refused, instead of holding
    /// a thread for minutes.
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

    /// The first violation found, or nil when `value` conforms.
    public func firstViolation(of value: JSONValue, at path: String = "") -> SchemaViolation? {
        Self.validate(value, against: document, path: path)
    }

    static func validate(_ value: JSONValue, against schema: JSONValue, path: String) -> SchemaViolation? {
        if case .bool(let allowed) = schema {
            return allowed ? nil : SchemaViolation(path: path, message: "no value is allowed here")
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            if !allowed.isEmpty, !allowed.contains(where: { matches(value, type: $0) }) {
                return SchemaViolation(path: path, message: "expected \(allowed.joined(separator: " or ")), got \(value.typeName)")
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            return SchemaViolation(path: path, message: "must be one of \(JSONValue.array(options).jsonString)")
        }
        if let constant = schema["const"], constant != value {
            return SchemaViolation(path: path, message: "must equal \(constant.jsonString)")
        }
        switch value {
        case .string(let s):
            let length = s.unicodeScalars.count
            if let min = schema["minLength"]?.intValue, length < min {
                return SchemaViolation(path: path, message: "must be at least \(min) characters")
            }
            if let max = schema["maxLength"]?.intValue, length > max {
                return SchemaViolation(path: path, message: "must be at most \(max) characters")
            }
            if let pattern = schema["pattern"]?.stringValue, let regex = try? NSRegularExpression(pattern: pattern) {
                switch Self.matches(regex, s) {
                case true: break
                case false: return SchemaViolation(path: path, message: "must match \(pattern)")
                case nil:
                    return SchemaViolation(
                        path: path, message: "could not be checked against \(pattern) in \(Self.patternBudget) (the pattern backtracks too much on this value)"
                    )
                }
            }
            if schema["format"]?.stringValue == "email", !Self.looksLikeEmail(s) {
                return SchemaViolation(path: path, message: "must be an email address")
            }
        case .int, .double, .number:
            let number = value.numberValue!
            if let min = schema["minimum"]?.numberValue, number < min {
                return SchemaViolation(path: path, message: "must be ≥ \(min)")
            }
            if let max = schema["maximum"]?.numberValue, number > max {
                return SchemaViolation(path: path, message: "must be ≤ \(max)")
            }
            if let min = schema["exclusiveMinimum"]?.numberValue, number <= min {
                return SchemaViolation(path: path, message: "must be > \(min)")
            }
            if let max = schema["exclusiveMaximum"]?.numberValue, number >= max {
                return SchemaViolation(path: path, message: "must be < \(max)")
            }
        case .array(let items):
            if let min = schema["minItems"]?.intValue, items.count < min {
                return SchemaViolation(path: path, message: "must have at least \(min) items")
            }
            if let max = schema["maxItems"]?.intValue, items.count > max {
                return SchemaViolation(path: path, message: "must have at most \(max) items")
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    if let violation = validate(item, against: itemSchema, path: path + "/\(index)") { return violation }
                }
            }
        case .object(let pairs):
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !pairs.contains(where: { $0.key == name }) {
                return SchemaViolation(path: path + "/" + escape(name), message: "is required")
            }
            let properties = schema["properties"]
            for pair in pairs {
                let childPath = path + "/" + escape(pair.key)
                if let propertySchema = properties?[pair.key] {
                    if let violation = validate(pair.value, against: propertySchema, path: childPath) { return violation }
                } else if let additional = schema["additionalProperties"] {
                    if case .bool(false) = additional {
                        return SchemaViolation(path: childPath, message: "is not an allowed property")
                    }
                    if let violation = validate(pair.value, against: additional, path: childPath) { return violation }
                }
            }
        case .null, .bool:
            break
        }
        return nil
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("number", .int), ("number", .double), ("number", .number): true
        case ("integer", _): value.intValue != nil && value.numberValue != nil
        default: false
        }
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    public static func looksLikeEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !s.contains(" ")
    }
}

/// Where and why a value does not conform to a schema. `path` is a JSON Pointer.
public struct SchemaViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path.isEmpty ? "/" : path): \(message)" }
}
