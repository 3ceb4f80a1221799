import Foundation

/// A Couchbase Sync Gateway config file, read as Sync Gateway reads it, for what Herald does with
/// it: each `databases.{name}` becomes a document database, and its `event_handlers` webhook
/// handlers become hooks managed by the file.
///
/// As in Sync Gateway, a string may be written between backticks over several lines (filters
/// usually are). Settings Herald has no use for are listed in ``ignored`` and never an error;
/// a handler Herald cannot run as written is an error naming its path.
public struct SyncGatewayConfig: Sendable, Hashable {
    public var databases: [Database]
    /// Paths of the settings Herald does not use (`databases.leads.bucket`, `adminInterface`, …).
    public var ignored: [String]
    /// Log keys from the file's `log` list (`Event`, `Events+`, …).
    public var logKeys: [String]

    public struct Database: Sendable, Hashable {
        public var name: String
        public var handlers: [Handler]
        /// `max_processes`: concurrent POSTs for the handlers (Sync Gateway's default 500).
        public var maxProcesses: Int
        /// `wait_for_process`, in milliseconds (Sync Gateway's default 5).
        public var waitForProcess: Int
        /// `version_field` (Herald's): the member that orders the database's writes (``VersionGuard``).
        public var versionField: String? = nil
    }

    public enum EventKind: String, Sendable, Hashable, CaseIterable {
        case documentChanged = "document_changed"
        case dbStateChanged = "db_state_changed"
    }

    public struct Handler: Sendable, Hashable {
        /// Where it is in the file: `databases.leads.event_handlers.document_changed[0]`, its key.
        public var path: String
        public var kind: EventKind
        public var url: String
        public var filter: String?
        /// Seconds to wait for the response; 0 in the file (no timeout) is ``Hook/maxTimeoutSeconds``.
        public var timeoutSeconds: Int
        /// `options.winning_rev_only`. Herald keeps one revision per document (no conflicts), so every
        /// change is the winning revision: accepted, and it changes nothing.
        public var winningRevOnly: Bool
    }

    public static let defaultMaxProcesses = 500
    public static let defaultWaitForProcess = 5
    public static let defaultTimeoutSeconds = 60

