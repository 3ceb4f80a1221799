import Foundation

/// A JSON document in a database, at its current revision.
public struct Document: Sendable, Hashable {
    public var database: String
    public var id: String
    public var revision: Revision
    /// The body as compact JSON, without the `_id`, `_rev` and `_deleted` members.
    public var body: String
    public var deleted: Bool
    /// The `seq` of the write that made this revision (shared with the event log).
    public var seq: Int64
    public var channels: [String]
    /// Revision ids, newest first (this one included), as `?revs=true` shows them.
    public var history: [Revision]

    public init(database: String, id: String, revision: Revision, body: String, deleted: Bool, seq: Int64, channels: [String], history: [Revision]) {
        self.database = database
        self.id = id
        self.revision = revision
        self.body = body
        self.deleted = deleted
        self.seq = seq
        self.channels = channels
        self.history = history
    }

    /// The body as clients read it: `_id` and `_rev` first (and `_deleted` on a tombstone), then the members.
    public var json: JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [("_id", .string(id)), ("_rev", .string(revision.description))]
        if deleted { pairs.append(("_deleted", .bool(true))) }
        if case .object(let members)? = try? JSONValue(parsing: body) { pairs += members }
        return .object(pairs)
    }
}

/// A database of documents.
public struct DatabaseInfo: Sendable, Hashable {
    public var name: String
    /// Live (not deleted) documents.
    public var documentCount: Int
    /// The `seq` of its latest write (0 before any).
    public var updateSeq: Int64
    public var createdAt: Date
    /// The member whose value orders a document's writes (WebhookDB's conditional upsert,
    /// ``VersionGuard``); nil: revisions alone decide.
    public var versionField: String?

    public init(name: String, documentCount: Int, updateSeq: Int64, createdAt: Date, versionField: String? = nil) {
        self.name = name
        self.documentCount = documentCount
        self.updateSeq = updateSeq
        self.createdAt = createdAt
        self.versionField = versionField
    }

    /// Lower-case letters, digits, `_` and `-`, starting with a letter, at most 63: the name is also
    /// the first word of its change events' type (`leads.document_changed`).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...63).contains(name.utf8.count), let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return name.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: "-")
        }
    }

    /// What a write is decided against besides the current revision, read in the write's transaction.
    public struct Options: Sendable, Hashable {
        public var versionField: String?
        public init(versionField: String? = nil) { self.versionField = versionField }
        public var versionGuard: VersionGuard? { versionField.map(VersionGuard.init) }
    }

    /// The type of the events a database's writes append.
    public static func changeEventType(_ database: String) -> String { "\(database).\(documentChangedSuffix)" }
    public static let documentChangedSuffix = "document_changed"
    /// The type of the event raised when the database goes online or offline (Sync Gateway's `db_state_changed`).
    public static func stateEventType(_ database: String) -> String { "\(database).db_state_changed" }
}

/// Why a write is refused, in CouchDB's words.
public enum DocumentWriteError: Error, Sendable, Hashable {
    /// 409 `conflict`: the document exists and no revision was given.
    case exists
    /// 409 `conflict`: the given revision is not the current one.
    case revisionConflict
    /// 404 `not_found`: `missing` or `deleted`.
    case notFound(reason: String)
    /// 400 `bad_request`.
    case badRequest(String)
    /// Not an error to the writer: the write carries a version no newer than the stored
    /// document's (``VersionGuard``), so it is discarded — the document keeps `revision`, and no
    /// event is raised.
    case stale(revision: String, reason: String)
}

/// WebhookDB's conditional upsert, for a database that names a version field (`updated_at`): a
/// write whose version is not newer than the stored document's is discarded, and one that is newer
/// may be written without the current revision — the version orders the writes. Values compare as
/// numbers when both are, as instants when both are RFC 3339 timestamps, else as strings; a write
/// or a stored document without the field is decided by revisions alone.
public struct VersionGuard: Sendable, Hashable {
    public let field: String

    public init(field: String) { self.field = field }

    /// A version field names a top-level member a client may write: not empty, not starting with
    /// `_` (the document's own members), at most 128 bytes.
    public static func isValidField(_ field: String) -> Bool {
        !field.isEmpty && field.utf8.count <= 128 && !field.hasPrefix("_")
    }

    public enum Verdict: Sendable, Hashable {
        /// Neither side carries a version: revisions decide.
        case unversioned
        case newer
        /// Discarded; why, in words.
        case stale(String)
    }

