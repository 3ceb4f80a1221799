import Crypto
import Foundation

/// How a hook's body is encoded.
public enum ContentType: String, Sendable, Codable, CaseIterable {
    /// `application/json`: the payload is the body.
    case json
    /// `application/x-www-form-urlencoded`: the body is `payload=<urlencoded JSON>`.
    case form

    public var mimeType: String {
        switch self {
        case .json: "application/json"
        case .form: "application/x-www-form-urlencoded"
        }
    }
}

/// Whether a hook's deliveries may overlap.
public enum Ordering: String, Sendable, Codable, CaseIterable {
    /// Concurrent deliveries under the per-hook cap.
    case none
    /// Strictly in event `seq` order, one in flight; the next waits for the previous to finish.
    case ordered
}

/// How deliveries are signed.
public enum SignatureScheme: String, Sendable, Codable, CaseIterable {
    case hmac
    case ed25519
}

/// How a hook gets its events.
public enum HookMode: String, Sendable, Codable, CaseIterable {
    /// A POST per event (the default).
    case push
    /// HTTP Sync: pages of rows in `seq` order, one page in flight, the cursor moving on a 2xx only.
    case sync
}

/// An HTTP Sync hook's settings and position.
public struct SyncSettings: Sendable, Hashable {
    /// Rows per page, 1–1000.
    public var pageSize: Int = 200
    /// The most time between two syncs, 60 s – 24 h (a sync also runs soon after a change).
    public var periodSeconds: Int = 3600
    /// The last `seq` the receiver acknowledged (2xx): the next page starts after it.
    public var cursor: Int64 = 0
    /// A "Sync now" asked since the last page.
    public var requestedAt: Date?
    public var lastSyncedAt: Date?

    public init() {}

    public static let pageSizes = 1...1000
    public static let periods = 60...86_400
}

/// What a hook's body is.
public enum PayloadFormat: String, Sendable, Codable, CaseIterable {
    /// Herald's event envelope: `{id, type, timestamp, data, …}`.
    case event
    /// What Sync Gateway's webhook handlers post: for a document change, the document itself with
    /// `_id`, `_rev` and `_deleted`; for any other event (`db_state_changed`), its `data`.
    case syncGateway = "sync_gateway"
}

/// The outcome of the last delivery attempt, GitHub's `last_response`.
public struct LastResponse: Sendable, Hashable, Codable {
    public var code: Int?
    /// `unused`, `active` (last attempt succeeded) or `failed`.
    public var status: String
    public var message: String?

    public init(code: Int?, status: String, message: String?) {
        self.code = code
        self.status = status
        self.message = message
    }
}

/// A subscription of a team: where to POST which events, and how.
public struct Hook: Sendable, Hashable {
    public var id: Int64
    public var teamID: Int64
    public var url: String
    public var contentType: ContentType
    /// The signing secret, encrypted with the store's ``SecretBox``.
    public var encryptedSecret: Data
    public var events: [String]
    public var channels: [String]
    public var active: Bool
    public var insecureSSL: Bool
    public var timeoutSeconds: Int
    public var ordering: Ordering
    public var signature: SignatureScheme
    public var createdAt: Date
    public var updatedAt: Date
    public var lastResponse: LastResponse
    public var disabledReason: String?
    /// Events with `seq` at or below this existed before the hook and are not delivered to it.
    public var createdAfterSeq: Int64
    /// Since when every attempt has failed (nil while healthy).
    public var failingSince: Date?
    /// The Ed25519 signing key (`whsk_…`), encrypted, for hooks with `signature: ed25519`.
    public var encryptedSigningKey: Data?
    /// The matching public key (`whpk_…`) receivers verify with.
    public var publicKey: String?
    /// The secret replaced by the last rotation, encrypted; it still signs until `previousSecretExpiresAt`.
    public var encryptedPreviousSecret: Data?
    public var previousSecretExpiresAt: Date?
    /// `function (doc, oldDoc) { return true; }`: which events the hook gets (ES5, run in the sandbox).
    public var filter: String?
    /// `function (payload) { return {…}; }`: the body actually sent and signed.
    public var transform: String?
    public var payloadFormat: PayloadFormat
    /// The most attempts in flight at once for this hook, below the engine's per-hook cap.
    public var maxInFlight: Int?
    /// Where a config-managed hook is defined (`databases.leads.event_handlers.document_changed[0]`);
    /// such hooks change only with the file.
    public var managedKey: String?
    /// ``HookCredentials`` as JSON, sealed with the store's ``SecretBox``.
    public var encryptedCredentials: Data?
    public var mode: HookMode = .push
    public var sync = SyncSettings()
    /// Whether deliveries also carry GitHub's header names (`X-GitHub-Event`, `X-GitHub-Delivery`,
    /// `X-Hub-Signature`…), so receivers written for GitHub take them unchanged.
    public var githubHeaders = true
    /// Its own retry schedule, disable window and rate limit, where they differ from the server's.
    public var policy = DeliveryPolicy()
    /// Its circuit breaker, as the last recorded attempts left it.
    public var circuit = CircuitState()

