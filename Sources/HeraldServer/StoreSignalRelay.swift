import HeraldCore
import ServiceLifecycle

/// On a store other nodes write to, wakes this node's long changes feeds when any node appends:
/// the feeds wait on ``CommitSignal``, which this node's own writes feed directly. Every `seq` up
/// to the counter read here has committed (the store hands `seq` out in commit order).
struct StoreSignalRelay: Service {
    let store: any HeraldStore & StoreSignals
    let commits: CommitSignal

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await signal in await store.signals() where signal == .events {
                if let seq = try? await store.lastSeq() { commits.committed(seq) }
            }
        }
    }
}
