import HeraldCore
import Hummingbird

extension DeliveryQuery {
    /// A delivery log's filters from a request's query (the API's and the pages'): `per_page`,
    /// `cursor`, `status`, `event`, `since`, `until`. Pages send empty fields for "any"
    /// (`blankIsAbsent`); the API refuses them.
    init(_ request: Request, blankIsAbsent: Bool = false) throws {
        let parameters = request.uri.queryParameters
        func given(_ name: String) -> Substring? {
            guard let value = parameters[name[...]] else { return nil }
            return blankIsAbsent && value.isEmpty ? nil : value
        }
        var query = DeliveryQuery()
        if let perPage = parameters["per_page"] {
            guard let limit = Int(String(perPage)), (1...100).contains(limit) else { throw Problem.badRequest("per_page must be from 1 to 100") }
            query.limit = limit
        }
        if let cursor = parameters["cursor"], !cursor.isEmpty {
            guard let parsed = DeliveryCursor(encoded: String(cursor)) else { throw Problem.badRequest("cursor is not valid") }
            query.cursor = parsed
        }
        if let status = given("status") {
            guard let filter = DeliveryStatus.APIStatus(rawValue: String(status)) else { throw Problem.badRequest("status must be success, failure, pending or skipped") }
            query.statuses = filter.statuses
        }
        if let event = parameters["event"], !event.isEmpty { query.eventType = String(event) }
        for (name, keyPath) in [("since", \DeliveryQuery.since), ("until", \DeliveryQuery.until)] {
            if let value = given(name) {
                guard let date = Timestamp.parse(String(value)) else { throw Problem.badRequest("\(name) must be an RFC 3339 timestamp") }
                query[keyPath: keyPath] = date
            }
        }
        self = query
    }
}
