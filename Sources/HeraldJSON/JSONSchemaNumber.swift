import Foundation

/// A JSON number as JSON Schema's numeric keywords need it: compared and divided mathematically,
/// not as the nearest doubles. An integer stays an `Int64`; a number parsed as a double is read as
/// the shortest decimal that gives that double back (`0.1` is one tenth, not
/// 0.1000000000000000055…), which is what its author wrote; a number kept as its literal text is
/// read from that text.
enum SchemaNumber: Sendable, CustomStringConvertible {
    case int(Int64)
    case double(Double)
    case decimal(Decimal)

    /// The number `value` holds; nil when it is not a number.
    init?(_ value: JSONValue) {
        if case .int(let i) = value {
            self = .int(i)
        } else if case .double(let d) = value {
            self = .double(d)
        } else if let approximation = value.numberValue {
            // A number kept another way (its literal text): read it exactly where Decimal can.
            if let decimal = Decimal(string: value.jsonString), !decimal.isNaN {
                self = .decimal(decimal)
            } else {
                self = .double(approximation)
            }
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .int(let i): String(i)
        case .double(let d): d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .decimal(let d): "\(d)"
        }
    }

    var doubleValue: Double {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .decimal(let d): NSDecimalNumber(decimal: d).doubleValue
        }
    }

    /// The number as a Decimal, nil when it does not fit one (beyond about 1e±127).
    var decimalValue: Decimal? {
        switch self {
        case .int(let i): return Decimal(i)
        case .decimal(let d): return d
        case .double(let d):
            guard abs(d) < 1e120, d == 0 || abs(d) > 1e-120, let decimal = Decimal(string: "\(d)"), !decimal.isNaN else { return nil }
            return decimal
        }
    }

    /// -1, 0 or 1 as `self` is below, equal to or above `other`.
    func compare(to other: SchemaNumber) -> Int {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.double(let a), .double(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.int(let a), .double(let b)): return Self.compare(a, b)
        case (.double(let a), .int(let b)): return -Self.compare(b, a)
        default:
            if let a = decimalValue, let b = other.decimalValue { return a < b ? -1 : (a == b ? 0 : 1) }
            let a = doubleValue, b = other.doubleValue
            return a < b ? -1 : (a == b ? 0 : 1)
        }
    }

    /// An integer against a double, exactly (converting the integer to a double could round it).
    static func compare(_ a: Int64, _ b: Double) -> Int {
        if b >= 9_223_372_036_854_775_808.0 { return -1 }
        if b < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = b.rounded(.down)
        let wholeInt = Int64(whole)
        if a != wholeInt { return a < wholeInt ? -1 : 1 }
        return whole == b ? 0 : -1
    }

    /// Whether `self` is an integer multiple of `divisor` (which is positive), decimals read as
    /// written: 0.0075 is a multiple of 0.0001 although the doubles' quotient is 74.99999999999999.
    func isMultiple(of divisor: SchemaNumber) -> Bool {
        if case .int(let a) = self, case .int(let b) = divisor { return a % b == 0 }
        if let a = decimalValue, let b = divisor.decimalValue {
            var quotient = a / b
            // Decimal keeps 38 digits: a quotient that large has lost its fraction, if it had one.
            if !quotient.isNaN, abs(quotient) < Decimal(sign: .plus, exponent: 30, significand: 1) {
                var whole = Decimal()
                NSDecimalRound(&whole, &quotient, 0, .down)
                return whole == quotient
            }
        }
        // Out of Decimal's range: the doubles' remainder, which IEEE 754 computes exactly.
        let a = doubleValue, b = divisor.doubleValue
        return a.truncatingRemainder(dividingBy: b) == 0
    }

    /// Whether `value` is a number with no fractional part (`1`, `1.0`, `1e52`).
    static func isIntegral(_ value: JSONValue) -> Bool {
        if case .int = value { return true }
        if case .double(let d) = value { return d.rounded() == d }
        guard value.numberValue != nil else { return false }
        return isIntegral(literal: value.jsonString)
    }

    /// Whether a JSON number literal has no fractional part, read from its digits (no rounding):
    /// `12.000`, `1.5e1` and `1e400` do, `1.0000000000000000000001` does not.
    static func isIntegral(literal: String) -> Bool {
        var mantissa = Substring(literal)
        if mantissa.first == "-" { mantissa = mantissa.dropFirst() }
        var exponent = 0
        if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            let text = mantissa[mantissa.index(after: e)...]
            // An exponent beyond Int: huge positive means integral, huge negative means not (unless zero).
            exponent = Int(text.hasPrefix("+") ? text.dropFirst() : text) ?? (text.hasPrefix("-") ? Int.min / 2 : Int.max / 2)
            mantissa = mantissa[..<e]
        }
        let dot = mantissa.firstIndex(of: ".")
        var digits = Array(mantissa.filter { $0 != "." })
        let fractionDigits = dot.map { mantissa.distance(from: $0, to: mantissa.endIndex) - 1 } ?? 0
        // Digits after the decimal point once the exponent has moved it; trailing zeros do not count.
        var scale = fractionDigits - exponent
        while scale > 0, digits.last == "0" {
            digits.removeLast()
            scale -= 1
        }
        return scale <= 0 || digits.allSatisfy { $0 == "0" }
    }
}
