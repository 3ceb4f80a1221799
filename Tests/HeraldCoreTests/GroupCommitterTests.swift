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

    @Test func aFailedWriteFailsEveryCallerInItsBatchOnly() async throws {
        struct Boom: Error {}
        let committer = GroupCommitter<Int, Int> { items in
            if items.contains(-1) { throw Boom() }
            return items
        }
        await #expect(throws: Boom.self) { try await committer.submit([-1]) }
        #expect(try await committer.submit([7]) == [7])
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
