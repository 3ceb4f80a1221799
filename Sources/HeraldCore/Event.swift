#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A domain event, durable and numbered: `seq` is strictly increasing and gap-free per store.
public struct Event: Sendable, Hashable {
    public var seq: Int64
    public var id: String
    public var type: String
    /// The payload as compact JSON text.
    public var data: String
    public var channels: [String]
    public var idempotencyKey: String?
    public var timestamp: Date
    /// The version of its type's payload (``EventType/versions``); nil for a type without versions.
    public var version: Int?
    /// The trace of the request that made it (W3C `traceparent`, then a newline and `tracestate`),
    /// when tracing is on: its fan-out and attempts join that trace.
    public var traceContext: String?

    public init(
        seq: Int64, id: String, type: String, data: String, channels: [String], idempotencyKey: String?, timestamp: Date, version: Int? = nil,
        traceContext: String? = nil
    ) {
        self.seq = seq
        self.id = id
        self.type = type
        self.data = data
        self.channels = channels
        self.idempotencyKey = idempotencyKey
        self.timestamp = timestamp
        self.version = version
        self.traceContext = traceContext
    }

    /// The exact JSON body a receiver gets: `{"id","type","timestamp","data"}`, with `"version"`
    /// after the type when the event has one.
    public var payload: String {
        var out = "{\"id\":"
        JSONValue.writeString(id, to: &out)
        out += ",\"type\":"
        JSONValue.writeString(type, to: &out)
        if let version { out += ",\"version\":" + String(version) }
        out += ",\"timestamp\":\"" + Timestamp.string(timestamp) + "\",\"data\":" + data + "}"
        return out
    }
}

/// An event as submitted, validated but not yet stored.
public struct NewEvent: Sendable, Hashable {
    public var id: String
    public var type: String
    public var data: String
    public var channels: [String]
    public var idempotencyKey: String?
    /// Who the idempotency key belongs to (the emitting token): the same key from another
    /// provider is another event.
    public var idempotencyScope: String
    public var timestamp: Date
    public var version: Int?
    public var traceContext: String?

    public init(
        id: String = Identifier.make(prefix: "evt_"), type: String, data: String, channels: [String] = [], idempotencyKey: String? = nil,
        idempotencyScope: String = "", timestamp: Date = Date(), version: Int? = nil, traceContext: String? = nil
    ) {
        self.id = id
        self.type = type
        self.data = data
        self.channels = channels
        self.idempotencyKey = idempotencyKey
        self.idempotencyScope = idempotencyScope
        self.timestamp = timestamp
        self.version = version
        self.traceContext = traceContext
    }

    /// Whether `event`, found under this event's idempotency key, carries the same request: type,
    /// data and channels. A key reused for another payload is a client error (409), as at Stripe,
    /// never a silent 202 for an event that was not stored.
    public func isRepeat(of event: Event) -> Bool {
        type == event.type && data == event.data && channels == event.channels && version == event.version
    }

    /// Whether `other`, under the same idempotency key in one batch, is the same event.
    public func isRepeat(of other: NewEvent) -> Bool {
        type == other.type && data == other.data && channels == other.channels && version == other.version
    }
}

/// RFC 3339 timestamps in UTC, as receivers and API clients see them.
public enum Timestamp {
    /// `2026-11-22T14:00:00Z` (second precision).
    public static func string(_ date: Date) -> String {
        format(date, fractional: false)
    }

    /// `2026-11-22T14:00:00.123Z` (millisecond precision).
    public static func millisecondString(_ date: Date) -> String {
        format(date, fractional: true)
    }

    static func format(_ date: Date, fractional: Bool) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var out = pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
        out += "T" + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2)
        if fractional {
            let millis = Int32(((interval - interval.rounded(.down)) * 1000).rounded(.down))
            out += "." + pad(millis, 3)
        }
        return out + "Z"
    }

    /// Parses `2026-11-22T14:00:00Z`, with optional fractional seconds, or a UTC offset.
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