    /// How the body `incoming` stands to the stored body `stored`.
    public func verdict(_ incoming: String, over stored: String) -> Verdict {
        guard let new = Self.member(field, of: incoming), let old = Self.member(field, of: stored) else { return .unversioned }
        let order: ComparisonResult? =
            if let a = new.numberValue, let b = old.numberValue { a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame }
            else if let a = new.stringValue.flatMap(Timestamp.parse), let b = old.stringValue.flatMap(Timestamp.parse) { a.compare(b) }
            else if let a = new.stringValue, let b = old.stringValue { a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame }
            else { nil }
        switch order {
        case .orderedDescending?: return .newer
        case nil: return .unversioned
        default: return .stale("\(field) \(new.jsonString) is not newer than the stored \(old.jsonString)")
        }
    }

    private static func member(_ name: String, of body: String) -> JSONValue? {
        guard let value = (try? JSONValue(parsing: Data(body.utf8)))?[name], !value.isNull else { return nil }
        return value
    }
}

/// A document write as submitted: the body with its special members taken out.
public struct DocumentInput: Sendable, Hashable {
    /// Compact JSON object without `_id`, `_rev`, `_deleted`.
    public var body: String
    /// `_rev` from the body.
    public var revision: String?
    /// `_id` from the body.
    public var id: String?
    public var deleted: Bool
    /// From the `channels` member (a string or an array of strings), as Sync Gateway's default sync function reads it.
    public var channels: [String]

    /// Reads a document body. Members starting with `_` other than `_id`, `_rev` and `_deleted` are
    /// refused, as Sync Gateway refuses them.
    public init(_ value: JSONValue) throws(DocumentWriteError) {
        guard case .object(let members) = value else { throw .badRequest("Document must be a JSON object") }
        var kept: [(key: String, value: JSONValue)] = []
        var revision: String?, id: String?, deleted = false
        for (key, member) in members {
            switch key {
            case "_id":
                guard case .string(let text) = member else { throw .badRequest("_id must be a string") }
                id = text
            case "_rev":
                guard case .string(let text) = member else { throw .badRequest("_rev must be a string") }
                revision = text
            case "_deleted":
                guard case .bool(let flag) = member else { throw .badRequest("_deleted must be true or false") }
                deleted = flag
            case _ where key.hasPrefix("_"):
                throw .badRequest("user defined top level properties beginning with '_' are not allowed in document body: \(key)")
            default:
                kept.append((key, member))
            }
        }
        var channels: [String] = []
        switch kept.first(where: { $0.key == "channels" })?.value {
        case .string(let channel)?: channels = [channel]
        case .array(let items)?: channels = items.compactMap(\.stringValue)
        default: break
        }
        self.body = JSONValue.object(kept).jsonString
        self.revision = revision
        self.id = id
        self.deleted = deleted
        self.channels = Array(NSOrderedSet(array: channels)) as? [String] ?? channels
    }

    /// A deletion (`DELETE ?rev=`): an empty tombstone.
    public static func deletion(revision: String?) -> DocumentInput {
        var input = try! DocumentInput(.object([]))
        input.revision = revision
        input.deleted = true
        return input
    }
}

/// MVCC as Sync Gateway and CouchDB apply it: the write a document's current revision allows.
public enum DocumentMVCC {
    /// How many revision ids a document keeps in its history.
    public static let historyLimit = 100

    /// The new revision of `id` when `input` is written over `current` (nil: no such document), or
    /// why it is refused:
    /// - a new document takes no revision (one given is a conflict); a deletion of it is 404 `missing`;
    /// - a live document needs its current revision (none: `exists`; another: `revisionConflict`);
    /// - a tombstone may be written again without a revision or with its own (the document comes
    ///   back, one generation later); deleting it again is 404 `deleted`.
    ///
    /// With a `versionGuard` (the database names a version field), a write to a live document that
    /// carries a version is decided by it first: not newer is ``DocumentWriteError/stale(revision:reason:)``,
    /// newer needs no revision (a given one must still be the current one).
    public static func apply(
        _ input: DocumentInput, to current: Document?, database: String, id: String, seq: Int64, versionGuard: VersionGuard? = nil
    ) throws(DocumentWriteError) -> Document {
        var input = input
        if let versionGuard, let current, !current.deleted, !input.deleted {
            switch versionGuard.verdict(input.body, over: current.body) {
            case .stale(let reason): throw .stale(revision: current.revision.description, reason: reason)
            case .newer where input.revision == nil: input.revision = current.revision.description
            case .newer, .unversioned: break
            }
        }
        let given = try input.revision.map { text throws(DocumentWriteError) -> Revision in
            guard let revision = Revision(text) else { throw .badRequest("Invalid revision ID \(text)") }
            return revision
        }
        let parent: Revision?
        switch current {
        case nil:
            if input.deleted { throw .notFound(reason: "missing") }
            if given != nil { throw .revisionConflict }
            parent = nil
        case let current? where current.deleted:
            if input.deleted { throw .notFound(reason: "deleted") }
            if let given, given != current.revision { throw .revisionConflict }
            parent = current.revision
        case let current?:
            guard let given else { throw input.deleted ? .revisionConflict : .exists }
            if given != current.revision { throw .revisionConflict }
            parent = current.revision
        }
        let revision = Revision.next(after: parent, deleted: input.deleted, body: input.body)
        let history = [revision] + (current?.history ?? []).prefix(historyLimit - 1)
        return Document(
            database: database, id: id, revision: revision, body: input.deleted ? "{}" : input.body, deleted: input.deleted, seq: seq,
            channels: input.deleted ? (current?.channels ?? []) : input.channels, history: history
        )
    }

