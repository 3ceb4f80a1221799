import Foundation

/// The `format` values Herald enforces. Any other format is refused when the schema is registered,
/// `idn-hostname` among them (its rules, IDNA 2008 with contextual characters, are not checked
/// here). Formats apply to strings only; a value of another type passes.
enum SchemaFormat: String, Sendable, CaseIterable {
    case dateTime = "date-time"
    case date
    case time
    case duration
    case email
    case idnEmail = "idn-email"
    case hostname
    case ipv4
    case ipv6
    case uri
    case uriReference = "uri-reference"
    case iri
    case iriReference = "iri-reference"
    case uriTemplate = "uri-template"
    case uuid
    case regex
    case jsonPointer = "json-pointer"
    case relativeJSONPointer = "relative-json-pointer"

    /// The violation message for a string that is not in this format.
    var requirement: String {
        switch self {
        case .dateTime: "must be an RFC 3339 date-time, like 2025-11-22T14:00:00Z"
        case .date: "must be an RFC 3339 full-date, like 2025-11-22"
        case .time: "must be an RFC 3339 full-time, like 14:00:00Z"
        case .duration: "must be an ISO 8601 duration, like P1DT12H"
        case .email, .idnEmail: "must be an email address"
        case .hostname: "must be a host name"
        case .ipv4: "must be an IPv4 address"
        case .ipv6: "must be an IPv6 address"
        case .uri: "must be an absolute URI"
        case .uriReference: "must be a URI reference"
        case .iri: "must be an absolute IRI"
        case .iriReference: "must be an IRI reference"
        case .uriTemplate: "must be an RFC 6570 URI template"
        case .uuid: "must be a UUID"
        case .regex: "must be an ECMA-262 regular expression"
        case .jsonPointer: "must be a JSON Pointer"
        case .relativeJSONPointer: "must be a relative JSON Pointer"
        }
    }

    func accepts(_ s: String) -> Bool {
        switch self {
        case .dateTime: FormatCheck.dateTime(Array(s.utf8))
        case .date: FormatCheck.date(Array(s.utf8)[...])
        case .time: FormatCheck.time(Array(s.utf8)[...])
        case .duration: FormatCheck.duration(Array(s.utf8))
        case .email, .idnEmail: FormatCheck.email(s)
        case .hostname: FormatCheck.hostname(s)
        case .ipv4: FormatCheck.ipv4(Array(s.utf8)[...])
        case .ipv6: FormatCheck.ipv6(Array(s.utf8)[...])
        case .uri: FormatCheck.uri(Array(s.unicodeScalars), relative: false, international: false)
        case .uriReference: FormatCheck.uri(Array(s.unicodeScalars), relative: true, international: false)
        case .iri: FormatCheck.uri(Array(s.unicodeScalars), relative: false, international: true)
        case .iriReference: FormatCheck.uri(Array(s.unicodeScalars), relative: true, international: true)
        case .uriTemplate: FormatCheck.uriTemplate(Array(s.unicodeScalars))
        case .uuid: FormatCheck.uuid(Array(s.utf8))
        case .regex: FormatCheck.regex(s)
        case .jsonPointer: FormatCheck.jsonPointer(Array(s.utf8)[...])
        case .relativeJSONPointer: FormatCheck.relativeJSONPointer(Array(s.utf8))
        }
    }
}

/// The format checks, each a small parser of the grammar its RFC gives.
enum FormatCheck {
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
    static func isAlpha(_ c: UInt8) -> Bool { c | 0x20 >= 0x61 && c | 0x20 <= 0x7A }

    /// The value of exactly `count` digits at `start`, nil when they are not all digits.
    static func number(_ s: ArraySlice<UInt8>, _ start: Int, _ count: Int) -> Int? {
        guard start >= s.startIndex, start + count <= s.endIndex else { return nil }
        var value = 0
        for c in s[start..<start + count] {
            guard isDigit(c) else { return nil }
            value = value * 10 + Int(c - 0x30)
        }
        return value
    }

    // MARK: Dates and times (RFC 3339 section 5.6)

