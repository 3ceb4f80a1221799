import Foundation

/// A JSON document, kept exact: integers stay integers, numbers keep the text they were sent as,
/// object key order and key bytes are preserved.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A number made by Herald itself (a timestamp, a count), written in the shortest form that
    /// reads back as the same `Double`.
    case double(Double)
    /// A number as it was written in the JSON text received, when it is not an integer that fits
    /// 64 bits: `1.0`, `2.50`, `1e3`, `12345678901234567890123`. It is written back byte for byte,
    /// so a receiver gets the provider's number, not its nearest `Double`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): Double(a) == b
        case (.number, .int), (.int, .number), (.number, .number), (.number, .double), (.double, .number):
            Self.sameNumber(lhs, rhs)
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && a.allSatisfy { pair in b.contains { $0.key == pair.key && $0.value == pair.value } }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .number: hasher.combine(numberValue ?? 0)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o): hasher.combine(o.count)
        }
    }

    /// The value of `key` in an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [(key: String, value: JSONValue)]? { if case .object(let pairs) = self { pairs } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }
    public var numberValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .number(let text): Double(text)
        default: nil
        }
    }
    public var intValue: Int64? {
        switch self {
        case .int(let i): i
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: Int64(d)
        case .number(let text): Decimal(string: text).flatMap { Self.exactInt64($0) }
        default: nil
        }
    }
    /// The number's exact decimal value, when it has one within `Decimal`'s 38 digits.
    public var decimalValue: Decimal? {
        switch self {
        case .int(let i): Decimal(i)
        case .double(let d) where d.isFinite: Decimal(string: "\(d)")
        case .number(let text): Decimal(string: text)
        default: nil
        }
    }

    private static func exactInt64(_ decimal: Decimal) -> Int64? {
        var value = decimal
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 0, .plain)
        guard rounded == decimal, abs(decimal) < Decimal(9e15) else { return nil }
        return Int64(truncating: NSDecimalNumber(decimal: decimal))
    }

    /// Numeric equality of two numbers, at least one of them a literal: exact when both have a
    /// decimal value (`1.0` == `1`, `0.10` == `0.1`), by `Double` otherwise.
    private static func sameNumber(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        if case .number(let a) = lhs, case .number(let b) = rhs, a == b { return true }
        // Equal as Doubles too, so that equal values always hash alike (the hash is the Double's);
        // Decimal alone keeps 38 digits and would call some longer literals equal.
        guard let a = lhs.numberValue, let b = rhs.numberValue, a == b else { return false }
        if let exactA = lhs.decimalValue, let exactB = rhs.decimalValue, a.isFinite { return exactA == exactB }
        return true
    }

    /// The JSON type name used in messages and by JSON Schema.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double, .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue {
    /// Parses UTF-8 JSON text.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        var parser = JSONParser(Array(bytes))
        self = try parser.parseDocument()
    }

    public init(parsing text: String) throws(JSONParseError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// Compact JSON text, keys in their original order.
    public var jsonString: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Indented JSON text for people, keys in their original order.
    public var prettyString: String {
        var out = ""
        writePretty(to: &out, indent: "")
        return out
    }

    func writePretty(to out: inout String, indent: String) {
        let inner = indent + "  "
        switch self {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += inner
                item.writePretty(to: &out, indent: inner)
                out += index < items.count - 1 ? ",\n" : "\n"
            }
            out += indent + "]"
        case .object(let pairs) where !pairs.isEmpty:
            out += "{\n"
            for (index, pair) in pairs.enumerated() {
                out += inner
                Self.writeString(pair.key, to: &out)
                out += ": "
                pair.value.writePretty(to: &out, indent: inner)
                out += index < pairs.count - 1 ? ",\n" : "\n"
            }
            out += indent + "}"
        default:
            write(to: &out)
        }
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .number(let text): out += text
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (index, pair) in pairs.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(pair.key, to: &out)
                out += ":"
                pair.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal.
    public static func writeString(_ s: String, to out: inout String) {
        var text = s
        // Most strings need no escaping: appended whole. The others (a JSON document kept as a
        // string: a delivery's body, an event's data) are escaped byte by byte into one buffer —
        // only ASCII is ever escaped, so the bytes between stay valid UTF-8 — and appended once.
        let escaped = text.withUTF8 { bytes -> [UInt8]? in
            guard let first = bytes.firstIndex(where: needsEscaping) else { return nil }
            var escaped: [UInt8] = []
            escaped.reserveCapacity(bytes.count + bytes.count / 8 + 8)
            escaped.append(UInt8(ascii: "\""))
            escaped.append(contentsOf: bytes[..<first])
            for byte in bytes[first...] {
                guard needsEscaping(byte) else {
                    escaped.append(byte)
                    continue
                }
                escaped.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): escaped.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): escaped.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\n"): escaped.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): escaped.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): escaped.append(UInt8(ascii: "t"))
                default: escaped.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xf)]])
                }
            }
            escaped.append(UInt8(ascii: "\""))
            return escaped
        }
        if let escaped {
            out += String(decoding: escaped, as: UTF8.self)
        } else {
            out += "\""
            out += s
            out += "\""
        }
    }

    private static func needsEscaping(_ byte: UInt8) -> Bool { byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") }
    private static let hexDigits = Array("0123456789abcdef".utf8)
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            let keyed = try decoder.container(keyedBy: AnyKey.self)
            self = .object(try keyed.allKeys.map { ($0.stringValue, try keyed.decode(JSONValue.self, forKey: $0)) })
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .number(let text):
            var c = encoder.singleValueContainer()
            if let decimal = Decimal(string: text) { try c.encode(decimal) } else { try c.encode(Double(text) ?? 0) }
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for item in a { try c.encode(item) }
        case .object(let pairs):
            var c = encoder.container(keyedBy: AnyKey.self)
            for pair in pairs { try c.encode(pair.value, forKey: AnyKey(pair.key)) }
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
