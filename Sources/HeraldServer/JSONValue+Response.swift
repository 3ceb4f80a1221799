import Foundation
import HeraldCore
import Hummingbird

extension JSONValue: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: jsonString)))
    }
}

/// A JSON body with a status other than 200, and optional extra headers.
struct JSONResponse: ResponseGenerator {
    var status: HTTPResponse.Status
    var body: JSONValue
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
    }
}

extension Request {
    /// Reads the body (at most `limit` bytes, else 413) and parses it as JSON (else 400). With
    /// `ifEmpty`, an empty body is that value (a body that is the text `null` stays `null`).
    func jsonBody(limit: Int, ifEmpty: JSONValue? = nil) async throws -> JSONValue {
        var request = self
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw Problem.tooLarge(limit)
        }
        if let ifEmpty, buffer.readableBytes == 0 { return ifEmpty }
        do {
            return try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw Problem.badRequest("The body is not valid JSON: \(error).")
        }
    }
}

extension Date {
    var json: JSONValue { .string(Timestamp.string(self)) }
}

extension Optional where Wrapped == Date {
    var json: JSONValue { map { .string(Timestamp.string($0)) } ?? .null }
}

/// Reads the fields of a JSON object, collecting every problem instead of stopping at the first.
struct FieldReader {
    let pairs: [(key: String, value: JSONValue)]
    let pathPrefix: String
    var errors: [Problem.FieldError] = []

    init(_ value: JSONValue, pathPrefix: String = "") throws {
        guard case .object(let pairs) = value else {
            throw Problem.validation([.init(field: pathPrefix, message: "must be a JSON object")], status: .badRequest)
        }
        self.pairs = pairs
        self.pathPrefix = pathPrefix
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }
    func value(_ key: String) -> JSONValue? { pairs.first { $0.key == key }?.value }

    mutating func fail(_ key: String, _ message: String) {
        errors.append(.init(field: pathPrefix + "/" + key, message: message))
    }

    mutating func string(_ key: String, required: Bool = false, maxLength: Int = 1024) -> String? {
        guard let value = value(key), !value.isNull else {
            if required { fail(key, "is required") }
            return nil
        }
        guard let string = value.stringValue else { fail(key, "must be a string"); return nil }
        if required && string.isEmpty { fail(key, "must not be empty"); return nil }
        // Counted as JSON Schema's maxLength counts: Unicode code points.
        if string.unicodeScalars.count > maxLength { fail(key, "must be at most \(maxLength) characters"); return nil }
        return string
    }

    mutating func bool(_ key: String) -> Bool? {
        guard let value = value(key), !value.isNull else { return nil }
        if let bool = value.boolValue { return bool }
        // GitHub sends insecure_ssl as "0"/"1".
        if let string = value.stringValue, string == "0" || string == "1" { return string == "1" }
        fail(key, "must be true or false")
        return nil
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = value(key), !value.isNull else { return nil }
        guard let int = value.intValue, range.contains(Int(int)) else {
            fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return Int(int)
    }

    mutating func stringArray(_ key: String, required: Bool = false, maxCount: Int = 100) -> [String]? {
        guard let value = value(key), !value.isNull else {
            if required { fail(key, "is required") }
            return nil
        }
        guard let items = value.arrayValue, items.count <= maxCount, let strings = Optional(items.compactMap(\.stringValue)), strings.count == items.count else {
            fail(key, "must be an array of at most \(maxCount) strings")
            return nil
        }
        return strings
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, as type: T.Type) -> T? where T.RawValue == String {
        guard let string = string(key) else { return nil }
        guard let choice = T(rawValue: string) else {
            fail(key, "must be one of \(T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            return nil
        }
        return choice
    }

    /// Fails on `keys` sent as null where only a value is meaningful, rather than read as absent.
    mutating func rejectNull(_ keys: [String]) {
        for key in keys where value(key)?.isNull == true { fail(key, "must not be null") }
    }

    /// Fails on keys not in `allowed`, so typos do not pass silently.
    mutating func rejectUnknown(_ allowed: Set<String>) {
        for pair in pairs where !allowed.contains(pair.key) { fail(pair.key, "is not a known field") }
    }

    func check() throws {
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}
