import HeraldDelivery
import Testing

/// The SSRF guard refuses targets that are not public, unless private targets are allowed.
@Suite struct TargetGuardTests {
    @Test(arguments: [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
        "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "not-an-address",
        // Special IPv4 ranges: this network, IETF protocol assignments, documentation, benchmarking, reserved.
        "0.1.2.3", "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.19.255.254", "198.51.100.7", "203.0.113.9", "240.0.0.1", "192.88.99.1",
        // IPv6 forms that carry a non-public IPv4 address, and IPv6's own special ranges.
        "::7f00:1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::808:808", "2002:7f00:1::", "2002:a9fe:a9fe::1",
        "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fec0::1", "2001:db8::1", "2001:2::1", "100::1",
        // IPv4-translated (::ffff:0:a.b.c.d), IPv6 documentation (3fff::/20) and SRv6 identifiers (5f00::/16).
        "::ffff:0:7f00:1", "::ffff:0:10.0.0.1", "3fff::1", "3fff:fff:ffff::1", "5f00::1",
    ])
    func nonPublicAddresses(_ address: String) {
        #expect(TargetGuard.isNonPublic(address))
    }

    @Test(arguments: [
        "93.184.216.34", "172.32.0.1", "100.128.0.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "198.20.0.1", "192.0.3.1", "::ffff:0:808:808", "4000::1",
    ])
    func publicAddresses(_ address: String) {
        #expect(!TargetGuard.isNonPublic(address))
    }

    @Test func literalPrivateTargetsAreRefusedUnlessAllowed() async {
        let strict = TargetGuard(allowPrivateTargets: false)
        #expect(await strict.refusal(for: "http://127.0.0.1:9000/hook")?.contains("non-public") == true)
        #expect(await strict.refusal(for: "http://[::1]/hook")?.contains("non-public") == true)
        #expect(await strict.refusal(for: "https://93.184.216.34/hook") == nil)
        #expect(await TargetGuard(allowPrivateTargets: true).refusal(for: "http://127.0.0.1:9000/hook") == nil)
    }

    @Test(arguments: [
        ("http://127.0.0.1:19000\u{0000}@192.0.2.1/", "control characters"), ("http://example.org/a\r\nX-Injected: 1", "control characters"),
        ("http://example.org/a b", "spaces"), ("http://example.org:0/", "port"), ("http://example.org:65536/", "port"),
        ("http://2130706433/", "four decimal numbers"), ("http://0x7f000001/", "four decimal numbers"), ("http://127.1/", "four decimal numbers"),
        ("http://0177.0.0.1/", "four decimal numbers"), ("http://ex%61mple.org/", "percent-encoded"), ("http://127%2E0.0.1/", "percent-encoded"),
        ("http://[8.8.8.8]/", "without brackets"), ("http://[127.0.0.1]:80/", "without brackets"),
    ])
    func malformedURLsAreRefusedEvenWhenPrivateTargetsAreAllowed(_ url: String, _ reason: String) async {
        let refusal = await TargetGuard(allowPrivateTargets: true).refusal(for: url)
        #expect(refusal?.contains(reason) == true, "\(url): \(refusal ?? "accepted")")
    }

    /// The refusal says that a name resolves to a non-public address, never which one: the answer
    /// would be a way to read the internal DNS.
    @Test func aRefusalDoesNotNameTheInternalAddress() async {
        let guarded = TargetGuard(allowPrivateTargets: false, resolver: { _ in ["10.20.30.40"] })
        let refusal = await guarded.refusal(for: "http://intranet.example/hook")
        #expect(refusal == "the host intranet.example resolves to a non-public address")
    }

    @Test func anAllowedNetworkIsAcceptedAndOnlyIt() async throws {
        let guarded = TargetGuard(allowPrivateTargets: false, allowedNetworks: [try #require(IPNetwork("10.8.0.0/16")), try #require(IPNetwork("fd00:1::/32"))])
        #expect(await guarded.refusal(for: "http://10.8.3.4:8080/hook") == nil)
        #expect(await guarded.refusal(for: "http://[fd00:1::5]/hook") == nil)
        #expect(await guarded.refusal(for: "http://10.9.0.1/hook")?.contains("non-public") == true)
        #expect(await guarded.refusal(for: "http://127.0.0.1/hook")?.contains("non-public") == true)
        #expect(IPNetwork("10.8.0.0/33") == nil)
        #expect(IPNetwork("example.org/8") == nil)
    }

    @Test(arguments: ["ftp://example.org/x", "example.org/hook", "http:///path", "mailto:a@example.org"])
    func onlyAbsoluteHTTPURLsAreTargets(_ url: String) async {
        #expect(await TargetGuard(allowPrivateTargets: true).refusal(for: url) == "the URL must be an absolute http or https URL")
    }
}
