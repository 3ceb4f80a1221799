import Synchronization

/// Batches concurrent calls into one call of an underlying write (group commit).
///
/// Each caller queues its items. The first caller to find no write in progress leads: it takes
/// everything queued, writes it in one call, hands each caller its slice of the results, and —
/// if more arrived meanwhile — passes the lead to the oldest waiting caller. No caller writes
/// more than one batch, no background task is needed, and under load one transaction (one fsync)
/// serves many requests.
public final class GroupCommitter<Item: Sendable, Output: Sendable>: Sendable {
    public typealias Write = @Sendable ([Item]) async throws -> [Output]

    private let write: Write
    private let maxBatch: Int
    private let state = Mutex(State())

    private struct State {
        var queue: [Waiter] = []
        var writing = false
    }

    private struct Waiter: Sendable {
        var items: [Item]
        var ticket: Ticket
    }

    /// - Parameters:
    ///   - maxBatch: items per write at most (a caller's items are never split).
    ///   - write: writes the items in one transaction and returns one output per item, in order.
    public init(maxBatch: Int = 5000, write: @escaping Write) {
        self.maxBatch = maxBatch
        self.write = write
    }

    /// Callers whose items wait for a write (the one in progress holds none).
    public var waiting: Int { state.withLock { $0.queue.count } }

    /// Writes `items` (in a batch with whatever else is queued) and returns their outputs.
    public func submit(_ items: [Item]) async throws -> [Output] {
        let ticket = Ticket()
        let leads = state.withLock { state -> Bool in
            state.queue.append(Waiter(items: items, ticket: ticket))
            if state.writing { return false }
            state.writing = true
            return true
        }
        if leads { await lead() }
        while true {
            switch await ticket.wait() {
            case .written(let outputs): return outputs
            case .failed(let error): throw error
            case .lead: await lead()
            }
        }
    }

    private func lead() async {
        let batch = state.withLock { state -> [Waiter] in
            var count = 0
            var taken = 0
            for waiter in state.queue {
                if taken > 0 && count + waiter.items.count > maxBatch { break }
                count += waiter.items.count
                taken += 1
            }
            let batch = Array(state.queue.prefix(taken))
            state.queue.removeFirst(taken)
            return batch
        }
        do {
            let outputs = try await write(batch.flatMap(\.items))
            var offset = 0
            for waiter in batch {
                waiter.ticket.fulfil(.written(Array(outputs[offset..<(offset + waiter.items.count)])))
                offset += waiter.items.count
            }
        } catch {
            for waiter in batch { waiter.ticket.fulfil(.failed(error)) }
        }
        let next = state.withLock { state -> Ticket? in
            guard let first = state.queue.first else {
                state.writing = false
                return nil
            }
            return first.ticket
        }
        next?.fulfil(.lead)
    }

    /// What the leader hands a waiting caller: its outputs, the batch's failure, or the lead.
    private enum Outcome: Sendable {
        case written([Output])
        case failed(any Error)
        case lead
    }

    private typealias Ticket = Rendezvous<Outcome>
}
