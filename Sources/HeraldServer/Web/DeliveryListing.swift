import Foundation
import HeraldCore
import Hummingbird

/// A page of a delivery log as the web UI lists it — a hook's for its team, everyone's for an
/// admin — with the filters of the API (status, event type, time range) and a delivery or event id,
/// blank fields being no filter. Pages go forward by the log's keyset cursor and back by the
/// cursors the links carry (`back`), so no page is read by offset.
struct DeliveryListing {
    /// The filter fields a link to another page keeps.
    static let filterFields = ["status", "event", "team", "hook", "since", "until", "q"]
    static let pageSize = 20

    var query: DeliveryQuery
    /// Where to go when `q` names one delivery.
    var redirect: String?
    /// Cursors of the pages before this one, oldest last.
    var back: [String]

    /// Reads the filters of `request`. `q` is a delivery id (the page redirects to it, when it is
    /// one of `visible`) or an event id (`evt_…`: its deliveries).
    static func read(_ request: Request, services: HeraldServices, pageSize: Int = pageSize) throws -> DeliveryListing {
        var query = try DeliveryQuery(request, blankIsAbsent: true)
        query.limit = pageSize
        let parameters = request.uri.queryParameters
        let back = (parameters["back"].map(String.init) ?? "").split(separator: ".").map(String.init).filter { DeliveryCursor(encoded: $0) != nil || $0 == "first" }
        var listing = DeliveryListing(query: query, redirect: nil, back: back)
        if let q = parameters["q"].map({ $0.trimmingCharacters(in: .whitespaces) }), !q.isEmpty {
            if q.hasPrefix("evt_") { listing.query.eventID = q } else { listing.redirect = q.lowercased() }
        }
        return listing
    }

    /// The template values: the rows, and links to the next (older) and the previous page.
    func values(_ deliveries: [Delivery], request: Request, path: String, row: (Delivery) -> [String: Any]) -> [String: Any] {
        let parameters = request.uri.queryParameters
        func current(_ name: String) -> String { parameters[name[...]].map(String.init) ?? "" }
        func link(cursor: String?, back: [String]) -> String {
            var components = URLComponents()
            var items = Self.filterFields.compactMap { name in current(name).isEmpty ? nil : URLQueryItem(name: name, value: current(name)) }
            if let cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
            if !back.isEmpty { items.append(URLQueryItem(name: "back", value: back.joined(separator: "."))) }
            components.queryItems = items
            return path + (items.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? ""))
        }
        let here = query.cursor?.encoded ?? "first"
        let older = deliveries.count == query.limit ? deliveries.last.map { link(cursor: $0.cursor.encoded, back: back + [here]) } : nil
        let newer = back.last.map { previous in link(cursor: previous == "first" ? nil : previous, back: Array(back.dropLast())) }
        return [
            "deliveries": deliveries.map(row), "noDeliveries": deliveries.isEmpty,
            "older": older ?? "", "hasOlder": older != nil, "newer": newer ?? "", "hasNewer": newer != nil,
            "filterStatuses": ["", "success", "failure", "pending", "skipped"].map {
                ["value": $0, "label": $0.isEmpty ? "Any status" : $0, "selected": $0 == current("status")] as [String: Any]
            },
            "filterEvent": current("event"), "filterSince": current("since"), "filterUntil": current("until"), "filterQ": current("q"),
            "filtered": Self.filterFields.contains { !current($0).isEmpty },
            // The newest page, unfiltered, takes new deliveries as they are recorded.
            "live": query.cursor == nil && !Self.filterFields.contains { !current($0).isEmpty },
        ]
    }
}
