import Foundation
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

    @Test(arguments: [
        ("grant.approved@1", 1, true), ("grant.approved@1", 2, false), ("grant.approved@1", nil, false), ("grant.approved", 2, true),
        ("grant.*", 1, true), ("*", 2, true), ("grant.approve@1", 1, false), ("grant.approved@01", 1, false), ("grant.approved@+1", 1, false),
    ] as [(String, Int?, Bool)])
    func versionedPatterns(_ pattern: String, _ version: Int?, _ expected: Bool) {
        #expect(EventMatcher.matches(pattern: pattern, eventType: "grant.approved", version: version) == expected, "\(pattern) v\(version ?? 0)")
    }

    @Test func aVersionIsNamedOnAWholeEventNameOnly() {
        for valid in ["grant.approved@1", "grant.approved@12"] { #expect(EventMatcher.isValidPattern(valid), "\(valid)") }
        for invalid in ["grant.approved@0", "grant.approved@", "grant.approved@x", "grant.*@1", "*@1", "@1", "grant.approved@1@2", "grant.approved@-1", "grant.approved@01", "grant.approved@+2"] {
            #expect(!EventMatcher.isValidPattern(invalid), "\(invalid)")
        }
    }

    @Test func anEventTypeSaysWhyItRefusesAnEvent() {
        var type = EventType(
            name: "grant.approved", description: "", versions: [.init(number: 2), .init(number: 1, deprecated: true), .init(number: 3, archived: true)]
        )
        #expect(type.versions.map(\.number) == [1, 2, 3] && type.currentVersion?.number == 2)
        #expect(type.refusal(version: nil) == nil && type.refusal(version: 1) == nil)
        #expect(type.refusal(version: 3)?.field == "version" && type.refusal(version: 4)?.message.contains("versions 1, 2, 3, not 4") == true)
        #expect(type.isDeprecated(version: 1) && !type.isDeprecated(version: 2))
        var stored = EventType(name: type.name, description: "")
        stored.readLifecycle(type.lifecycleJSON)
        #expect(stored == type, "the flags and versions survive the store")
        type.archived = true
        #expect(type.refusal(version: 2)?.field == "type")
        #expect(EventType(name: "lead.created", description: "").refusal(version: 1)?.message == "lead.created has no versions")
        #expect(EventType(name: "lead.created", description: "").lifecycleJSON == nil)
    }

    @Test func aVersionedEventsPayloadNamesItsVersion() {
        let event = Event(seq: 1, id: "evt_1", type: "grant.approved", data: "{}", channels: [], idempotencyKey: nil, timestamp: Date(timeIntervalSince1970: 0), version: 2)
        #expect(event.payload == #"{"id":"evt_1","type":"grant.approved","version":2,"timestamp":"1970-01-01T00:00:00Z","data":{}}"#)
        var plain = event
        plain.version = nil
        #expect(!plain.payload.contains("version"))
    }

    @Test func anEventWithoutChannelsReachesEveryMatchingHook() {
        #expect(EventMatcher.listens(hook(channels: []), to: event(channels: []), grantedChannels: ["bde"]))
        #expect(EventMatcher.listens(hook(channels: ["bde"]), to: event(channels: []), grantedChannels: ["bde"]))
        #expect(EventMatcher.listens(hook(channels: ["bde"]), to: event(channels: []), grantedChannels: []))
    }

    @Test func anEventWithChannelsReachesOnlyHooksSharingOne() {
        #expect(EventMatcher.listens(hook(channels: ["bde"]), to: event(channels: ["bde", "cce"]), grantedChannels: ["bde"]))
        #expect(!EventMatcher.listens(hook(channels: ["tourism"]), to: event(channels: ["bde", "cce"]), grantedChannels: ["tourism"]))
    }

    @Test func aHookWithoutChannelsListensOnEveryChannelItsTeamMayRead() {
        let defaults = hook(channels: [])
        #expect(EventMatcher.listens(defaults, to: event(channels: ["bde"]), grantedChannels: ["bde", "regional"]))
        #expect(EventMatcher.listens(defaults, to: event(channels: ["regional"]), grantedChannels: ["bde", "regional"]))
        #expect(!EventMatcher.listens(defaults, to: event(channels: ["cce"]), grantedChannels: ["bde", "regional"]))
        // A revoked grant stops it at once, as for a hook that names the channel.
        #expect(!EventMatcher.listens(defaults, to: event(channels: ["regional"]), grantedChannels: ["bde"]))
        // The same rule in the feed and in replay.
        #expect(EventMatcher.isVisible(event(channels: ["regional"]), toTeamWith: [defaults], grantedChannels: ["bde", "regional"]))
        #expect(!EventMatcher.isVisible(event(channels: ["cce"]), toTeamWith: [defaults], grantedChannels: ["bde", "regional"]))
        #expect(ReplayJob.matches(event(channels: ["bde"]), hook: defaults, grantedChannels: ["bde"]))
        #expect(!ReplayJob.matches(event(channels: ["cce"]), hook: defaults, grantedChannels: ["bde"]))
    }

    @Test func aHookOfTheConfigFileGetsEveryEventItsPatternsMatch() {
        var managed = hook(channels: [])
        managed.managedKey = "leads/document_changed/0"
        #expect(EventMatcher.listens(managed, to: event(channels: ["anything"]), grantedChannels: []))
    }

    @Test func aChannelDoesNotOverrideTheEventPattern() {
        #expect(!EventMatcher.listens(hook(channels: ["bde"], events: ["lead.updated"]), to: event(channels: ["bde"]), grantedChannels: ["bde"]))
    }

    @Test(arguments: [("*", true), ("lead.*", true), ("lead.created", true), ("lead.", false), ("Lead.Created", false), ("", false), ("a..b", false), ("**", false)])
    func patternValidity(_ pattern: String, _ valid: Bool) {
        #expect(EventMatcher.isValidPattern(pattern) == valid)
    }

    func hook(channels: [String], events: [String] = ["*"], createdAfterSeq: Int64 = 0) -> Hook {
        Hook(
            id: 1, teamID: 1, url: "https://example.org", contentType: .json, encryptedSecret: Data(), events: events, channels: channels,
            active: true, insecureSSL: false, timeoutSeconds: 10, ordering: .none, signature: .hmac, createdAt: Date(), updatedAt: Date(),
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: createdAfterSeq, failingSince: nil
        )
    }

    func event(_ seq: Int64 = 5, channels: [String]) -> Event {
        Event(seq: seq, id: "evt_\(seq)", type: "lead.created", data: "{}", channels: channels, idempotencyKey: nil, timestamp: Date())
    }

    @Test func aHookReceivesRoutedEventsOnlyThroughGrantedChannels() {
        let hook = hook(channels: ["bde", "cce"])
        #expect(EventMatcher.routes(event(channels: ["bde"]), to: hook, grantedChannels: ["bde"]))
        #expect(!EventMatcher.routes(event(channels: ["cce"]), to: hook, grantedChannels: ["bde"]))
        #expect(EventMatcher.routes(event(channels: ["cce"]), to: hook, grantedChannels: ["bde", "cce"]))
        #expect(EventMatcher.routes(event(channels: []), to: hook, grantedChannels: []))
    }

    @Test func aHookReceivesNothingFromBeforeItExisted() {
        #expect(!EventMatcher.routes(event(5, channels: []), to: hook(channels: [], createdAfterSeq: 5), grantedChannels: []))
        #expect(EventMatcher.routes(event(6, channels: []), to: hook(channels: [], createdAfterSeq: 5), grantedChannels: []))
    }

    @Test func aTeamSeesInItsFeedWhatItsHooksCouldReceive() {
        let hooks = [hook(channels: ["cce", "bde"], events: ["lead.*"])]
        #expect(EventMatcher.isVisible(event(channels: ["cce"]), toTeamWith: hooks, grantedChannels: ["cce"]))
        #expect(!EventMatcher.isVisible(event(channels: ["bde"]), toTeamWith: hooks, grantedChannels: ["cce"]))
        #expect(EventMatcher.isVisible(event(channels: []), toTeamWith: hooks, grantedChannels: ["cce"]))
        #expect(!EventMatcher.isVisible(event(channels: []), toTeamWith: [], grantedChannels: ["cce"]))
    }
}