    /// The `data` of the `document_changed` event a write appends: the database, the document as
    /// clients read it, its channels, and the previous revision's body for filters.
    ///
    /// The event reaches every team granted one of the *new* channels, so `old_doc` is carried only
    /// when each of those teams could read the previous revision: when every new channel was one
    /// of the previous revision's. A document moved into a team's channel (or given channels for the
    /// first time) carries `old_doc: null` — the revision before it was shared is exactly what the
    /// provider kept from that team.
    public static func eventData(_ document: Document, previous: Document?) -> String {
        let oldDoc = previous.flatMap { oldRevisionIsReadable($0, byReadersOf: document) ? $0.json : nil } ?? .null
        return JSONValue.object([
            ("database", .string(document.database)), ("id", .string(document.id)), ("rev", .string(document.revision.description)),
            ("deleted", .bool(document.deleted)), ("channels", .array(document.channels.map(JSONValue.string))), ("doc", document.json),
            ("old_doc", oldDoc),
        ]).jsonString
    }

    /// Whether everyone who may read `document` (a team granted one of its channels) could read
    /// `previous`: each of `document`'s channels was one of `previous`'s. A document in no channel
    /// is read by providers and admins only, who read every revision.
    public static func oldRevisionIsReadable(_ previous: Document, byReadersOf document: Document) -> Bool {
        Set(document.channels).isSubset(of: previous.channels)
    }

    /// Reserved for the events of documents in no channel. A document in no channel is for
    /// providers and admins only (as in Sync Gateway), so its event must not reach every team's
    /// hooks the way an event without channels does; channels starting with `_` are never granted.
    public static let unroutedChannel = "_unrouted"

    /// The channels a document's change event is routed by.
    public static func eventChannels(_ document: Document) -> [String] {
        document.channels.isEmpty ? [unroutedChannel] : document.channels
    }
}

/// A `_local` document: a client's private state (a changes follower's checkpoint), with CouchDB's
/// `0-N` revisions, outside the changes feed and raising no event.
public struct LocalDocument: Sendable, Hashable {
    public var id: String
    /// `0-1`, `0-2`, …
    public var revision: String
    /// Compact JSON object without the special members.
    public var body: String

    public init(id: String, revision: String, body: String) {
        self.id = id
        self.revision = revision
        self.body = body
    }

    /// The body as clients read it, `_id` (with its `_local/` prefix) and `_rev` first.
    public var json: JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [("_id", .string("_local/" + id)), ("_rev", .string(revision))]
        if case .object(let members)? = try? JSONValue(parsing: body) { pairs += members }
        return .object(pairs)
    }

    /// The next state of `current` when `input` is written (nil: the deletion of it), with the same
    /// revision rules as documents: a new one takes no revision, an existing one needs its own.
    public static func apply(_ input: DocumentInput, to current: LocalDocument?, id: String) throws(DocumentWriteError) -> LocalDocument? {
        let generation: Int
        switch current {
        case nil:
            if input.deleted { throw .notFound(reason: "missing") }
            if input.revision != nil { throw .revisionConflict }
            generation = 1
        case let current?:
            guard let given = input.revision else { throw input.deleted ? .revisionConflict : .exists }
            guard given == current.revision, let number = Int(current.revision.dropFirst(2)) else { throw .revisionConflict }
            generation = number + 1
        }
        return input.deleted ? nil : LocalDocument(id: id, revision: "0-\(generation)", body: input.body)
    }
}

/// Whether a database is serving, as Sync Gateway's `db_state_changed` event says it.
public enum DatabaseState: String, Sendable, Hashable {
    case online, offline

    /// The event's `data`, Sync Gateway's body: `{admininterface, dbname, localtime, reason, state}`;
    /// `localtime` in the server's time zone with milliseconds and offset, as Sync Gateway writes it.
    public static func eventData(database: String, state: DatabaseState, reason: String, adminInterface: String, now: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSxxx"
        return JSONValue.object([
            ("admininterface", .string(adminInterface)), ("dbname", .string(database)), ("localtime", .string(formatter.string(from: now))),
            ("reason", .string(reason)), ("state", .string(state.rawValue)),
        ]).jsonString
    }
}
