import Foundation

/// A short-lived link a provider application hands to one of its users so they can manage one
/// team's hooks in Herald's pages — embedded in the provider's own page — without a Herald account.
///
/// The link carries a random token (`hrpl_…`, 256 bits) of which only the SHA-256 is stored. Opening
/// it once starts a portal session (the link is spent); the session, too, is kept as a hash, and ends
/// at ``sessionExpiresAt``. A read-only link's session may look but not change anything.
public struct PortalLink: Sendable, Hashable {
    public var id: Int64
    public var teamID: Int64
    public var readOnly: Bool
    /// Until when the link may be opened.
    public var expiresAt: Date
    /// How long the session it opens lasts.
    public var sessionLifetime: TimeInterval
    /// Who asked for it: `token 12 (crm)`, an email.
    public var createdBy: String
    public var createdAt: Date
    /// When it was opened (and so spent), and from which address.
    public var openedAt: Date?
    public var openedFrom: String?
    /// The end of the session it opened.
    public var sessionExpiresAt: Date?
    /// The token every form of its session must carry.
    public var csrfToken: String?

    public init(
        id: Int64, teamID: Int64, readOnly: Bool, expiresAt: Date, sessionLifetime: TimeInterval, createdBy: String, createdAt: Date,
        openedAt: Date? = nil, openedFrom: String? = nil, sessionExpiresAt: Date? = nil, csrfToken: String? = nil
    ) {
        self.id = id
        self.teamID = teamID
        self.readOnly = readOnly
        self.expiresAt = expiresAt
        self.sessionLifetime = sessionLifetime
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.openedAt = openedAt
        self.openedFrom = openedFrom
        self.sessionExpiresAt = sessionExpiresAt
        self.csrfToken = csrfToken
    }

    /// What a link's token starts with.
    public static let tokenPrefix = "hrpl_"
    /// What a portal session's cookie starts with, so a request finds it without a second lookup.
    public static let sessionPrefix = "portal_"
    /// How long a link may wait to be opened: 30 s to a day (default 10 minutes).
    public static let expiryRange: ClosedRange<Int> = 30...86_400
    public static let defaultExpiry = 600
    /// How long its session may last: 5 minutes to a day (default an hour).
    public static let sessionLifetimeRange: ClosedRange<Int> = 300...86_400
    public static let defaultSessionLifetime = 3600

    /// What a portal session's token is kept as: its SHA-256 behind ``sessionPrefix``, so the
    /// session's one-time messages find their row.
    public static func sessionHash(of token: String) -> String { sessionPrefix + APIToken.hash(token) }

    /// Whether a session's stored hash is a portal session's (kept on its link's row) rather than
    /// a person's: where every store looks for its one-time messages.
    public static func isPortalSession(hash: String) -> Bool { hash.hasPrefix(sessionPrefix) }

    /// A new link token.
    public static func generateToken() -> String { tokenPrefix + Session.randomToken() }

    /// `unopened` (it may still be opened), `open` (its session is live), `ended` or `expired`.
    public func state(at now: Date) -> String {
        if openedAt == nil { return expiresAt > now ? "unopened" : "expired" }
        return (sessionExpiresAt ?? now) > now ? "open" : "ended"
    }

    /// Who the portal's actions are by, in the audit log.
    public var actor: String { "portal link \(id)" }

    /// The person a portal session acts as in the pages: a member of the link's team, with an id
    /// no user has (users count up from 1; these start at 2⁴⁰).
    public func member(at now: Date) -> User {
        User(id: Self.memberIDBase + id, email: actor, passwordHash: "", role: .member, teamID: teamID, createdAt: openedAt ?? now)
    }

    static let memberIDBase: Int64 = 1 << 40

    /// `https://crm.example.org[:port]`, as a CSP source: the scheme and host of a URL without a
    /// path; nil for anything else.
    public static func frameOrigin(_ text: String) -> String? {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/",
            components.query == nil, components.fragment == nil, components.user == nil,
            host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "[" || $0 == "]" || $0 == ":" })
        else { return nil }
        return "\(scheme)://\(host.lowercased())" + (components.port.map { ":\($0)" } ?? "")
    }

    /// `path` as logs and traces may show it: a link's token cut off (it opens a session).
    public static func redacted(path: String) -> String {
        path.hasPrefix("/portal/" + tokenPrefix) ? "/portal/" + tokenPrefix + "…" : path
    }

    /// Whether a portal session may open `path`: the team's hook pages (list, form, a hook, its
    /// deliveries, replays) and signing out; never the account, token, document or admin pages.
    public static func allows(path: String) -> Bool {
        path == "/" || path == "/hooks" || path.hasPrefix("/hooks/") || path == "/logout" || path.hasPrefix("/portal/")
    }
}

/// The portal links a provider application mints.
public protocol PortalLinkStore: Sendable {
    /// Stores a link whose token hashes to `tokenHash`.
    func createPortalLink(teamID: Int64, tokenHash: String, readOnly: Bool, expiresAt: Date, sessionLifetime: TimeInterval, createdBy: String, now: Date)
        async throws -> PortalLink
    /// Spends the link whose token hashes to `tokenHash` — once, and only before it expires — and
    /// starts its session (`sessionHash`, `csrfToken`) until `now` + its session lifetime. Nil when
    /// there is no such link, it has expired or it was opened before.
    func openPortalLink(tokenHash: String, sessionHash: String, csrfToken: String, from address: String?, now: Date) async throws -> PortalLink?
    /// The opened link whose live session hashes to `sessionHash`.
    func portalSession(sessionHash: String, now: Date) async throws -> PortalLink?
    /// A team's links (every team's with nil), newest first, the expired and ended ones included
    /// until they are a day old.
    func portalLinks(teamID: Int64?, now: Date) async throws -> [PortalLink]
    /// Ends a link: it can no longer be opened, and the session it opened ends. False: no such link.
    func revokePortalLink(id: Int64) async throws -> Bool
    /// Ends the session whose hash is `sessionHash` (signing out).
    func endPortalSession(sessionHash: String) async throws
}
