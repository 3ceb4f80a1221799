import Foundation

/// What a hook's scripts see and what its receiver gets, before and after the sandbox runs.
///
/// - A **filter** `function (doc, oldDoc)` decides at fan-out whether the hook gets an event. For a
///   document change it is called with the document (`_id`, `_rev`, `_deleted` included) and its
///   previous revision (null when new, or when it moved between channels); for any other event with
///   the event's `data` and null. It must return a boolean.
/// - A **transform** `function (payload)` runs at send time on the body the hook would get
///   (``body(for:format:)``) and returns the object or array sent, and signed, instead.
public enum HookScripts {
    /// The body of `event` for a hook posting `format`, before any transform.
    public static func body(for event: Event, format: PayloadFormat) -> String {
        // An HTTP Sync page is its own body.
        if event.type == SyncPage.eventType { return event.data }
        switch format {
        case .event: return event.payload
        case .syncGateway:
            guard let data = try? JSONValue(parsing: event.data) else { return event.data }
            if isDocumentChange(event), let doc = data["doc"] { return doc.jsonString }
            return event.data
        }
    }

    /// The filter's arguments, as a JSON array.
    public static func filterArguments(for event: Event) -> String {
        if isDocumentChange(event), let data = try? JSONValue(parsing: event.data), let doc = data["doc"] {
            return JSONValue.array([doc, data["old_doc"] ?? .null]).jsonString
        }
        return "[" + event.data + ",null]"
    }

    public static func isDocumentChange(_ event: Event) -> Bool { event.type.hasSuffix("." + DatabaseInfo.documentChangedSuffix) }

    /// What the filter's result means for the delivery.
    public static func verdict(type: String, json: String) -> FilterVerdict {
        guard type == "boolean" else { return .skip(note: "filter error: returned \(article(type)) \(type), not a boolean") }
        return json == "true" ? .deliver : .skip(note: FilterVerdict.filteredOut)
    }

    /// A transform's result as a body, or why it cannot be one.
    public static func transformedBody(type: String, json: String) -> Result<String, TransformError> {
        guard type == "object" || type == "array" else {
            return .failure(TransformError(message: "returned \(article(type)) \(type), not an object or an array"))
        }
        guard json.utf8.count <= maxTransformedBytes else {
            return .failure(TransformError(message: "returned \(json.utf8.count) bytes, more than the \(maxTransformedBytes / 1024) KiB a delivery may carry"))
        }
        return .success(json)
    }

    /// The most a transform may make of a body: what one event may carry, so a script cannot turn
    /// every attempt (each one stored) into megabytes.
    public static let maxTransformedBytes = 256 * 1024

    private static func article(_ type: String) -> String { type.first.map { "aeiou".contains($0) } == true ? "an" : "a" }
}

/// The outcome of a hook's filter for one event.
public enum FilterVerdict: Sendable, Hashable {
    case deliver
    /// Recorded as a skipped delivery with this note.
    case skip(note: String)

    public static let filteredOut = "filtered out"
    public static let timedOut = "filter timed out"
    public static func error(_ message: String) -> FilterVerdict { .skip(note: "filter error: " + message) }
}

/// Why an attempt failed before its request went out: its description is the attempt's error, as
/// the delivery log shows it. Each cause says what went wrong in its own words.
public protocol AttemptSetupFailure: Error, Sendable, CustomStringConvertible {}

/// Why a transform's result could not be sent.
public struct TransformError: AttemptSetupFailure, Hashable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "transform error: " + message }
}

/// Why no OAuth2 access token could be had for the request.
public struct OAuth2TokenError: AttemptSetupFailure, Hashable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "OAuth2 token: " + message }
}

/// Why the hook's client certificate and key cannot be used.
public struct ClientCertificateError: AttemptSetupFailure, Hashable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "client certificate: " + message }
}

/// A hook's sealed key that this master key does not open.
public struct SealedKeyError: AttemptSetupFailure, Hashable {
    /// What it is: "secret", "previous secret", "signing key", "credentials".
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "the hook's \(what) cannot be decrypted with this master key" }
}