    /// `full-date`: YYYY-MM-DD, the day existing in that month.
    static func date(_ s: ArraySlice<UInt8>) -> Bool {
        let i = s.startIndex
        guard s.count == 10, s[i + 4] == UInt8(ascii: "-"), s[i + 7] == UInt8(ascii: "-"),
            let year = number(s, i, 4), let month = number(s, i + 5, 2), let day = number(s, i + 8, 2),
            (1...12).contains(month), day >= 1
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    /// `full-time`: HH:MM:SS[.fraction](Z|±HH:MM). A leap second (:60) only at 23:59 UTC.
    static func time(_ s: ArraySlice<UInt8>) -> Bool {
        let i = s.startIndex
        guard s.count >= 9, s[i + 2] == UInt8(ascii: ":"), s[i + 5] == UInt8(ascii: ":"),
            let hour = number(s, i, 2), let minute = number(s, i + 3, 2), let second = number(s, i + 6, 2),
            hour <= 23, minute <= 59, second <= 60
        else { return false }
        var j = i + 8
        if j < s.endIndex, s[j] == UInt8(ascii: ".") {
            j += 1
            let digitsStart = j
            while j < s.endIndex, isDigit(s[j]) { j += 1 }
            guard j > digitsStart else { return false }
        }
        guard j < s.endIndex else { return false }
        var offset = 0
        switch s[j] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard j + 1 == s.endIndex else { return false }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard s.endIndex - j == 6, s[j + 3] == UInt8(ascii: ":"),
                let offsetHour = number(s, j + 1, 2), let offsetMinute = number(s, j + 4, 2), offsetHour <= 23, offsetMinute <= 59
            else { return false }
            offset = (offsetHour * 60 + offsetMinute) * (s[j] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return false
        }
        if second == 60 {
            let utc = ((hour * 60 + minute - offset) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    /// `date-time`: full-date "T" full-time (`T` and `Z` in either case).
    static func dateTime(_ s: [UInt8]) -> Bool {
        guard s.count > 11, s[10] | 0x20 == UInt8(ascii: "t") else { return false }
        return date(s[0..<10]) && time(s[11...])
    }

    /// An ISO 8601 duration as RFC 3339 appendix A gives it: `P1Y2M3DT4H5M6S`, `PT1M`, `P2W`.
    /// Date units are a run of Y, M, D in that order; after a `T`, time units a run of H, M, S;
    /// weeks stand alone.
    static func duration(_ s: [UInt8]) -> Bool {
        guard s.first == UInt8(ascii: "P") else { return false }
        var dateUnits = ""
        var timeUnits: String?
        var i = 1
        while i < s.count {
            if s[i] == UInt8(ascii: "T") {
                guard timeUnits == nil else { return false }
                timeUnits = ""
                i += 1
                continue
            }
            let start = i
            while i < s.count, isDigit(s[i]) { i += 1 }
            guard i > start, i < s.count else { return false }
            let unit = String(UnicodeScalar(s[i]))
            if timeUnits != nil { timeUnits! += unit } else { dateUnits += unit }
            i += 1
        }
        if dateUnits == "W" { return timeUnits == nil }
        if let timeUnits {
            guard !timeUnits.isEmpty, "HMS".contains(timeUnits) else { return false }
            return dateUnits.isEmpty || "YMD".contains(dateUnits)
        }
        return !dateUnits.isEmpty && "YMD".contains(dateUnits)
    }

    // MARK: Hosts and addresses

    /// RFC 1123 host name: dot-separated labels of letters, digits and hyphens, 1 to 63 characters,
    /// not starting or ending with a hyphen; 253 characters in all.
    static func hostname(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") })
            else { return false }
            // "--" in the third and fourth places is reserved for A-labels (xn--…), RFC 5891 4.2.3.1.
            let start = label.startIndex
            if label.count >= 4, label[start + 2] == UInt8(ascii: "-"), label[start + 3] == UInt8(ascii: "-"),
                !(label[start] | 0x20 == UInt8(ascii: "x") && label[start + 1] | 0x20 == UInt8(ascii: "n"))
            {
                return false
            }
        }
        return true
    }

    /// An email address: `JSONSchema.looksLikeEmail`, and a local part that is quoted or has no
    /// leading, trailing or doubled dot.
    static func email(_ s: String) -> Bool {
        guard JSONSchema.looksLikeEmail(s), let at = s.lastIndex(of: "@") else { return false }
        let local = s[..<at]
        if local.count >= 2, local.first == "\"", local.last == "\"" { return true }
        return local.first != "." && local.last != "." && !local.contains("..")
    }

    /// Dotted-quad IPv4: four decimal numbers 0–255, no leading zeros.
    static func ipv4(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), part.allSatisfy(isDigit), part.count == 1 || part.first != UInt8(ascii: "0") else { return false }
            return number(part, part.startIndex, part.count)! <= 255
        }
    }

    /// RFC 4291 text IPv6: eight groups of 1–4 hex digits, `::` once for a run of zero groups, the
    /// last 32 bits possibly as dotted IPv4. No zone.
    static func ipv6(_ s: ArraySlice<UInt8>) -> Bool {
        let text = Array(s)
        var halves: [ArraySlice<UInt8>] = []
        var compressed = false
        if let range = findDoubleColon(text) {
            compressed = true
            halves = [text[..<range], text[(range + 2)...]]
            if findDoubleColon(Array(halves[1])) != nil { return false }
        } else {
            halves = [text[...]]
        }
        var groups = 0
        for (index, half) in halves.enumerated() where !half.isEmpty {
            let pieces = half.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            for (position, piece) in pieces.enumerated() {
                let isLast = index == halves.count - 1 && position == pieces.count - 1
                if isLast, piece.contains(UInt8(ascii: ".")) {
                    guard ipv4(piece) else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(piece.count), piece.allSatisfy(isHex) else { return false }
                    groups += 1
                }
            }
        }
        return compressed ? groups <= 7 : groups == 8
    }

    static func findDoubleColon(_ s: [UInt8]) -> Int? {
        guard s.count >= 2 else { return nil }
        for i in 0..<(s.count - 1) where s[i] == UInt8(ascii: ":") && s[i + 1] == UInt8(ascii: ":") { return i }
        return nil
    }

    static func uuid(_ s: [UInt8]) -> Bool {
        guard s.count == 36 else { return false }
        for (i, c) in s.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else if !isHex(c) {
                return false
            }
        }
        return true
    }