    public init(
        id: Int64, teamID: Int64, url: String, contentType: ContentType, encryptedSecret: Data, events: [String], channels: [String],
        active: Bool, insecureSSL: Bool, timeoutSeconds: Int, ordering: Ordering, signature: SignatureScheme, createdAt: Date,
        updatedAt: Date, lastResponse: LastResponse, disabledReason: String?, createdAfterSeq: Int64, failingSince: Date?,
        encryptedSigningKey: Data? = nil, publicKey: String? = nil, encryptedPreviousSecret: Data? = nil, previousSecretExpiresAt: Date? = nil,
        filter: String? = nil, transform: String? = nil, payloadFormat: PayloadFormat = .event, maxInFlight: Int? = nil, managedKey: String? = nil,
        encryptedCredentials: Data? = nil
    ) {
        self.encryptedCredentials = encryptedCredentials
        self.filter = filter
        self.transform = transform
        self.payloadFormat = payloadFormat
        self.maxInFlight = maxInFlight
        self.managedKey = managedKey
        self.encryptedSigningKey = encryptedSigningKey
        self.publicKey = publicKey
        self.encryptedPreviousSecret = encryptedPreviousSecret
        self.previousSecretExpiresAt = previousSecretExpiresAt
        self.id = id
        self.teamID = teamID
        self.url = url
        self.contentType = contentType
        self.encryptedSecret = encryptedSecret
        self.events = events
        self.channels = channels
        self.active = active
        self.insecureSSL = insecureSSL
        self.timeoutSeconds = timeoutSeconds
        self.ordering = ordering
        self.signature = signature
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastResponse = lastResponse
        self.disabledReason = disabledReason
        self.createdAfterSeq = createdAfterSeq
        self.failingSince = failingSince
    }
}

/// A hook's settings as submitted by a team (create or full replace).
public struct HookSettings: Sendable, Hashable {
    public var url: String
    public var contentType: ContentType = .json
    public var events: [String] = ["*"]
    public var channels: [String] = []
    public var active: Bool = true
    public var insecureSSL: Bool = false
    public var timeoutSeconds: Int = 10
    public var ordering: Ordering = .none
    public var signature: SignatureScheme = .hmac
    public var filter: String?
    public var transform: String?
    public var payloadFormat: PayloadFormat = .event
    public var maxInFlight: Int?
    /// Set for hooks made from the config file only.
    public var managedKey: String?
    /// Basic credentials and custom headers, in the clear until sealed into the hook. On an update,
    /// the hook's current ones (opened) unless the request changes them.
    public var credentials: HookCredentials?
    public var mode: HookMode = .push
    public var sync = SyncSettings()
    /// ``Hook/githubHeaders``.
    public var githubHeaders = true
    /// ``Hook/policy``.
    public var policy = DeliveryPolicy()

    public init(url: String) { self.url = url }
}

/// A new hook's key material, sealed with the store's ``SecretBox``.
public struct HookKeys: Sendable, Hashable {
    public var encryptedSecret: Data
    public var encryptedSigningKey: Data?
    public var publicKey: String?
    public var encryptedCredentials: Data?

    public init(encryptedSecret: Data, encryptedSigningKey: Data? = nil, publicKey: String? = nil, encryptedCredentials: Data? = nil) {
        self.encryptedCredentials = encryptedCredentials
        self.encryptedSecret = encryptedSecret
        self.encryptedSigningKey = encryptedSigningKey
        self.publicKey = publicKey
    }
}

extension HookSettings {
    /// A hook's current settings, to change some and save them back.
    public init(hook: Hook) {
        self.init(url: hook.url)
        contentType = hook.contentType
        events = hook.events
        channels = hook.channels
        active = hook.active
        insecureSSL = hook.insecureSSL
        timeoutSeconds = hook.timeoutSeconds
        ordering = hook.ordering
        signature = hook.signature
        filter = hook.filter
        transform = hook.transform
        payloadFormat = hook.payloadFormat
        maxInFlight = hook.maxInFlight
        managedKey = hook.managedKey
        mode = hook.mode
        sync = hook.sync
        githubHeaders = hook.githubHeaders
        policy = hook.policy
    }
}

extension Hook {
    /// The longest any attempt waits for a response (a config file's `timeout: 0`, "no timeout",
    /// means this), so a slot is never held for ever.
    public static let maxTimeoutSeconds = 300

    /// The key the sandbox compiles one of this hook's scripts under: each hook's scripts run in a
    /// realm of their own, and an edited script is compiled afresh.
    public static func scriptKey(hookID: Int64, kind: String, source: String) -> String {
        let digest = SHA256.hash(data: Data(source.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
        return "\(kind)-\(hookID)-\(digest)"
    }
}
