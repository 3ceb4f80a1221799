import Foundation

/// One HTTP Sync page: rows in `seq` order after a hook's cursor, as WebhookDB's HTTP Sync posts
/// them — `{"rows", "hook_id", "table", "sync_timestamp", "cursor"}`. A document appears once per
/// page, at its latest revision; an event is `{seq, id, type, timestamp, data}`.
public struct SyncPage: Sendable, Hashable {
    public var rows: [JSONValue]
    /// The last `seq` the page covers (matched or not): the cursor once it is acknowledged.
    public var through: Int64
    /// When the newest row's event happened.
    public var newest: Date?

    public init(rows: [JSONValue], through: Int64, newest: Date? = nil) {
        self.rows = rows
        self.through = through
        self.newest = newest
    }

    /// Builds a page from `events` (after the cursor, in order) for `hook`: up to its page size rows.
    public static func build(events: [Event], hook: Hook, grantedChannels: Set<String>, after cursor: Int64) -> SyncPage {
        var rows: [JSONValue] = []
        var bytes = 0
        var documentRow: [String: Int] = [:]
        var through = cursor
        var newest: Date?
        for event in events {
            let matches = ReplayJob.matches(event, hook: hook, grantedChannels: grantedChannels)
            let document = matches && HookScripts.isDocumentChange(event) ? try? JSONValue(parsing: event.data) : nil
            let key = document.map { ($0["database"]?.stringValue ?? "") + "/" + ($0["id"]?.stringValue ?? "") }
            // A full page still takes a later revision of a document it holds (it adds no row).
            let addsRow = key == nil || documentRow[key!] == nil
            if rows.count == hook.sync.pageSize && addsRow { break }
            // A page is at most ``maxBytes`` (about): it ends before a row that would pass that,
            // except its first, so every row is sent once however large.
            if matches && addsRow && !rows.isEmpty && bytes + event.data.utf8.count > maxBytes { break }
            through = event.seq
            guard matches else { continue }
            newest = event.timestamp
            if addsRow { bytes += event.data.utf8.count }
            if let data = document, let key, let doc = data["doc"] {
                if let index = documentRow[key] {
                    rows[index] = doc  // the latest revision, in the place of the first
                } else {
                    documentRow[key] = rows.count
                    rows.append(doc)
                }
            } else {
                rows.append(
                    .object(
                        [("seq", .int(event.seq)), ("id", .string(event.id)), ("type", .string(event.type))]
                            + (event.version.map { [("version", JSONValue.int(Int64($0)))] } ?? [])
                            + [("timestamp", .string(Timestamp.string(event.timestamp))), ("data", (try? JSONValue(parsing: event.data)) ?? .null)]
                    )
                )
            }
        }
        return SyncPage(rows: rows, through: through, newest: newest)
    }

    /// About the most bytes of rows a page carries (one row larger than this goes alone).
    public static let maxBytes = 1 << 20

    /// The type of the events that carry pages (addressed to their hook, never fanned out).
    public static let eventType = "sync.page"

    /// The body posted: WebhookDB's fields (`rows`, `integration_id` — the hook —,
    /// `integration_service`, `table`, `sync_timestamp`) and Herald's (`hook_id`, `cursor`).
    public func body(hook: Hook, now: Date) -> String {
        let table = Self.table(of: hook)
        return JSONValue.object([
            ("rows", .array(rows)), ("integration_id", .string(String(hook.id))), ("integration_service", .string(table)),
            ("hook_id", .int(hook.id)), ("table", .string(table)), ("sync_timestamp", .string(Timestamp.string(now))),
            ("cursor", .string(String(through))),
        ]).jsonString
    }

    /// The page posted to a URL before an HTTP Sync hook is made, as WebhookDB posts it: a receiver
    /// knows it by `integration_service` and answers 2xx to accept the hook. `integration_id` is
    /// `0`: the hook does not exist yet.
    public static func verificationBody() -> String {
        JSONValue.object([
            ("rows", .array([])), ("integration_id", .string("0")), ("integration_service", .string("httpsync_test")), ("table", .string("test")),
        ]).jsonString
    }

    /// What the hook syncs: its database (for document changes) or its event patterns.
    public static func table(of hook: Hook) -> String {
        hook.events.map { $0.hasSuffix("." + DatabaseInfo.documentChangedSuffix) ? String($0.dropLast(DatabaseInfo.documentChangedSuffix.count + 1)) : $0 }
            .joined(separator: ",")
    }
}
