import HeraldCore
import Testing

@Suite struct EventMatcherTests {
    @Test(arguments: [
        ("lead.created", "lead.created", true), ("lead.created", "lead.updated", false), ("lead.*", "lead.created", true),
        ("lead.*", "lead.assigned.bde", true), ("lead.*", "leads.created", false), ("lead.*", "lead", false), ("*", "lead.created", true),
        ("*", "ping", false), ("ping", "ping", true), ("lead.*", "ping", false),
    ])
    func patterns(_ pattern: String, _ type: String, _ expected: Bool) {
        #expect(EventMatcher.matches(pattern: pattern, eventType: type) == expected)
    }

    @Test func anEventWithoutChannelsReachesEveryMatchingHook() {
        #expect(EventMatcher.matches(patterns: ["*"], hookChannels: [], eventType: "lead.created", eventChannels: []))
        #expect(EventMatcher.matches(patterns: ["*"], hookChannels: ["bde"], eventType: "lead.created", eventChannels: []))
    }

    @Test func anEventWithChannelsReachesOnlyHooksSharingOne() {
        #expect(EventMatcher.matches(patterns: ["*"], hookChannels: ["bde"], eventType: "lead.created", eventChannels: ["bde", "cce"]))
        #expect(!EventMatcher.matches(patterns: ["*"], hookChannels: ["tourism"], eventType: "lead.created", eventChannels: ["bde", "cce"]))
        #expect(!EventMatcher.matches(patterns: ["*"], hookChannels: [], eventType: "lead.created", eventChannels: ["bde"]))
    }

    @Test func aChannelDoesNotOverrideTheEventPattern() {
        #expect(!EventMatcher.matches(patterns: ["lead.updated"], hookChannels: ["bde"], eventType: "lead.created", eventChannels: ["bde"]))
    }

    @Test(arguments: [("*", true), ("lead.*", true), ("lead.created", true), ("lead.", false), ("Lead.Created", false), ("", false), ("a..b", false), ("**", false)])
    func patternValidity(_ pattern: String, _ valid: Bool) {
        #expect(EventMatcher.isValidPattern(pattern) == valid)
    }
}
