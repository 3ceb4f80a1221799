import AsyncHTTPClient
import NIOCore
import NIOSSL
import Synchronization

/// A target the ``TargetGuard`` refused when the request was about to go out.
struct TargetRefused: Error, Sendable {
    var reason: String
}

/// The HTTP clients requests to receivers (and OAuth2 token endpoints) go out through, each
/// request connected to the address the target guard checked.
///
/// The guard resolves a host name once and checks every address. The request is then sent
/// through a client whose DNS override maps that name to the first checked address, so the
/// connection goes there and never to what a second resolution might answer (DNS rebinding: a
/// name that resolves to a public address for the check, then to `127.0.0.1` or the metadata
/// address for the connection). TLS still sends the name (SNI) and verifies the certificate
/// against it. There is one client per name, address and verification setting, kept while in use
/// and for a while after, so that connections to a receiver are reused.
///
/// A URL the guard allowed is not checked again for ``verdictLifetime``: its requests meanwhile go
/// to the address that was checked, so a name that starts answering a private address reaches
/// nothing new, and is refused once the lifetime ends. Without this every attempt resolved its
/// host, a lookup that holds one of the blocking pool's threads (as many as cores) for a round trip
/// to the DNS server. Refusals are not kept: a URL refused now is looked at again on its next try.
final class GuardedClients: Sendable {
    let targetGuard: TargetGuard
    /// How long an allowed verdict stands.
    let verdictLifetime: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let verdicts = Mutex<[String: (pin: TargetGuard.Pin?, until: ContinuousClock.Instant)]>([:])
    /// Beyond this many URLs, the verdicts are dropped and made again.
    static let verdictLimit = 10_000
    private let configuration: HTTPClient.Configuration
    private let insecureConfiguration: HTTPClient.Configuration
    /// For numeric hosts, and for every host when private targets are allowed (nothing to pin).
    private let direct: HTTPClient
    private let insecureDirect: HTTPClient
    private let pinned = Mutex<(clients: [PinKey: PinnedClient], shutDown: Bool)>(([:], false))
    /// A pinned client unused this long is shut down (its address is resolved afresh next time).
    static let idleLifetime: Duration = .seconds(300)
    /// Beyond this many pinned clients, idle ones are shut down, least recently used first.
    static let idleClientLimit = 256

    private struct PinKey: Hashable {
        var pin: TargetGuard.Pin
        var insecure: Bool
    }

    private struct PinnedClient {
        var client: HTTPClient
        var users: Int
        var lastUsed: ContinuousClock.Instant
    }

    init(
        targetGuard: TargetGuard, configuration: HTTPClient.Configuration, verdictLifetime: Duration = .seconds(30),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.targetGuard = targetGuard
        self.verdictLifetime = verdictLifetime
        self.now = now
        self.configuration = configuration
        var insecureConfiguration = configuration
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        insecureConfiguration.tlsConfiguration = tls
        self.insecureConfiguration = insecureConfiguration
        direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        insecureDirect = HTTPClient(eventLoopGroupProvider: .singleton, configuration: insecureConfiguration)
    }

    /// How many pinned clients exist now (for tests).
    var pinnedCount: Int { pinned.withLock { $0.clients.count } }

    /// Checks `url` with the target guard and runs `body` with a client that connects where the
    /// guard looked. Read the response's body inside `body`: the client is kept until it returns.
    /// Throws ``TargetRefused`` when the guard refuses the URL.
    func withClient<Result>(
        for url: String, insecure: Bool, isolation: isolated (any Actor)? = #isolation, _ body: (HTTPClient) async throws -> Result
    ) async throws -> Result {
        switch await verdict(for: url) {
        case .refused(let reason):
            throw TargetRefused(reason: reason)
        case .allowed(nil):
            return try await body(insecure ? insecureDirect : direct)
        case .allowed(let pin?):
            let key = PinKey(pin: pin, insecure: insecure)
            guard let client = acquire(key) else { throw HTTPClientError.alreadyShutdown }
            defer { release(key) }
            return try await body(client)
        }
    }

    /// The guard's verdict on `url`: an allowed one kept for ``verdictLifetime``.
    private func verdict(for url: String) async -> TargetGuard.Verdict {
        let checkedAt = now()
        if let kept = verdicts.withLock({ $0[url] }), checkedAt < kept.until { return .allowed(kept.pin) }
        let verdict = await targetGuard.verdict(for: url)
        if case .allowed(let pin) = verdict {
            verdicts.withLock { verdicts in
                if verdicts.count >= Self.verdictLimit { verdicts.removeAll(keepingCapacity: true) }
                verdicts[url] = (pin, checkedAt + verdictLifetime)
            }
        }
        return verdict
    }

    /// The client for `key`, made when there is none; nil once the clients are shut down.
    private func acquire(_ key: PinKey) -> HTTPClient? {
        let now = ContinuousClock.now
        let (client, retired) = pinned.withLock { state -> (HTTPClient?, [HTTPClient]) in
            guard !state.shutDown else { return (nil, []) }
            if var entry = state.clients[key] {
                entry.users += 1
                entry.lastUsed = now
                state.clients[key] = entry
                return (entry.client, [])
            }
            var retired: [HTTPClient] = []
            let idle = state.clients.filter { $0.value.users == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
            var excess = state.clients.count + 1 - Self.idleClientLimit
            for (idleKey, entry) in idle where excess > 0 || now - entry.lastUsed > Self.idleLifetime {
                state.clients[idleKey] = nil
                retired.append(entry.client)
                excess -= 1
            }
            var configuration = key.insecure ? insecureConfiguration : self.configuration
            configuration.dnsOverride = [key.pin.host: key.pin.address]
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            state.clients[key] = PinnedClient(client: client, users: 1, lastUsed: now)
            return (client, retired)
        }
        for old in retired { Task { try? await old.shutdown() } }
        return client
    }

    private func release(_ key: PinKey) {
        pinned.withLock { state in
            state.clients[key]?.users -= 1
            state.clients[key]?.lastUsed = .now
        }
    }

    /// Shuts every client down; call once, after the last request.
    func shutdown() async {
        let all = pinned.withLock { state in
            defer { state = ([:], true) }
            return state.clients.values.map(\.client)
        }
        for client in all + [direct, insecureDirect] { try? await client.shutdown() }
    }
}
