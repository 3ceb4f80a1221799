import Foundation
import NIOCore
import NIOPosix

/// Refuses delivery targets on loopback, private, link-local, metadata, multicast or unspecified
/// addresses (SSRF guard), unless private targets are allowed.
public struct TargetGuard: Sendable {
    public var allowPrivateTargets: Bool

    public init(allowPrivateTargets: Bool) {
        self.allowPrivateTargets = allowPrivateTargets
    }

    /// Why the URL may not be used as a target, or nil when it may.
    public func refusal(for url: String) async -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else { return "the URL must be an absolute http or https URL" }
        if allowPrivateTargets { return nil }
        let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let addresses: [String]
        if Self.isLiteralAddress(bareHost) {
            addresses = [bareHost]
        } else {
            addresses = (try? await NIOThreadPool.singleton.runIfActive { Self.resolve(bareHost) }) ?? []
            if addresses.isEmpty { return "the host \(host) does not resolve" }
        }
        if let blocked = addresses.first(where: Self.isNonPublic) {
            return "the host \(host) resolves to \(blocked), a non-public address"
        }
        return nil
    }

    static func isLiteralAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    /// Whether a numeric address is loopback, private, link-local (cloud metadata included),
    /// carrier-grade NAT, multicast, reserved or unspecified.
    public static func isNonPublic(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let value = UInt32(bigEndian: v4.s_addr)
            let a = value >> 24, b = (value >> 16) & 0xff
            return a == 0 || a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168)
                || (a == 100 && (64...127).contains(b)) || a >= 224
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes.allSatisfy({ $0 == 0 }) { return true }  // ::
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }  // ::1
            if bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80 { return true }  // fe80::/10
            if (bytes[0] & 0xfe) == 0xfc { return true }  // fc00::/7
            if bytes[0] == 0xff { return true }  // multicast
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {  // ::ffff:a.b.c.d
                return isNonPublic("\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])")
            }
            return false
        }
        return true
    }
}