    /// Reads the file's text.
    public init(text: String) throws(ConfigError) {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: try Self.backticksToJSONStrings(text))
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: "", message: "is not valid JSON: \(error)")
        }
        guard case .object(let top) = json else { throw ConfigError(path: "", message: "must be a JSON object") }
        var databases: [Database] = []
        var ignored: [String] = []
        var logKeys: [String] = []
        for (key, value) in top {
            switch key {
            case "databases":
                guard case .object(let entries) = value else { throw ConfigError(path: "databases", message: "must be an object") }
                for (name, database) in entries {
                    databases.append(try Self.database(name: name, database, ignored: &ignored))
                }
            case "log":
                guard case .array(let keys) = value else { throw ConfigError(path: "log", message: "must be a list of log keys") }
                logKeys = keys.compactMap(\.stringValue)
            default:
                ignored.append(key)
            }
        }
        self.databases = databases
        self.ignored = ignored
        self.logKeys = logKeys
    }

    private static func database(name: String, _ value: JSONValue, ignored: inout [String]) throws(ConfigError) -> Database {
        let path = "databases.\(name)"
        guard DatabaseInfo.isValidName(name) else {
            throw ConfigError(path: path, message: "is not a valid database name (lowercase letters, digits and _$()+-/, starting with a letter)")
        }
        guard case .object(let members) = value else { throw ConfigError(path: path, message: "must be an object") }
        var database = Database(name: name, handlers: [], maxProcesses: defaultMaxProcesses, waitForProcess: defaultWaitForProcess)
        for (key, setting) in members {
            if key == "version_field" {
                guard let field = setting.stringValue, VersionGuard.isValidField(field) else {
                    throw ConfigError(path: "\(path).version_field", message: "must name a top-level member of the documents (not starting with _)")
                }
                database.versionField = field
                continue
            }
            guard key == "event_handlers" else {
                ignored.append("\(path).\(key)")
                continue
            }
            let handlersPath = "\(path).event_handlers"
            guard case .object(let handlerMembers) = setting else { throw ConfigError(path: handlersPath, message: "must be an object") }
            for (handlerKey, handlerValue) in handlerMembers {
                let memberPath = "\(handlersPath).\(handlerKey)"
                switch handlerKey {
                case "max_processes":
                    guard let count = handlerValue.intValue, count > 0, count <= 100_000 else {
                        throw ConfigError(path: memberPath, message: "must be a whole number from 1 to 100000")
                    }
                    database.maxProcesses = Int(count)
                case "wait_for_process":
                    // A string of milliseconds in Sync Gateway's docs; a number is accepted too.
                    guard let milliseconds = handlerValue.stringValue.flatMap({ Int($0) }) ?? handlerValue.intValue.map({ Int($0) }),
                        milliseconds >= 0, milliseconds <= 600_000
                    else { throw ConfigError(path: memberPath, message: "must be a number of milliseconds, as a string (\"20\")") }
                    database.waitForProcess = milliseconds
                default:
                    guard let kind = EventKind(rawValue: handlerKey) else {
                        ignored.append(memberPath)
                        continue
                    }
                    guard case .array(let list) = handlerValue else { throw ConfigError(path: memberPath, message: "must be a list of handlers") }
                    for (index, handler) in list.enumerated() {
                        database.handlers.append(try Self.handler("\(memberPath)[\(index)]", kind: kind, handler, ignored: &ignored))
                    }
                }
            }
        }
        return database
    }

    private static func handler(_ path: String, kind: EventKind, _ value: JSONValue, ignored: inout [String]) throws(ConfigError) -> Handler {
        guard case .object(let members) = value else { throw ConfigError(path: path, message: "must be an object") }
        let fields = Dictionary(members, uniquingKeysWith: { _, last in last })
        guard let type = fields["handler"] else { throw ConfigError(path: "\(path).handler", message: "is required (\"webhook\")") }
        guard type.stringValue == "webhook" else {
            throw ConfigError(path: "\(path).handler", message: "\(type.jsonString) is not a handler type Herald runs (it runs \"webhook\")")
        }
        guard let urlValue = fields["url"] else { throw ConfigError(path: "\(path).url", message: "is required") }
        guard let url = urlValue.stringValue, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
            parsed.host?.isEmpty == false
        else { throw ConfigError(path: "\(path).url", message: "must be an http:// or https:// URL") }
        var filter: String?
        if let value = fields["filter"] {
            guard let source = value.stringValue else { throw ConfigError(path: "\(path).filter", message: "must be a string holding a JavaScript function") }
            let trimmed = source.trimmingCharacters(in: .whitespacesAndNewlines)
            filter = trimmed.isEmpty ? nil : trimmed
        }
        var timeout = defaultTimeoutSeconds
        if let value = fields["timeout"] {
            guard let seconds = value.intValue, seconds >= 0 else { throw ConfigError(path: "\(path).timeout", message: "must be a whole number of seconds (0: no timeout)") }
            timeout = seconds == 0 ? Hook.maxTimeoutSeconds : Int(min(seconds, Int64(Hook.maxTimeoutSeconds)))
        }
        var winningRevOnly = false
        if let options = fields["options"] {
            guard case .object(let optionMembers) = options else { throw ConfigError(path: "\(path).options", message: "must be an object") }
            for (key, option) in optionMembers {
                if key == "winning_rev_only", case .bool(let flag) = option {
                    winningRevOnly = flag
                } else {
                    ignored.append("\(path).options.\(key)")
                }
            }
        }
        for key in fields.keys where !["handler", "url", "filter", "timeout", "options"].contains(key) {
            ignored.append("\(path).\(key)")
        }
        return Handler(path: path, kind: kind, url: url, filter: filter, timeoutSeconds: timeout, winningRevOnly: winningRevOnly)
    }

    /// Sync Gateway's relaxed JSON: every string written between backticks becomes a JSON string
    /// (newlines, quotes and backslashes escaped). Backticks inside ordinary strings are left alone.
    public static func backticksToJSONStrings(_ text: String) throws(ConfigError) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var inString = false
        var escaped = false
        var iterator = text.unicodeScalars.makeIterator()
        var line = 1
        while let scalar = iterator.next() {
            if scalar == "\n" { line += 1 }
            if inString {
                out.unicodeScalars.append(scalar)
                if escaped {
                    escaped = false
                } else if scalar == "\\" {
                    escaped = true
                } else if scalar == "\"" {
                    inString = false
                }
                continue
            }
            switch scalar {
            case "\"":
                inString = true
                out.unicodeScalars.append(scalar)
            case "`":
                let start = line
                var closed = false
                out += "\""
                while let inner = iterator.next() {
                    if inner == "`" {
                        closed = true
                        break
                    }
                    switch inner {
                    case "\"": out += "\\\""
                    case "\\": out += "\\\\"
                    case "\n":
                        line += 1
                        out += "\\n"
                    case "\r": out += "\\r"
                    case "\t": out += "\\t"
                    default:
                        if inner.value < 0x20 {
                            out += String(format: "\\u%04x", inner.value)
                        } else {
                            out.unicodeScalars.append(inner)
                        }
                    }
                }
                guard closed else { throw ConfigError(path: "", message: "a backtick string opened on line \(start) is never closed") }
                out += "\""
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// A config file error, with the path of the setting at fault.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `databases.leads.event_handlers.document_changed[1].url`; empty for the file as a whole.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? "the config file \(message)" : "\(path): \(message)" }
}
