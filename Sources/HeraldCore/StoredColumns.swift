import Foundation

// How both stores keep lists and headers in a text column: JSON arrays, written and read the same
// way whatever the database.

public func encodeStringArray(_ values: [String]) -> String {
    JSONValue.array(values.map(JSONValue.string)).jsonString
}

public func decodeStringArray(_ text: String) -> [String] {
    ((try? JSONValue(parsing: text))?.arrayValue ?? []).compactMap(\.stringValue)
}

/// `[["name","value"],…]`, written directly: this runs for every attempt on the hot path.
public func encodeHeaders(_ headers: [HTTPHeaderField]) -> String {
    var out = "["
    out.reserveCapacity(headers.reduce(2) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 })
    for (index, header) in headers.enumerated() {
        out += index == 0 ? "[" : ",["
        JSONValue.writeString(header.name, to: &out)
        out += ","
        JSONValue.writeString(header.value, to: &out)
        out += "]"
    }
    return out + "]"
}

public func decodeHeaders(_ text: String) -> [HTTPHeaderField] {
    ((try? JSONValue(parsing: text))?.arrayValue ?? []).compactMap { pair in
        guard let items = pair.arrayValue, items.count == 2, let name = items[0].stringValue, let value = items[1].stringValue else { return nil }
        return HTTPHeaderField(name, value)
    }
}