/// The router finds exactly the hooks the matcher would, by looking them up instead of testing all.
@Suite struct HookRouterTests {
    let fixtures = EventMatcherTests()

    func hook(_ id: Int64, _ events: [String], channels: [String] = [], team: Int64 = 1) -> Hook {
        var hook = fixtures.hook(channels: channels, events: events)
        hook.id = id
        hook.teamID = team
        return hook
    }

    @Test func itAgreesWithTheMatcherOnEveryPatternKind() {
        let hooks = [
            hook(1, ["lead.created"]), hook(2, ["lead.*"]), hook(3, ["*"]), hook(4, ["lead.assigned.*"]), hook(5, ["grant.*", "lead.created"]),
            hook(6, ["lead.created"], channels: ["bde"]), hook(7, ["lead.created"], channels: ["cce"], team: 2), hook(8, ["leads.*"]),
        ]
        let router = HookRouter(hooks: hooks, grantedChannels: [1: ["bde"], 2: ["cce"]])
        for type in ["lead.created", "lead.assigned.bde", "grant.approved", "leads.x", "ping", "other"] {
            for channels in [[], ["bde"], ["cce"], ["tourism"]] {
                let event = Event(seq: 9, id: "evt_9", type: type, data: "{}", channels: channels, idempotencyKey: nil, timestamp: fixtures.event(channels: []).timestamp)
                let expected = hooks.filter { EventMatcher.routes(event, to: $0, grantedChannels: $0.teamID == 1 ? ["bde"] : ["cce"]) }.map(\.id)
                #expect(router.hooks(for: event).map(\.id) == expected, "\(type) \(channels)")
            }
        }
    }

