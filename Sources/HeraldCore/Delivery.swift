import Foundation

/// Where a delivery is in its life.
public enum DeliveryStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt (`nextAttemptAt`).
    case pending
    /// An attempt is being made.
    case inFlight = "in_flight"
    /// A 2xx response was received.
    case succeeded
    /// Attempts are used up, the hook answered 410, or a one-shot attempt failed. Can be redelivered.
    case failed
    /// Never attempted: the hook's filter declined the event, or could not decide (the delivery's
    /// note says which). Can be redelivered, which sends it regardless.
    case skipped

    /// The coarse status the API shows: `success`, `failure`, `pending` or `skipped`.
    public var apiStatus: String { APIStatus(self).rawValue }

    /// The coarse statuses of the API and the web UI, each standing for one or more states.
    public enum APIStatus: String, Sendable, CaseIterable {
        case success, failure, pending, skipped

        public init(_ status: DeliveryStatus) {
            switch status {
            case .pending, .inFlight: self = .pending
            case .succeeded: self = .success
            case .failed: self = .failure
            case .skipped: self = .skipped
            }
        }

        /// The states this status stands for.
        public var statuses: [DeliveryStatus] { DeliveryStatus.allCases.filter { APIStatus($0) == self } }
    }
}

/// Why an attempt was made.
public enum AttemptTrigger: String, Sendable, Codable, CaseIterable {
    case first, retry, redelivery, ping
}

/// What kind of failure an attempt met.
public enum ErrorClass: String, Sendable, Codable, CaseIterable {
    case dns, connect, tls, timeout, http
    /// The target was refused before connecting (SSRF guard, bad URL).
    case refused
    /// Anything else on the client side.
    case other
}

/// One event × one hook. Its id stays the same across attempts and redeliveries.
public struct Delivery: Sendable, Hashable {
    public var id: String
    public var hookID: Int64
    public var teamID: Int64
    public var eventSeq: Int64
    public var eventID: String
    public var eventType: String
    public var lifecycle: DeliveryLifecycle
    /// Every attempt ever made, across redeliveries.
    public var totalAttempts: Int
    public var lastStatusCode: Int?
    public var lastDurationMs: Int?
    /// When the last attempt finished.
    public var deliveredAt: Date?
    public var createdAt: Date
    /// Its position in the log, for keyset pagination.
    public var cursor: DeliveryCursor
    /// Why a skipped delivery was not attempted (`filtered out`, `filter error: …`, `filter timed
    /// out`), or an HTTP Sync page's rows (`200 rows, seq 1–200`).
    public var note: String?

    public init(
        id: String, hookID: Int64, teamID: Int64, eventSeq: Int64, eventID: String, eventType: String, lifecycle: DeliveryLifecycle,
        totalAttempts: Int, lastStatusCode: Int?, lastDurationMs: Int?, deliveredAt: Date?, createdAt: Date, cursor: DeliveryCursor,
        note: String? = nil
    ) {
        self.note = note
        self.cursor = cursor
        self.id = id
        self.hookID = hookID
        self.teamID = teamID
        self.eventSeq = eventSeq
        self.eventID = eventID
        self.eventType = eventType
        self.lifecycle = lifecycle
        self.totalAttempts = totalAttempts
        self.lastStatusCode = lastStatusCode
        self.lastDurationMs = lastDurationMs
        self.deliveredAt = deliveredAt
        self.createdAt = createdAt
    }
}

/// One HTTP try, as recorded in the delivery log.
public struct Attempt: Sendable, Hashable {
    public var deliveryID: String
    /// 1-based, across the delivery's whole life.
    public var number: Int
    public var trigger: AttemptTrigger
    public var startedAt: Date
    public var durationMs: Int
    public var url: String
    public var requestHeaders: [HTTPHeaderField]
    public var requestBody: String
    public var responseStatus: Int?
    public var responseHeaders: [HTTPHeaderField]
    public var responseBody: String?
    public var errorClass: ErrorClass?
    public var errorMessage: String?

    public init(
        deliveryID: String, number: Int, trigger: AttemptTrigger, startedAt: Date, durationMs: Int, url: String,
        requestHeaders: [HTTPHeaderField], requestBody: String, responseStatus: Int?, responseHeaders: [HTTPHeaderField],
        responseBody: String?, errorClass: ErrorClass?, errorMessage: String?
    ) {
        self.deliveryID = deliveryID
        self.number = number
        self.trigger = trigger
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.url = url
        self.requestHeaders = requestHeaders
        self.requestBody = requestBody
        self.responseStatus = responseStatus
        self.responseHeaders = responseHeaders
        self.responseBody = responseBody
        self.errorClass = errorClass
        self.errorMessage = errorMessage
    }
}

/// A header name and value, in the order sent or received.
public struct HTTPHeaderField: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
