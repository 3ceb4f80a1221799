import Foundation

/// A tenant: a consumer team (a "department") that owns hooks and tokens.
public struct Team: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    public var slug: String
    public var createdAt: Date
    /// Channels an admin granted the team besides its own slug.
    public var extraChannels: [String]

    public init(id: Int64, name: String, slug: String, createdAt: Date, extraChannels: [String] = []) {
        self.id = id
        self.name = name
        self.slug = slug
        self.createdAt = createdAt
        self.extraChannels = extraChannels
    }

    /// Every channel the team may subscribe to and read: its own slug, and what an admin granted.
    /// Channels are how a provider routes an event to some teams only, so they are tenancy: a hook
    /// or a feed of this team sees a routed event only through one of these.
    public var channels: Set<String> { Set(extraChannels).union([slug]) }

    /// The channels of `requested` the team may not use, in the order given.
    public func ungranted(_ requested: [String]) -> [String] {
        let granted = channels
        return requested.filter { !granted.contains($0) }
    }

    /// A team's name as people read it: 1–200 characters, not only spaces, without control
    /// characters (NUL, line breaks, …) or the bidirectional controls that can make a name read as
    /// another on screen.
    public static func isValidName(_ name: String) -> Bool {
        guard (1...200).contains(name.unicodeScalars.count), !name.allSatisfy(\.isWhitespace) else { return false }
        return !name.unicodeScalars.contains { scalar in
            scalar.properties.generalCategory == .control || scalar.properties.isBidiControl
        }
    }

    /// The team that owns a Sync Gateway config file's hooks.
    public static let configFileSlug = "config-file"

    /// Slugs only Herald itself gives: a team by such a slug would own hooks it was not given.
    public static func isReservedSlug(_ slug: String) -> Bool { slug == configFileSlug }

    /// Slugs are lower-case letters, digits and dashes, 1–63 characters, starting with a letter or digit.
    public static func isValidSlug(_ slug: String) -> Bool {
        guard (1...63).contains(slug.utf8.count), let first = slug.utf8.first, first != UInt8(ascii: "-") else { return false }
        return slug.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }
}