    @Test func aHookWithTwoMatchingPatternsGetsTheEventOnce() {
        let router = HookRouter(hooks: [hook(1, ["lead.*", "lead.created", "*"])], grantedChannels: [:])
        #expect(router.hooks(for: fixtures.event(channels: [])).map(\.id) == [1])
    }
}

/// What the hook page says of a hook that matched none of its team's recent events.
@Suite struct MatchReportTests {
    let fixtures = EventMatcherTests()

    func event(_ seq: Int64, _ type: String, _ channels: [String]) -> Event {
        Event(seq: seq, id: "evt_\(seq)", type: type, data: "{}", channels: channels, idempotencyKey: nil, timestamp: Date())
    }

    @Test func itSaysWhichTypesAndChannelsKeptEveryEventAway() {
        let hook = fixtures.hook(channels: ["regional"], events: ["lead.updated"], createdAfterSeq: 1)
        let events = [
            event(1, "lead.created", []),  // before the hook
            event(2, "lead.created", ["bde"]), event(3, "lead.created", []), event(4, "lead.updated", ["bde"]),
            event(5, "lead.created", ["cce"]),  // another team's: not counted
            event(6, "ping", []),
        ]
        let report = MatchReport(hook: hook, events: events, grantedChannels: ["bde", "regional"])
        #expect(report.readable == 3 && report.matched == 0)
        #expect(
            report.explanation
                == "This webhook received none of the last 3 events its team could read: 2 were event types it does not subscribe to (lead.created ×2); 1 was on channels it does not listen on (bde ×1)."
        )
        // One event it does match: nothing to explain.
        let matching = MatchReport(hook: hook, events: events + [event(7, "lead.updated", ["regional"])], grantedChannels: ["bde", "regional"])
        #expect(matching.matched == 1 && matching.explanation == nil)
        // Nothing readable yet: nothing to explain either.
        #expect(MatchReport(hook: hook, events: [event(5, "lead.created", ["cce"])], grantedChannels: ["bde"]).explanation == nil)
    }
}
