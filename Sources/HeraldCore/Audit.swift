import Foundation

/// One administrative action or change to a hook, as the audit log keeps it: who, from where,
/// what, on what, and the fields that changed (before → after, secrets masked).
public struct AuditEntry: Sendable, Hashable {
    public var id: Int64
    public var at: Date
    /// An email, `token 12 (crm-sync)`, `command line` or `Herald` (the config file, the engine).
    public var actor: String
    /// The client's address, for what came over HTTP.
    public var address: String?
    /// `user.created`, `hook.updated`, `team.deleted`, …
    public var action: String
    /// What it was done to: `user ana@bde.example`, `hook 12`, `team bde`.
    public var target: String
    /// The team the target belongs to, so a filter by team finds it.
    public var teamID: Int64?
    /// `{"field": {"before": …, "after": …}}`, or what else says what happened.
    public var changes: JSONValue

    public init(
        id: Int64 = 0, at: Date, actor: String, address: String?, action: String, target: String, teamID: Int64?, changes: JSONValue = .object([])
    ) {
        self.id = id
        self.at = at
        self.actor = actor
        self.address = address
        self.action = action
        self.target = target
        self.teamID = teamID
        self.changes = changes
    }

    /// The fields of `after` that differ from `before`, each as `{"before", "after"}`; the values of
    /// fields that hold secrets read `"••••"` (changed or not, they never reach the log).
    public static func changes(before: JSONValue?, after: JSONValue?) -> JSONValue {
        let old = before?.objectValue ?? []
        let new = after?.objectValue ?? []
        var keys: [String] = []
        for (key, _) in old + new where !keys.contains(key) { keys.append(key) }
        var changed: [(String, JSONValue)] = []
        for key in keys {
            let was = old.first { $0.key == key }?.value ?? .null
            let now = new.first { $0.key == key }?.value ?? .null
            guard was != now else { continue }
            let masked = isSecret(key)
            changed.append((key, .object([("before", masked && was != .null ? .string("••••") : was), ("after", masked && now != .null ? .string("••••") : now)])))
        }
        return .object(changed)
    }

    /// Whether a field's value is a secret.
    public static func isSecret(_ key: String) -> Bool {
        let key = key.lowercased()
        return ["secret", "password", "token", "credentials", "private_key", "client_secret", "authorization"].contains { key.contains($0) }
    }
}

/// Who is acting, for the audit log: set for the length of a request (or a command) so that the
/// services below record it without every call passing it along.
public struct AuditActor: Sendable, Hashable {
    public var name: String
    public var address: String?

    public init(name: String, address: String? = nil) {
        self.name = name
        self.address = address
    }

    @TaskLocal public static var current: AuditActor?

    public static let commandLine = AuditActor(name: "command line")
    public static let herald = AuditActor(name: "Herald")
}

/// Which audit entries to read, newest first.
public struct AuditQuery: Sendable, Hashable {
    /// `user` finds `user.created`, `user.deleted`, …; an exact action finds that one.
    public var action: String?
    public var actor: String?
    public var teamID: Int64?
    public var since: Date?
    public var until: Date?
    /// Entries older than this id (the next page).
    public var beforeID: Int64?
    public var limit: Int

    public init(action: String? = nil, actor: String? = nil, teamID: Int64? = nil, since: Date? = nil, until: Date? = nil, beforeID: Int64? = nil, limit: Int = 50) {
        self.action = action
        self.actor = actor
        self.teamID = teamID
        self.since = since
        self.until = until
        self.beforeID = beforeID
        self.limit = limit
    }

    /// Whether `action` is what this query's `action` asks for.
    public func matches(action candidate: String) -> Bool {
        guard let action else { return true }
        return candidate == action || candidate.hasPrefix(action + ".")
    }
}

/// The audit log.
public protocol AuditStore: Sendable {
    func recordAudit(_ entry: AuditEntry) async throws
    func auditLog(_ query: AuditQuery) async throws -> [AuditEntry]
    /// Deletes entries older than `cutoff`, at most `limit`; returns how many.
    func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int
}

extension AuditStore {
    /// Records that the current actor (``AuditActor/current``, else Herald itself) did `action`.
    public func audit(_ action: String, target: String, teamID: Int64? = nil, changes: JSONValue = .object([]), now: Date = Date()) async throws {
        let actor = AuditActor.current ?? .herald
        try await recordAudit(
            AuditEntry(at: now, actor: actor.name, address: actor.address, action: action, target: target, teamID: teamID, changes: changes)
        )
    }
}
