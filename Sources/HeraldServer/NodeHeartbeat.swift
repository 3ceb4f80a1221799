import Foundation
import HeraldCore
import Logging
import ServiceLifecycle

/// On a store nodes share, says every ``interval`` that this node runs, with its role: the
/// overview lists the nodes and when each was last heard from.
struct NodeHeartbeat: Service {
    let registry: any NodeRegistry
    let node: NodeInfo
    let logger: Logger
    static let interval: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var node = node
            while !Task.isCancelled {
                node.heartbeatAt = Date()
                do { try await registry.heartbeat(node) } catch { logger.warning("heartbeat failed", metadata: ["error": "\(error)"]) }
                try? await Task.sleep(for: Self.interval)
            }
        }
    }
}
