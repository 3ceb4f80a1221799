import HeraldCore
import Synchronization
import Testing

@Suite struct GroupCommitterTests {
    final class WriteLog: Sendable {
        let batches = Mutex<[[Int]]>([])
    }

    @Test func concurrentCallersShareWritesAndGetTheirOwnOutputs() async throws {
        let log = WriteLog()
        let committer = GroupCommitter<Int, String>(maxBatch: 1000) { items in
            log.batches.withLock { $0.append(items) }
            try await Task.sleep(for: .milliseconds(5))
            return items.map { "out\($0)" }
        }
        let results = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for caller in 0..<50 {
                group.addTask { (caller, try await committer.submit([caller * 10, caller * 10 + 1])) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for caller in 0..<50 { #expect(results[caller] == ["out\(caller * 10)", "out\(caller * 10 + 1)"]) }
        let batches = log.batches.withLock { $0 }
        #expect(batches.flatMap { $0 }.count == 100, "every item written exactly once")
        #expect(batches.count < 50, "callers shared writes")
    }

    /// Waits until `condition` holds (a positive signal), failing after 30 s.
    private func until(_ what: Comment, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test func aFailedWriteFailsEveryCallerInItsBatchOnly() async throws {
        struct Boom: Error {}
        let log = WriteLog()
        let gate = Mutex(false)
        let committer = GroupCommitter<Int, Int> { items in
            log.batches.withLock { $0.append(items) }
            // The first write waits at the gate, so the next two callers queue up behind it.
            while items == [0], !gate.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
            if items.contains(-1) { throw Boom() }
            return items
        }
        func outcome(_ items: [Int]) async -> Result<[Int], any Error> {
            do { return .success(try await committer.submit(items)) } catch { return .failure(error) }
        }
        async let first = outcome([0])
        try await until("the first write to start") { log.batches.withLock { $0.count } == 1 }
        async let failing = outcome([-1])
        async let sharing = outcome([2])
        try await until("two callers to wait for the next write") { committer.waiting == 2 }
        gate.withLock { $0 = true }
        let (written, failed, shared) = await (first, failing, sharing)
        #expect(try written.get() == [0], "the batch before is written")
        #expect(throws: Boom.self) { try failed.get() }
        #expect(throws: Boom.self, "a caller that shared the failed batch fails with it") { try shared.get() }
        let batches = log.batches.withLock { $0 }
        #expect(batches.count == 2 && Set(batches[1]) == [-1, 2], "\(batches)")
        #expect(try await committer.submit([7]) == [7], "the batch after is written")
    }

    @Test func batchesStayWithinTheLimitWithoutSplittingACaller() async throws {
        let log = WriteLog()
        let committer = GroupCommitter<Int, Int>(maxBatch: 4) { items in
            log.batches.withLock { $0.append(items) }
            try await Task.sleep(for: .milliseconds(2))
            return items
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<20 { group.addTask { _ = try await committer.submit([caller, caller, caller]) } }
            try await group.waitForAll()
        }
        let batches = log.batches.withLock { $0 }
        #expect(batches.allSatisfy { $0.count == 3 }, "3 + 3 > 4: one caller per batch")
        #expect(batches.count == 20)
    }
}
