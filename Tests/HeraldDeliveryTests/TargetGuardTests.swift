import HeraldDelivery
import Testing

/// The SSRF guard refuses targets that are not public, unless private targets are allowed.
@Suite struct TargetGuardTests {
    @Test(arguments: [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
        "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "not-an-address",
    ])
    func nonPublicAddresses(_ address: String) {
        #expect(TargetGuard.isNonPublic(address))
    }

    @Test(arguments: ["93.184.216.34", "172.32.0.1", "100.128.0.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
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

    @Test(arguments: ["ftp://example.org/x", "example.org/hook", "http:///path", "mailto:a@example.org"])
    func onlyAbsoluteHTTPURLsAreTargets(_ url: String) async {
        #expect(await TargetGuard(allowPrivateTargets: true).refusal(for: url) == "the URL must be an absolute http or https URL")
    }
}