    // MARK: URIs and IRIs (RFC 3986, RFC 3987)

    static func isUnreserved(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (isAlpha(UInt8(c.value)) || isDigit(UInt8(c.value)) || "-._~".unicodeScalars.contains(c))
    }
    static func isSubDelim(_ c: Unicode.Scalar) -> Bool { "!$&'()*+,;=".unicodeScalars.contains(c) }

    /// RFC 3987 `ucschar` (and `iprivate`, allowed in queries): the non-ASCII characters an IRI may hold.
    static func isUCSChar(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (0xA0...0xD7FF).contains(v) || (0xF900...0xFDCF).contains(v) || (0xFDF0...0xFFEF).contains(v)
            || (v >= 0x10000 && v & 0xFFFF < 0xFFFE && v < 0xE0000) || (0xE1000...0xEFFFD).contains(v)
            || (0xE000...0xF8FF).contains(v) || (0xF0000...0x10FFFD).contains(v)
    }

    /// Whether `s[from..<to]` is made of characters `allowed` admits and `%XX` escapes.
    static func allValid(_ s: [Unicode.Scalar], _ from: Int, _ to: Int, international: Bool, _ allowed: (Unicode.Scalar) -> Bool) -> Bool {
        var i = from
        while i < to {
            let c = s[i]
            if c == "%" {
                guard i + 2 < to, s[i + 1].isASCII, isHex(UInt8(s[i + 1].value)), s[i + 2].isASCII, isHex(UInt8(s[i + 2].value))
                else { return false }
                i += 3
                continue
            }
            guard allowed(c) || (international && isUCSChar(c)) else { return false }
            i += 1
        }
        return true
    }

