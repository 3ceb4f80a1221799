import Foundation

/// Prefixed, sortable identifiers: `evt_` + 26 characters of time-ordered Crockford base32.
public enum Identifier {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A ULID-style id: 48 bits of milliseconds, 80 random bits.
    public static func make(prefix: String, now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
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

    /// A delivery id: a random UUID in lower case (the GUID GitHub-style receivers expect).
    public static func deliveryID() -> String { UUID().uuidString.lowercased() }
}
