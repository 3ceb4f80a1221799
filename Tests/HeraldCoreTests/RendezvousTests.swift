import HeraldCore
import Testing

@Suite struct RendezvousTests {
    @Test func aValueFulfilledBeforeTheWaitIsTakenAtOnceAndValuesCollapse() async {
        let rendezvous = Rendezvous<Int>()
        rendezvous.fulfil(1)
        rendezvous.fulfil(2)
        #expect(await rendezvous.wait() == 2, "the last value kept")
        // Taken: the next wait waits for the next value.
        async let next = rendezvous.wait()
        rendezvous.fulfil(3)
        #expect(await next == 3)
    }

    @Test func aTimedWaitEndsWithItsFallbackAndLeavesNothingBehind() async {
        let rendezvous = Rendezvous<Int>()
        #expect(await rendezvous.wait(timeout: .milliseconds(20), fallback: -1) == -1)
        // Had the timeout been kept, this wait would return -1 at once; it returns the value fulfilled.
        async let next = rendezvous.wait()
        rendezvous.fulfil(5)
        #expect(await next == 5)
        // A value kept from before a timed wait is taken at once.
        rendezvous.fulfil(6)
        #expect(await rendezvous.wait(timeout: .seconds(60), fallback: -3) == 6)
    }

    @Test func cancellingATimedWaitEndsItWithItsFallback() async {
        let rendezvous = Rendezvous<Int>()
        let waiting = Task { await rendezvous.wait(timeout: .seconds(60), fallback: -1) }
        waiting.cancel()
        #expect(await waiting.value == -1)
        // Cancelled before it waited or while it waited: either way the next wait is not woken by it.
        async let next = rendezvous.wait()
        rendezvous.fulfil(9)
        #expect(await next == 9)
    }
}
