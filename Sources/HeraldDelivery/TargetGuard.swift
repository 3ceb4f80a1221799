import Foundation
import NIOCore
import NIOPosix

/// Refuses delivery targets on loopback, private, link-local, metadata, multicast, reserved,
/// documentation or unspecified addresses, IPv4 ones written inside IPv6 included (SSRF guard),
/// unless private targets are allowed, or the address is in a network allowed by name
/// (`--allow-target CIDR`).
public struct TargetGuard: Sendable {
    public var allowPrivateTargets: Bool
    /// Networks accepted even though they are not public (a partner's VPN range, a test network).
    public var allowedNetworks: [IPNetwork]
    /// Resolves a host name to numeric addresses (`getaddrinfo` on the thread pool by default).
    public var resolver: @Sendable (String) async -> [String]

    public init(
        allowPrivateTargets: Bool, allowedNetworks: [IPNetwork] = [],
        resolver: @escaping @Sendable (String) async -> [String] = TargetGuard.systemResolver
    ) {
        self.allowPrivateTargets = allowPrivateTargets
        self.allowedNetworks = allowedNetworks
        self.resolver = resolver
    }

    /// `getaddrinfo`, on the thread pool.
    public static let systemResolver: @Sendable (String) async -> [String] = { host in
        (try? await NIOThreadPool.singleton.runIfActive { resolve(host) }) ?? []
    }

    /// A host name and the checked address a request to it must connect to.
    public struct Pin: Sendable, Hashable {
        public var host: String
        public var address: String
    }

    /// What the guard says of a URL.
    public enum Verdict: Sendable, Hashable {
        /// Refused, with the reason.
        case refused(String)
        /// Allowed. For a host name, the address that was checked: the connection must go there
        /// and nowhere else (a second resolution could answer otherwise — DNS rebinding). Nil for
        /// a numeric host, or when private targets are allowed (nothing is checked then).
        case allowed(Pin?)
    }

    /// Why the URL may not be used as a target, or nil when it may.
    public func refusal(for url: String) async -> String? {
        if case .refused(let reason) = await verdict(for: url) { return reason }
        return nil
    }

    /// Checks the URL: its form, then every address its host resolves to (once).
    public func verdict(for url: String) async -> Verdict {
        if let refusal = Self.malformed(url) { return .refused(refusal) }
        guard let components = URLComponents(string: url), let host = components.host else { return .refused(Self.notAnURL) }
        if allowPrivateTargets { return .allowed(nil) }
        let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let literal = Self.isLiteralAddress(bareHost)
        let addresses = literal ? [bareHost] : await resolver(bareHost)
        guard let first = addresses.first else { return .refused("the host \(host) does not resolve") }
        // The pin is looked up by the host as the HTTP client reads the URL: if that reading
        // differed, the client would resolve the name itself, unchecked.
        if !literal, URL(string: url)?.host != host { return .refused("the host of the URL cannot be read one way only") }
        for address in addresses where !allowedNetworks.contains(where: { $0.contains(address) }) && Self.isNonPublic(address) {
            // Which address is not said: the answer would let anyone map the internal network by name.
            return .refused(literal ? "the address \(host) is a non-public address" : "the host \(host) resolves to a non-public address")
        }
        return .allowed(literal ? nil : Pin(host: host, address: first))
    }

    static let notAnURL = "the URL must be an absolute http or https URL"

    /// What makes the URL unusable whatever the address: not http(s), no host, characters a URL
    /// parser may cut the URL at (NUL, CR, LF, space, other controls), a port outside 1–65535, or
    /// an IPv4 address in a spelling other than four decimal numbers (`2130706433`, `0x7f.1`,
    /// `127.1`), which resolvers read differently.
    static func malformed(_ url: String) -> String? {
        if url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) {
            return "the URL must not contain spaces or control characters (NUL, CR, LF, …)"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else { return notAnURL }
        if let port = components.port, !(1...65_535).contains(port) { return "the port must be between 1 and 65535" }
        if host.hasPrefix("[") {
            var v4 = in_addr()
            if inet_pton(AF_INET, String(host.dropFirst().dropLast()), &v4) == 1 { return "write an IPv4 address without brackets (a.b.c.d)" }
        }
        if (components.percentEncodedHost ?? host).contains("%") { return "the host must not be percent-encoded (write an internationalized name in its xn-- form)" }
        if !host.hasPrefix("["), host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X" }), !isLiteralAddress(host) {
            var parsed = in_addr()
            if inet_aton(host, &parsed) != 0 { return "write an IPv4 address as four decimal numbers (a.b.c.d), not \(host)" }
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

    /// IPv4 networks that are not the public Internet (RFC 6890 and successors).
    static let nonPublicV4: [IPNetwork] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    ].map { IPNetwork($0)! }

    /// IPv6 networks that are not the public Internet, or that tunnel to addresses this guard cannot
    /// see (Teredo, local-use NAT64).
    static let nonPublicV6: [IPNetwork] = [
        "::/96", "100::/64", "2001::/32", "2001:2::/48", "2001:10::/28", "2001:20::/28", "2001:db8::/32", "64:ff9b:1::/48",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
        // Documentation (RFC 9637) and segment-routing identifiers (RFC 9602).
        "3fff::/20", "5f00::/16",
    ].map { IPNetwork($0)! }

    /// Whether a numeric address is not a public one: the ranges above (`::/96` holds `::`, `::1`
    /// and the deprecated IPv4-compatible `::a.b.c.d`), and IPv6 forms that carry an IPv4 address
    /// (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) judged by
    /// the IPv4 address they carry.
    public static func isNonPublic(_ address: String) -> Bool {
        guard let bytes = IPNetwork.bytes(of: address) else { return true }
        if bytes.count == 4 { return nonPublicV4.contains { $0.contains(bytes) } }
        if let embedded = embeddedIPv4(bytes) { return nonPublicV4.contains { $0.contains(embedded) } }
        return nonPublicV6.contains { $0.contains(bytes) }
    }

    static func embeddedIPv4(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return Array(bytes[12..<16]) }  // ::ffff:0:0/96
        if bytes[0..<8].allSatisfy({ $0 == 0 }) && bytes[8] == 0xff && bytes[9] == 0xff && bytes[10] == 0 && bytes[11] == 0 {
            return Array(bytes[12..<16])  // ::ffff:0:0:0/96, IPv4-translated (RFC 2765)
        }
        if bytes[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0][...] { return Array(bytes[12..<16]) }  // 64:ff9b::/96
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return Array(bytes[2..<6]) }  // 2002::/16, 6to4
        return nil
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.8.0.0/16`, `fd00::/8`; a bare address is one host).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let bytes = Self.bytes(of: first) else { return nil }
        let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let prefix, (0...(bytes.count * 8)).contains(prefix) else { return nil }
        self.bytes = bytes
        self.prefix = prefix
        description = text
    }

    /// The address's bytes (4 or 16), or nil when it is not a numeric address.
    static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    public func contains(_ address: String) -> Bool {
        guard let other = Self.bytes(of: address) else { return false }
        return contains(other)
    }

    func contains(_ other: [UInt8]) -> Bool {
        guard other.count == bytes.count else { return false }
        var remaining = prefix
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            guard bytes[index] & mask == other[index] & mask else { return false }
            remaining -= bits
        }
        return true
    }
}
