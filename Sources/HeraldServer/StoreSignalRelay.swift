import HeraldCore
import ServiceLifecycle

/// Wakes the long changes feeds when events were appended — by this node or, on a shared store,
/// by any node: the feeds wait on ``CommitSignal``, fed from the store's own signals after each
/// commit, never by the code that wrote. Every `seq` up to the counter read here has committed
/// (the store hands `seq` out in commit order).
struct StoreSignalRelay: Service {
    let store: any HeraldStore
    let commits: CommitSignal

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await signal in await store.signals() where signal == .events {
                if let seq = try? await store.lastSeq() { commits.committed(seq) }
            }
        }
    }
}
