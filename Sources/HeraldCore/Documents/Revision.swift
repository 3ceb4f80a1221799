import Crypto
import Foundation
import HeraldVerify

/// A document revision id as Sync Gateway and CouchDB write it: `generation-digest`, e.g.
/// `2-5f6a…`. The generation counts the writes; the digest is derived from the parent revision,
/// the deleted flag and the body, so the same write on the same parent gives the same id.
public struct Revision: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let generation: Int
    public let digest: String

    public init(generation: Int, digest: String) {
        self.generation = generation
        self.digest = digest
    }

    /// Parses `N-hex`; nil for anything else.
    public init?(_ text: String) {
        guard let dash = text.firstIndex(of: "-"), let generation = Int(text[..<dash]), generation > 0 else { return nil }
        let digest = text[text.index(after: dash)...]
        guard !digest.isEmpty, digest.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else { return nil }
        self.init(generation: generation, digest: String(digest))
    }

    public var description: String { "\(generation)-\(digest)" }

    /// The revision a write on `parent` creates.
    public static func next(after parent: Revision?, deleted: Bool, body: String) -> Revision {
        var hasher = SHA256()
        hasher.update(data: Array((parent?.description ?? "").utf8))
        hasher.update(data: [0, deleted ? 1 : 0, 0])
        hasher.update(data: Array(body.utf8))
        let digest = Array(hasher.finalize()).prefix(16)
        return Revision(generation: (parent?.generation ?? 0) + 1, digest: digest.hexString)
    }

    public static func < (lhs: Revision, rhs: Revision) -> Bool {
        (lhs.generation, lhs.digest) < (rhs.generation, rhs.digest)
    }
}