    static func isPChar(_ c: Unicode.Scalar) -> Bool { isUnreserved(c) || isSubDelim(c) || c == ":" || c == "@" }

    /// A URI (`relative` false) or URI reference, or their IRI forms (`international`).
    static func uri(_ s: [Unicode.Scalar], relative: Bool, international: Bool) -> Bool {
        var end = s.count
        if let hash = s.firstIndex(of: "#") {
            guard allValid(s, hash + 1, s.count, international: international, { isPChar($0) || $0 == "/" || $0 == "?" }) else { return false }
            end = hash
        }
        if let question = s[..<end].firstIndex(of: "?") {
            guard allValid(s, question + 1, end, international: international, { isPChar($0) || $0 == "/" || $0 == "?" }) else { return false }
            end = question
        }
        // A scheme: letters, digits, + - . up to the first ":", before any "/".
        var start = 0
        if let colon = s[..<end].firstIndex(of: ":"), !s[..<colon].contains("/"), colon > 0,
            s[0].isASCII, isAlpha(UInt8(s[0].value)),
            s[1..<colon].allSatisfy({ $0.isASCII && (isAlpha(UInt8($0.value)) || isDigit(UInt8($0.value)) || "+-.".unicodeScalars.contains($0)) })
        {
            start = colon + 1
        } else if !relative {
            return false
        } else if let colon = s[..<end].firstIndex(of: ":"), !s[..<colon].contains("/") {
            return false  // a relative reference's first segment may not hold a ":"
        }
        var pathStart = start
        if end - start >= 2, s[start] == "/", s[start + 1] == "/" {
            let authorityEnd = s[(start + 2)..<end].firstIndex(of: "/") ?? end
            guard authority(s, start + 2, authorityEnd, international: international) else { return false }
            pathStart = authorityEnd
        }
        return allValid(s, pathStart, end, international: international) { isPChar($0) || $0 == "/" }
    }

    /// `[userinfo "@"] host [":" port]`, host a bracketed IPv6 (or IPvFuture) literal or a registered name.
    static func authority(_ s: [Unicode.Scalar], _ from: Int, _ to: Int, international: Bool) -> Bool {
        var hostStart = from
        if let at = s[from..<to].lastIndex(of: "@") {
            guard allValid(s, from, at, international: international, { isUnreserved($0) || isSubDelim($0) || $0 == ":" }) else { return false }
            hostStart = at + 1
        }
        var hostEnd = to
        if hostStart < to, s[hostStart] == "[" {
            guard let close = s[hostStart..<to].firstIndex(of: "]") else { return false }
            let literal = s[(hostStart + 1)..<close]
            let ascii = literal.allSatisfy(\.isASCII) ? literal.map { UInt8($0.value) } : []
            if literal.first == "v" || literal.first == "V" {
                guard literal.count > 3, literal.contains("."),
                    literal.dropFirst().allSatisfy({ isUnreserved($0) || isSubDelim($0) || $0 == ":" })
                else { return false }
            } else if ascii.isEmpty || !ipv6(ascii[...]) {
                return false
            }
            hostEnd = close + 1
            guard hostEnd == to || s[hostEnd] == ":" else { return false }
        } else if let colon = s[hostStart..<to].firstIndex(of: ":") {
            hostEnd = colon
        }
        if hostEnd < to {
            guard s[hostEnd] == ":", s[(hostEnd + 1)..<to].allSatisfy({ $0.isASCII && isDigit(UInt8($0.value)) }) else { return false }
        }
        if hostStart < to, s[hostStart] == "[" { return true }
        return allValid(s, hostStart, hostEnd, international: international) { isUnreserved($0) || isSubDelim($0) }
    }

