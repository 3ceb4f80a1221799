import Foundation
import HeraldCore
import Testing

/// The claim policy decides, without a store or a clock, which due deliveries get the free slots.
@Suite struct ClaimPolicyTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func candidate(_ key: Int64, hook: Int64, team: Int64 = 1, dueAgo seconds: Double = 10, ordered: Bool = false, status: DeliveryStatus = .pending) -> ClaimCandidate {
        ClaimCandidate(
            key: key, deliveryID: "d\(key)", hookID: hook, teamID: team, eventSeq: key,
            lifecycle: DeliveryLifecycle(status: status, attemptsInRun: 0, redelivery: false, retries: true, nextAttemptAt: status == .pending ? now.addingTimeInterval(-seconds) : nil),
            previousAttempts: 0, ordered: ordered
        )
    }

    @Test func hooksTakeTurnsSoABacklogCannotCrowdOthersOut() {
        // Hook 1's five deliveries have all waited longer than hook 2's one.
        let backlog = (1...5).map { candidate($0, hook: 1, dueAgo: 100 - Double($0)) }
        let chosen = ClaimPolicy(limit: 3, perHook: 10, perTeam: 10).choose(from: backlog + [candidate(9, hook: 2, dueAgo: 1)], now: now)
        #expect(chosen.map(\.key) == [1, 9, 2])
    }

    @Test func theHookThatWaitedLongestGoesFirst() {
        let chosen = ClaimPolicy(limit: 1, perHook: 10, perTeam: 10).choose(from: [candidate(1, hook: 1, dueAgo: 5), candidate(2, hook: 2, dueAgo: 50)], now: now)
        #expect(chosen.map(\.key) == [2])
    }

    @Test func perHookAndPerTeamCapsCountWhatIsAlreadyInFlight() {
        let policy = ClaimPolicy(limit: 100, perHook: 3, perTeam: 4, inFlightByHook: [1: 2], inFlightByTeam: [1: 2])
        let candidates = (1...5).map { candidate($0, hook: 1) } + (6...10).map { candidate($0, hook: 2) } + [candidate(11, hook: 3, team: 2)]
        let chosen = policy.choose(from: candidates, now: now)
        #expect(chosen.filter { $0.hookID == 1 }.count == 1)  // 2 in flight + 1 = perHook 3
        #expect(chosen.filter { $0.teamID == 1 }.count == 2)  // 2 in flight + 2 = perTeam 4
        #expect(chosen.contains { $0.key == 11 })
    }

    @Test func deliveriesNotYetDueOrInFlightAreNotTaken() {
        let chosen = ClaimPolicy(limit: 10, perHook: 10, perTeam: 10).choose(
            from: [candidate(1, hook: 1, dueAgo: -5), candidate(2, hook: 2, ordered: true, status: .inFlight), candidate(3, hook: 3)], now: now
        )
        #expect(chosen.map(\.key) == [3])
    }

    @Test func whatToReadFollowsTheHooksOrderingAndFreeSlots() {
        let policy = ClaimPolicy(limit: 5, perHook: 3, perTeam: 4, inFlightByHook: [2: 1], inFlightByTeam: [9: 4])
        #expect(policy.read(for: hook(1, ordering: .none)) == .due(limit: 3))
        #expect(policy.read(for: hook(2, ordering: .none)) == .due(limit: 2))
        #expect(policy.read(for: hook(3, ordering: .ordered)) == .oldestUnfinished)
        #expect(policy.read(for: hook(2, ordering: .ordered)) == nil)
        #expect(policy.read(for: hook(4, team: 9, ordering: .none)) == nil)
        var inactive = hook(5, ordering: .none)
        inactive.active = false
        #expect(policy.read(for: inactive) == nil)
        #expect(ClaimPolicy(limit: 0, perHook: 3, perTeam: 4).read(for: hook(1, ordering: .none)) == nil)
    }

    func hook(_ id: Int64, team: Int64 = 1, ordering: Ordering) -> Hook {
        Hook(
            id: id, teamID: team, url: "https://example.org", contentType: .json, encryptedSecret: Data(), events: ["*"], channels: [],
            active: true, insecureSSL: false, timeoutSeconds: 10, ordering: ordering, signature: .hmac, createdAt: now, updatedAt: now,
            lastResponse: LastResponse(code: nil, status: "unused", message: nil), disabledReason: nil, createdAfterSeq: 0, failingSince: nil
        )
    }
}
