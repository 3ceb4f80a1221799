import Foundation

/// A tenant: a consumer team (a "department") that owns hooks and tokens.
public struct Team: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    public var slug: String
    public var createdAt: Date

    public init(id: Int64, name: String, slug: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.slug = slug
        self.createdAt = createdAt
    }

    /// Slugs are lower-case letters, digits and dashes, 1–63 characters, starting with a letter or digit.
    public static func isValidSlug(_ slug: String) -> Bool {
        guard (1...63).contains(slug.utf8.count), let first = slug.utf8.first, first != UInt8(ascii: "-") else { return false }
        return slug.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }
}
