/// A group commit's document writes, decided in one pass: each write sees the documents as the
/// batch read them and the batch's earlier writes over them, so a batch is the same as its writes
/// one after the other. A store reads the databases' options and the current documents in bulk,
/// appends ``events`` in one call, then stores ``rows(seqs:)`` in one statement — a handful of
/// statements per batch instead of several per document.
public struct DocumentBatch {
    /// A document's place: its database and id.
    public struct Key: Sendable, Hashable {
        public var database: String
        public var id: String
        public init(database: String, id: String) {
            self.database = database
            self.id = id
        }
    }

    /// The events the accepted writes append, in the batch's order.
    public private(set) var events: [NewEvent] = []
    /// For each write: its document (without its `seq`) and event's place, or why it was refused.
    private var outcomes: [Result<(document: Document, event: Int), any Error>] = []

    /// The documents `writes` touch, once each, in a fixed order (every writer locks rows in it).
    public static func keys(of writes: [PendingDocumentWrite]) -> [Key] {
        Array(Set(writes.map { Key(database: $0.database, id: $0.id) })).sorted { ($0.database, $0.id) < ($1.database, $1.id) }
    }

    /// Runs each write in order. A write to a database missing from `options` is refused with
    /// ``StoreError/notFound(_:)``; a write that throws a ``DocumentWriteError`` or a ``StoreError``
    /// is refused on its own and leaves nothing behind; any other error is the batch's.
    public init(_ writes: [PendingDocumentWrite], options: [String: DatabaseInfo.Options], current: [Key: Document]) throws {
        var documents = current
        outcomes.reserveCapacity(writes.count)
        for pending in writes {
            let key = Key(database: pending.database, id: pending.id)
            guard let options = options[pending.database] else {
                outcomes.append(.failure(StoreError.notFound("database \(pending.database)")))
                continue
            }
            do {
                let next = try pending.write(documents[key], options)
                documents[key] = next.document
                outcomes.append(.success((next.document, events.count)))
                events.append(next.event)
            } catch let error as DocumentWriteError {
                outcomes.append(.failure(error))
            } catch let error as StoreError {
                outcomes.append(.failure(error))
            }
        }
    }

    /// Each write's document at its event's `seq` (`seqs`, one per event as appended), or why it was
    /// refused, in the batch's order.
    public func results(seqs: [Int64]) throws -> [Result<Document, any Error>] {
        guard seqs.count == events.count else { throw StoreError.invalid("a document batch appended \(seqs.count) of its \(events.count) events") }
        return outcomes.map { outcome in
            outcome.map { written in
                var document = written.document
                document.seq = seqs[written.event]
                return document
            }
        }
    }

    /// The rows to store: each document written, once, at its batch's last revision.
    public static func rows(_ results: [Result<Document, any Error>]) -> [Document] {
        var last: [Key: Document] = [:]
        var order: [Key] = []
        for case .success(let document) in results {
            let key = Key(database: document.database, id: document.id)
            if last.updateValue(document, forKey: key) == nil { order.append(key) }
        }
        return order.map { last[$0]! }
    }
}
