import Foundation

/// Prefixed, sortable identifiers: `evt_` + 26 characters of time-ordered Crockford base32.
public enum Identifier {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A ULID-style id: 48 bits of milliseconds, 80 random bits.
    public static func make(prefix: String, now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        for i in 6..<14 { bytes[i] = UInt8(truncatingIfNeeded: random.0 >> (8 * (i - 6))) }
        for i in 14..<16 { bytes[i] = UInt8(truncatingIfNeeded: random.1 >> (8 * (i - 14))) }
        var out = [UInt8]()
        out.reserveCapacity(26)
        var buffer: UInt32 = 0
        var bits = 0
        // 128 bits → 26 base32 digits, with 2 leading zero bits.
        buffer = 0
        bits = 2
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1f)])
            }
        }
        return prefix + String(decoding: out, as: UTF8.self)
    }

    /// A delivery id: a time-ordered (version 7, RFC 9562) UUID in lower case, the GUID GitHub-style
    /// receivers expect. Time order keeps the delivery and attempt indexes append-mostly, so their
    /// cost does not grow with the log. Built from the system generator directly: Foundation's
    /// `UUID()` opens a file per call here.
    public static func deliveryID(now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF
        let randomBits: UInt64 = generator.next()
        let high = (millis << 16) | (randomBits & 0x0FFF) | 0x7000  // 48-bit ms, version 7, 12 random bits
        var low: UInt64 = generator.next()
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        for index in 0..<32 {
            if index == 8 || index == 12 || index == 16 || index == 20 { out.append(UInt8(ascii: "-")) }
            let word = index < 16 ? high : low
            let shift = UInt64(60 - 4 * (index % 16))
            out.append(hex[Int((word >> shift) & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// This build's version: `herald --version`, the `User-Agent` of deliveries and `GET /db/` say it.
public enum HeraldVersion {
    public static let current = "0.12.0"
}