    /// RFC 6570 URI template: literals, and `{operator? varspec, …}` expressions.
    static func uriTemplate(_ s: [Unicode.Scalar]) -> Bool {
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "{" {
                guard let close = s[i...].firstIndex(of: "}") else { return false }
                guard templateExpression(Array(s[(i + 1)..<close])) else { return false }
                i = close + 1
                continue
            }
            if c == "%" {
                guard i + 2 < s.count, s[i + 1].isASCII, isHex(UInt8(s[i + 1].value)), s[i + 2].isASCII, isHex(UInt8(s[i + 2].value))
                else { return false }
                i += 3
                continue
            }
            if c.value <= 0x20 || "\"<>\\^`{|}".unicodeScalars.contains(c) || c.value == 0x7F { return false }
            i += 1
        }
        return true
    }

    static func templateExpression(_ e: [Unicode.Scalar]) -> Bool {
        var body = e[...]
        if let first = body.first, "+#./;?&=,!@|".unicodeScalars.contains(first) { body = body.dropFirst() }
        guard !body.isEmpty else { return false }
        for spec in body.split(separator: ",", omittingEmptySubsequences: false) {
            var name = spec[...]
            if name.last == "*" {
                name = name.dropLast()
            } else if let colon = name.firstIndex(of: ":") {
                let length = name[(colon + 1)...]
                guard (1...4).contains(length.count), length.first != "0",
                    length.allSatisfy({ $0.isASCII && isDigit(UInt8($0.value)) })
                else { return false }
                name = name[..<colon]
            }
            guard !name.isEmpty, name.first != ".", name.last != ".", !String(String.UnicodeScalarView(name)).contains("..") else { return false }
            var j = name.startIndex
            while j < name.endIndex {
                let c = name[j]
                if c == "%" {
                    guard j + 2 < name.endIndex, name[j + 1].isASCII, isHex(UInt8(name[j + 1].value)), name[j + 2].isASCII,
                        isHex(UInt8(name[j + 2].value))
                    else { return false }
                    j += 3
                    continue
                }
                guard c.isASCII, isAlpha(UInt8(c.value)) || isDigit(UInt8(c.value)) || c == "_" || c == "." else { return false }
                j += 1
            }
        }
        return true
    }

    // MARK: Pointers and patterns

    /// RFC 6901: empty, or `/`-prefixed tokens where `~` is only `~0` or `~1`.
    static func jsonPointer(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.isEmpty || s.first == UInt8(ascii: "/") else { return false }
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == UInt8(ascii: "~") {
                guard i + 1 < s.endIndex, s[i + 1] == UInt8(ascii: "0") || s[i + 1] == UInt8(ascii: "1") else { return false }
                i += 1
            }
            i += 1
        }
        return true
    }

    /// A relative JSON Pointer: a non-negative integer (no leading zeros), then `#` or a JSON Pointer.
    static func relativeJSONPointer(_ s: [UInt8]) -> Bool {
        var i = 0
        while i < s.count, isDigit(s[i]) { i += 1 }
        guard i > 0, i == 1 || s[0] != UInt8(ascii: "0") else { return false }
        if i < s.count, s[i] == UInt8(ascii: "#") { return i + 1 == s.count }
        return jsonPointer(s[i...])
    }

    /// A regular expression in ECMA-262's syntax: it compiles, and uses no escape or group that
    /// only other engines know (`\Z`, `\A`, `\z`, `\Q…\E`, atomic groups, inline flags…).
    static func regex(_ s: String) -> Bool {
        isECMAScriptSyntax(s) && SchemaPattern(s) != nil
    }

    static func isECMAScriptSyntax(_ pattern: String) -> Bool {
        let chars = Array(pattern.unicodeScalars)
        let letterEscapes = Set("dDwWsSbBfnrtvcxukpP".unicodeScalars)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" {
                guard i + 1 < chars.count else { return false }
                let next = chars[i + 1]
                if next.properties.isAlphabetic, next.isASCII, !letterEscapes.contains(next) { return false }
                i += 2
                continue
            }
            if chars[i] == "(", i + 2 < chars.count, chars[i + 1] == "?" {
                let kind = chars[i + 2]
                let lookbehind = kind == "<" && i + 3 < chars.count && (chars[i + 3] == "=" || chars[i + 3] == "!")
                let named = kind == "<" && !lookbehind
                guard kind == ":" || kind == "=" || kind == "!" || lookbehind || named else { return false }
            }
            i += 1
        }
        return true
    }
}
