import Foundation

/// Turns a schema document into a `SchemaProgram`, refusing whatever would not be enforced.
///
/// The document is walked by its structure (a `properties` map holds property names, not keywords),
/// each schema becoming a node. `$id`s (and `$anchor`s) are recorded as they are met; `$ref`s are
/// resolved once the walk is done, each to the node of the schema it names, compiling that schema
/// if the walk did not reach it (a `$ref` may point anywhere in the document, even into a member
/// that is not a keyword: such a member is accepted only because a `$ref` uses it). Last, the
/// references are checked for cycles that would evaluate one value forever.
struct SchemaCompiler {
    typealias Draft = JSONSchema.Draft

    /// The base URI of a document without `$id`: references to any other document are remote.
    static let documentBase = "https://herald.invalid/schema-without-id"

    /// Keywords that only annotate, accepted anywhere and enforcing nothing.
    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$comment", "readOnly", "writeOnly", "deprecated", "contentMediaType",
        "contentEncoding",
    ]

    /// Every keyword this compiler reads, for suggestions when an unknown one looks like one of them.
    static let keywords: [String] =
        [
            "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
            "pattern", "format", "items", "prefixItems", "additionalItems", "maxItems", "minItems", "uniqueItems", "contains", "minContains",
            "maxContains", "maxProperties", "minProperties", "required", "properties", "patternProperties", "additionalProperties",
            "propertyNames", "dependencies", "dependentRequired", "dependentSchemas", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
            "$ref", "$id", "$anchor", "$schema", "definitions", "$defs",
        ] + annotations.sorted()

    /// Known keywords Herald does not enforce, with the reason given when a schema uses one.
    static let unsupported: [String: String] = [
        "unevaluatedProperties": "unevaluatedProperties is not supported: list the allowed properties with properties and additionalProperties",
        "unevaluatedItems": "unevaluatedItems is not supported: use items (and prefixItems)",
        "$dynamicRef": "$dynamicRef is not supported: use $ref",
        "$dynamicAnchor": "$dynamicAnchor is not supported: use $anchor",
        "$recursiveRef": "$recursiveRef (draft 2019-09) is not supported: use $ref",
        "$recursiveAnchor": "$recursiveAnchor (draft 2019-09) is not supported",
        "$vocabulary": "$vocabulary is for meta-schemas and is not supported",
        "contentSchema": "contentSchema is not enforced, so it is refused",
    ]

    let document: JSONValue
    let draft: Draft
    var nodes: [SchemaNode] = []
    /// The JSON Pointer of each node in the document, for messages.
    var locations: [String] = []
    var nodeAtPointer: [String: Int] = [:]
    /// Absolute URIs (without fragment) of the schema resources in the document → their pointers.
    var resources: [String: String] = [:]
    /// `<resource URI>#<name>` → pointer, for `$anchor` (and a draft 7 `$id` of the form `#name`).
    var anchors: [String: String] = [:]
    var references: [Int] = []
    var pendingReferences: [(slot: Int, reference: String, base: String, path: String)] = []
    /// Pointers that `$ref`s resolved to.
    var referencedPointers: [String] = []
    /// Members of schema objects that are not keywords: refused unless a `$ref` points into them.
    var unknownMembers: [(pointer: String, key: String)] = []

    static func compile(_ document: JSONValue, draft: Draft) throws(SchemaViolation) -> SchemaProgram {
        var compiler = SchemaCompiler(document: document, draft: draft)
        compiler.resources[documentBase] = ""
        let root = try compiler.schema(document, at: "", base: documentBase)
        try compiler.resolveReferences()
        try compiler.refuseUnknownMembers()
        try compiler.refuseCycles()
        return SchemaProgram(nodes: compiler.nodes, references: compiler.references, root: root)
    }

    // MARK: Schemas

    /// The node for the schema at `path`, compiling it the first time.
    mutating func schema(_ value: JSONValue, at path: String, base: String) throws(SchemaViolation) -> Int {
        if let existing = nodeAtPointer[path] { return existing }
        let index = nodes.count
        nodes.append(SchemaNode(checks: []))
        locations.append(path)
        nodeAtPointer[path] = index
        switch value {
        case .bool(let allowed):
            nodes[index].checks = allowed ? [] : [.never]
        case .object(let members):
            nodes[index].checks = try checks(of: members, at: path, base: base)
        default:
            throw SchemaViolation(path: path, message: "a schema must be an object or a boolean, not \(value.typeName)")
        }
        return index
    }

    /// The nodes of an array of schemas at `path`.
    mutating func schemas(_ values: [JSONValue], at path: String, base: String) throws(SchemaViolation) -> [Int] {
        var nodes: [Int] = []
        for (index, value) in values.enumerated() { nodes.append(try schema(value, at: path + "/\(index)", base: base)) }
        return nodes
    }

    /// The checks of one schema object, in the order `SchemaNode` documents.
    mutating func checks(of members: [(key: String, value: JSONValue)], at path: String, base inherited: String) throws(SchemaViolation) -> [SchemaCheck] {
        var member: [String: JSONValue] = [:]
        for pair in members where member[pair.key] == nil { member[pair.key] = pair.value }
        func at(_ key: String) -> String { path + "/" + JSONSchema.escape(key) }

        // In draft 7, everything beside $ref is ignored: refuse what would then go unenforced.
        let draft7Reference = draft == .draft7 && member["$ref"] != nil
        if draft7Reference {
            for pair in members
            where !["$ref", "$comment", "definitions", "$defs", "$schema", "$id"].contains(pair.key) && !Self.annotations.contains(pair.key) {
                throw SchemaViolation(
                    path: at(pair.key),
                    message: "\(pair.key) beside $ref is ignored in draft 7, so it is refused: put the $ref and \(pair.key) in an allOf, or use draft 2020-12, where keywords beside $ref apply"
                )
            }
        }

        // Identity first: $id changes the base URI the $refs below are resolved against.
        var base = inherited
        if let declared = member["$schema"] {
            guard let uri = declared.stringValue, Draft(declaration: uri) == draft else {
                throw SchemaViolation(path: at("$schema"), message: "must name the document's draft, \(draft.rawValue), when it is not at the root")
            }
        }
        if let id = member["$id"], !draft7Reference {
            base = try identify(id, at: at("$id"), pointer: path, base: base)
        }
        if let anchor = member["$anchor"] {
            guard draft == .draft2020_12 else { throw Self.laterDraft("$anchor", at: at("$anchor"), draft7: "an $id of the form #name") }
            guard let name = anchor.stringValue, Self.isAnchorName(name) else {
                throw SchemaViolation(path: at("$anchor"), message: "must be a name: a letter or _, then letters, digits, -, _ or .")
            }
            anchors[base + "#" + name] = path
        }

        var checks: [(rank: Int, check: SchemaCheck)] = []
        var properties = PropertyRules()
        var hasPropertyRules = false
        var prefixItems: [Int]?
        var restItems: Int?

        for (key, value) in members {
            let here = at(key)
            switch key {
            case "$schema", "$id", "$anchor", "$comment":
                continue
            case _ where Self.annotations.contains(key):
                continue
            case "$ref":
                guard let reference = value.stringValue else { throw SchemaViolation(path: here, message: "must be a string") }
                let slot = references.count
                references.append(-1)
                pendingReferences.append((slot, reference, base, here))
                checks.append((5, .reference(slot)))
            case "definitions", "$defs":
                guard case .object(let definitions) = value else { throw SchemaViolation(path: here, message: "must be an object of schemas") }
                for definition in definitions {
                    _ = try schema(definition.value, at: here + "/" + JSONSchema.escape(definition.key), base: base)
                }
            case "type":
                checks.append((0, .types(try Self.types(value, at: here))))
            case "enum":
                guard case .array(let options) = value else { throw SchemaViolation(path: here, message: "must be an array of the allowed values") }
                checks.append((1, .enumeration(options)))
            case "const":
                checks.append((1, .constant(value)))
            case "multipleOf":
                guard let divisor = SchemaNumber(value), divisor.compare(to: .int(0)) > 0 else {
                    throw SchemaViolation(path: here, message: "must be a number greater than 0")
                }
                checks.append((2, .multipleOf(divisor)))
            case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
                guard let limit = SchemaNumber(value) else {
                    let detail = value.boolValue != nil ? " (the boolean form is draft 4's; give the bound itself)" : ""
                    throw SchemaViolation(path: here, message: "must be a number" + detail)
                }
                let bound: NumberBound =
                    switch key {
                    case "minimum": .minimum
                    case "maximum": .maximum
                    case "exclusiveMinimum": .exclusiveMinimum
                    default: .exclusiveMaximum
                    }
                checks.append((2, .bound(bound, limit)))
            case "minLength":
                checks.append((2, .minLength(try Self.count(value, at: here))))
            case "maxLength":
                checks.append((2, .maxLength(try Self.count(value, at: here))))
            case "pattern":
                checks.append((2, .pattern(try Self.pattern(value, at: here))))
            case "format":
                guard let name = value.stringValue else { throw SchemaViolation(path: here, message: "must be a string") }
                guard let format = SchemaFormat(rawValue: name) else {
                    throw SchemaViolation(
                        path: here,
                        message: "format \(name) is not one Herald enforces, so it is refused (enforced: \(SchemaFormat.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                checks.append((2, .format(format)))
            case "minItems":
                checks.append((4, .minItems(try Self.count(value, at: here))))
            case "maxItems":
                checks.append((4, .maxItems(try Self.count(value, at: here))))
            case "uniqueItems":
                guard let unique = value.boolValue else { throw SchemaViolation(path: here, message: "must be true or false") }
                if unique { checks.append((4, .uniqueItems)) }
            case "items":
                if case .array(let schemas) = value {
                    guard draft == .draft7 else {
                        throw SchemaViolation(
                            path: here,
                            message: "items is an array: in draft 2020-12 a tuple is prefixItems, and items applies to the items after it (or declare $schema \(Draft.draft7.rawValue))"
                        )
                    }
                    prefixItems = try self.schemas(schemas, at: here, base: base)
                } else {
                    restItems = try schema(value, at: here, base: base)
                }
            case "prefixItems":
                guard draft == .draft2020_12 else { throw Self.laterDraft(key, at: here, draft7: "items as an array") }
                guard case .array(let schemas) = value, !schemas.isEmpty else { throw SchemaViolation(path: here, message: "must be a non-empty array of schemas") }
                prefixItems = try self.schemas(schemas, at: here, base: base)
            case "additionalItems":
                guard draft == .draft7 else {
                    throw SchemaViolation(path: here, message: "additionalItems is draft 7's: in draft 2020-12, items applies to the items after prefixItems")
                }
                guard case .array = member["items"] else {
                    throw SchemaViolation(path: here, message: "additionalItems has no effect unless items is an array, so it is refused")
                }
                restItems = try schema(value, at: here, base: base)
            case "contains":
                let node = try schema(value, at: here, base: base)
                var min = 1
                var max: Int?
                if let value = member["minContains"] { min = try Self.count(value, at: at("minContains")) }
                if let value = member["maxContains"] { max = try Self.count(value, at: at("maxContains")) }
                checks.append((4, .contains(node, min: min, max: max)))
            case "minContains", "maxContains":
                guard draft == .draft2020_12 else { throw Self.laterDraft(key, at: here, draft7: nil) }
                guard member["contains"] != nil else { throw SchemaViolation(path: here, message: "\(key) has no effect without contains, so it is refused") }
                _ = try Self.count(value, at: here)
            case "minProperties":
                checks.append((4, .minProperties(try Self.count(value, at: here))))
            case "maxProperties":
                checks.append((4, .maxProperties(try Self.count(value, at: here))))
            case "required":
                checks.append((3, .required(try Self.names(value, at: here).map(ExactString.init))))
            case "properties":
                guard case .object(let schemas) = value else { throw SchemaViolation(path: here, message: "must be an object of schemas") }
                for property in schemas where properties.named[ExactString(property.key)] == nil {
                    properties.named[ExactString(property.key)] = try schema(property.value, at: here + "/" + JSONSchema.escape(property.key), base: base)
                }
                hasPropertyRules = true
            case "patternProperties":
                guard case .object(let schemas) = value else { throw SchemaViolation(path: here, message: "must be an object of schemas") }
                for property in schemas {
                    let propertyPath = here + "/" + JSONSchema.escape(property.key)
                    let pattern = try Self.pattern(.string(property.key), at: propertyPath)
                    properties.patterns.append((pattern, try schema(property.value, at: propertyPath, base: base)))
                }
                hasPropertyRules = true
            case "additionalProperties":
                if value.boolValue == false {
                    _ = try schema(value, at: here, base: base)
                    properties.additional = .forbidden
                } else {
                    properties.additional = .schema(try schema(value, at: here, base: base))
                }
                hasPropertyRules = true
            case "propertyNames":
                checks.append((4, .propertyNames(try schema(value, at: here, base: base))))
            case "dependencies":
                guard draft == .draft7 else {
                    throw SchemaViolation(path: here, message: "dependencies is draft 7's: in draft 2020-12 use dependentRequired and dependentSchemas")
                }
                guard case .object(let dependencies) = value else { throw SchemaViolation(path: here, message: "must be an object") }
                var required: [(name: String, required: [String])] = []
                var schemas: [(name: String, node: Int)] = []
                for dependency in dependencies {
                    let dependencyPath = here + "/" + JSONSchema.escape(dependency.key)
                    if case .array = dependency.value {
                        required.append((dependency.key, try Self.names(dependency.value, at: dependencyPath)))
                    } else {
                        schemas.append((dependency.key, try schema(dependency.value, at: dependencyPath, base: base)))
                    }
                }
                if !required.isEmpty { checks.append((3, .dependentRequired(required))) }
                if !schemas.isEmpty { checks.append((4, .dependentSchemas(schemas))) }
            case "dependentRequired":
                guard draft == .draft2020_12 else { throw Self.laterDraft(key, at: here, draft7: "dependencies") }
                guard case .object(let dependencies) = value else { throw SchemaViolation(path: here, message: "must be an object") }
                var required: [(name: String, required: [String])] = []
                for dependency in dependencies {
                    required.append((dependency.key, try Self.names(dependency.value, at: here + "/" + JSONSchema.escape(dependency.key))))
                }
                checks.append((3, .dependentRequired(required)))
            case "dependentSchemas":
                guard draft == .draft2020_12 else { throw Self.laterDraft(key, at: here, draft7: "dependencies") }
                guard case .object(let dependencies) = value else { throw SchemaViolation(path: here, message: "must be an object of schemas") }
                var schemas: [(name: String, node: Int)] = []
                for dependency in dependencies {
                    schemas.append((dependency.key, try schema(dependency.value, at: here + "/" + JSONSchema.escape(dependency.key), base: base)))
                }
                checks.append((4, .dependentSchemas(schemas)))
            case "allOf", "anyOf", "oneOf":
                guard case .array(let schemas) = value, !schemas.isEmpty else { throw SchemaViolation(path: here, message: "must be a non-empty array of schemas") }
                let nodes = try self.schemas(schemas, at: here, base: base)
                checks.append((5, key == "allOf" ? .allOf(nodes) : key == "anyOf" ? .anyOf(nodes) : .oneOf(nodes)))
            case "not":
                checks.append((5, .not(try schema(value, at: here, base: base))))
            case "if":
                guard member["then"] != nil || member["else"] != nil else {
                    throw SchemaViolation(path: here, message: "if has no effect without then or else, so it is refused")
                }
                let condition = try schema(value, at: here, base: base)
                var then: Int?
                var otherwise: Int?
                if let value = member["then"] { then = try schema(value, at: at("then"), base: base) }
                if let value = member["else"] { otherwise = try schema(value, at: at("else"), base: base) }
                checks.append((5, .conditional(if: condition, then: then, else: otherwise)))
            case "then", "else":
                guard member["if"] != nil else { throw SchemaViolation(path: here, message: "\(key) has no effect without if, so it is refused") }
            default:
                if let reason = Self.unsupported[key] { throw SchemaViolation(path: here, message: reason) }
                unknownMembers.append((here, key))
            }
        }

        if prefixItems != nil || restItems != nil {
            checks.append((4, .items(prefix: prefixItems ?? [], rest: restItems)))
        }
        if hasPropertyRules {
            checks.append((4, .properties(properties)))
        }
        // A stable sort: checks of one rank keep the document's order.
        return checks.enumerated().sorted { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }.map(\.element.check)
    }

    /// Records an `$id` and returns the base URI it sets for the schema and those inside it.
    mutating func identify(_ id: JSONValue, at path: String, pointer: String, base: String) throws(SchemaViolation) -> String {
        guard let text = id.stringValue else { throw SchemaViolation(path: path, message: "must be a string") }
        let hash = text.firstIndex(of: "#")
        let uriPart = hash.map { String(text[..<$0]) } ?? text
        let fragment = hash.map { String(text[text.index(after: $0)...]) } ?? ""
        var resolved = base
        if !uriPart.isEmpty {
            guard let uri = Self.resolve(uriPart, against: base) else { throw SchemaViolation(path: path, message: "is not a valid URI reference") }
            resolved = uri
            if let other = resources[uri], other != pointer {
                throw SchemaViolation(path: path, message: "\(uri) already identifies the schema at \(other.isEmpty ? "/" : other)")
            }
            resources[uri] = pointer
        }
        if !fragment.isEmpty {
            guard draft == .draft7, Self.isAnchorName(fragment) else {
                let advice = draft == .draft7 ? "a fragment in $id must be a plain name, like #node" : "$id may not have a fragment in draft 2020-12: use $anchor"
                throw SchemaViolation(path: path, message: advice)
            }
            anchors[resolved + "#" + fragment] = pointer
        }
        return resolved
    }

    // MARK: References

    mutating func resolveReferences() throws(SchemaViolation) {
        while let pending = pendingReferences.popLast() {
            let pointer = try target(of: pending.reference, base: pending.base, path: pending.path)
            referencedPointers.append(pointer)
            if let node = nodeAtPointer[pointer] {
                references[pending.slot] = node
            } else {
                guard let value = Self.value(at: pointer, in: document) else {
                    throw SchemaViolation(path: pending.path, message: "$ref \(pending.reference) points to nothing in this schema")
                }
                references[pending.slot] = try schema(value, at: pointer, base: baseURI(enclosing: pointer))
            }
        }
    }

    /// The pointer of the schema `reference` names, from a schema whose base URI is `base`.
    func target(of reference: String, base: String, path: String) throws(SchemaViolation) -> String {
        let hash = reference.firstIndex(of: "#")
        let uriPart = hash.map { String(reference[..<$0]) } ?? reference
        let rawFragment = hash.map { String(reference[reference.index(after: $0)...]) } ?? ""
        var resource = base
        if !uriPart.isEmpty {
            guard let uri = Self.resolve(uriPart, against: base) else {
                throw SchemaViolation(path: path, message: "$ref \(reference) is not a valid URI reference")
            }
            resource = uri
        }
        guard let root = resources[resource] else {
            throw SchemaViolation(
                path: path,
                message: "$ref \(reference) points to another document (\(resource)): only references within this schema are supported, so it is refused"
            )
        }
        guard let fragment = rawFragment.removingPercentEncoding else {
            throw SchemaViolation(path: path, message: "$ref \(reference) has a malformed percent-escape")
        }
        if fragment.isEmpty { return root }
        if fragment.hasPrefix("/") {
            guard FormatCheck.jsonPointer(Array(fragment.utf8)[...]) else {
                throw SchemaViolation(path: path, message: "$ref \(reference) is not a valid JSON Pointer (a ~ must be ~0 or ~1)")
            }
            let pointer = root + fragment
            guard Self.value(at: pointer, in: document) != nil else {
                throw SchemaViolation(path: path, message: "$ref \(reference) points to nothing in this schema")
            }
            return pointer
        }
        guard let pointer = anchors[resource + "#" + fragment] else {
            throw SchemaViolation(path: path, message: "$ref \(reference): no schema here is named \(fragment)")
        }
        return pointer
    }

    /// The base URI in force at `pointer`, from the `$id`s of the schemas that enclose it.
    func baseURI(enclosing pointer: String) -> String {
        var base = Self.documentBase
        var value = document
        for token in Self.tokens(of: pointer) {
            if draft != .draft7 || value["$ref"] == nil, let id = value["$id"]?.stringValue {
                let uriPart = id.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if !uriPart.isEmpty, let resolved = Self.resolve(uriPart, against: base) { base = resolved }
            }
            guard let next = Self.child(token, of: value) else { break }
            value = next
        }
        return base
    }

    /// A member that is not a keyword is refused, unless a `$ref` points into it (it then holds
    /// schemas, compiled where they are referenced).
    func refuseUnknownMembers() throws(SchemaViolation) {
        for unknown in unknownMembers {
            let prefix = unknown.pointer + "/"
            if referencedPointers.contains(where: { $0 == unknown.pointer || $0.hasPrefix(prefix) }) { continue }
            var message = "\(unknown.key) is not a keyword Herald enforces, so it is refused"
            if let suggestion = Self.suggestion(for: unknown.key) { message += " (did you mean \(suggestion)?)" }
            throw SchemaViolation(path: unknown.pointer, message: message)
        }
    }

    /// Refuses a cycle of schemas that apply to the same value (`$ref`, `allOf`, `not`, `if`…):
    /// evaluating it would never end, since no step goes into a part of the value.
    func refuseCycles() throws(SchemaViolation) {
        var state = [UInt8](repeating: 0, count: nodes.count)  // 0 unvisited, 1 on the current path, 2 done
        var stack: [Int] = []
        func successors(_ node: Int) -> [Int] {
            var next: [Int] = []
            for check in nodes[node].checks {
                switch check {
                case .reference(let slot): next.append(references[slot])
                case .allOf(let nodes), .anyOf(let nodes), .oneOf(let nodes): next += nodes
                case .not(let node): next.append(node)
                case .conditional(let condition, let then, let otherwise): next += [condition] + [then, otherwise].compactMap { $0 }
                case .dependentSchemas(let dependencies): next += dependencies.map(\.node)
                default: break
                }
            }
            return next
        }
        func visit(_ node: Int) throws(SchemaViolation) {
            state[node] = 1
            stack.append(node)
            for next in successors(node) {
                if state[next] == 1 {
                    let cycle = stack[stack.lastIndex(of: next)!...].map { locations[$0].isEmpty ? "/" : locations[$0] }
                    throw SchemaViolation(
                        path: locations[node],
                        message: "the schemas at \((cycle + [cycle[0]]).joined(separator: " → ")) refer to each other without going into the value, so validating would never end"
                    )
                }
                if state[next] == 0 { try visit(next) }
            }
            stack.removeLast()
            state[node] = 2
        }
        for node in nodes.indices where state[node] == 0 { try visit(node) }
    }

    // MARK: Keyword values

    static func types(_ value: JSONValue, at path: String) throws(SchemaViolation) -> SchemaTypes {
        let names: [JSONValue] = value.arrayValue ?? [value]
        guard !names.isEmpty else { throw SchemaViolation(path: path, message: "must name at least one type") }
        var types: SchemaTypes = []
        for name in names {
            guard let text = name.stringValue, let type = SchemaTypes.byName[text] else {
                throw SchemaViolation(
                    path: path,
                    message: "\(name.jsonString) is not a JSON Schema type (null, boolean, integer, number, string, array, object)"
                )
            }
            guard !types.contains(type) else { throw SchemaViolation(path: path, message: "names \(text) twice") }
            types.insert(type)
        }
        return types
    }

    /// A non-negative integer (`2.0` counts), as for `minLength`.
    static func count(_ value: JSONValue, at path: String) throws(SchemaViolation) -> Int {
        guard let number = SchemaNumber(value), SchemaNumber.isIntegral(value), number.compare(to: .int(0)) >= 0 else {
            throw SchemaViolation(path: path, message: "must be a non-negative integer")
        }
        if let exact = value.intValue { return Int(exact) }
        return Int.max
    }

    /// An array of distinct strings, as for `required`.
    static func names(_ value: JSONValue, at path: String) throws(SchemaViolation) -> [String] {
        guard case .array(let items) = value else { throw SchemaViolation(path: path, message: "must be an array of property names") }
        var names: [String] = []
        for item in items {
            guard let name = item.stringValue else { throw SchemaViolation(path: path, message: "must be an array of property names") }
            guard !names.contains(name) else { throw SchemaViolation(path: path, message: "names \(name) twice") }
            names.append(name)
        }
        return names
    }

    static func pattern(_ value: JSONValue, at path: String) throws(SchemaViolation) -> SchemaPattern {
        guard let source = value.stringValue else { throw SchemaViolation(path: path, message: "must be a string") }
        guard let pattern = SchemaPattern(source) else {
            throw SchemaViolation(path: path, message: "pattern is not a valid regular expression")
        }
        return pattern
    }

    static func isAnchorName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    static func laterDraft(_ keyword: String, at path: String, draft7 alternative: String?) -> SchemaViolation {
        SchemaViolation(
            path: path,
            message: "\(keyword) is a draft 2020-12 keyword and this schema is read as draft 7\(alternative.map { " (use \($0))" } ?? "")"
        )
    }

    /// A keyword that `key` looks like a misspelling of: same letters but for case, or one or two edits away.
    static func suggestion(for key: String) -> String? {
        if let sameLetters = keywords.first(where: { $0.lowercased() == key.lowercased() }) { return sameLetters }
        let candidates = keywords.map { ($0, editDistance($0, key)) }.filter { $0.1 <= 2 }
        return candidates.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: URIs and pointers

    /// `reference` resolved against `base`, without fragment; nil when it is not a URI reference.
    static func resolve(_ reference: String, against base: String) -> String? {
        guard FormatCheck.uri(Array(reference.unicodeScalars), relative: true, international: true),
            let baseURL = URL(string: base), let url = URL(string: reference, relativeTo: baseURL)
        else { return nil }
        var absolute = url.absoluteString
        if let hash = absolute.firstIndex(of: "#") { absolute = String(absolute[..<hash]) }
        return absolute
    }

    /// The unescaped reference tokens of a JSON Pointer.
    static func tokens(of pointer: String) -> [String] {
        guard !pointer.isEmpty else { return [] }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func child(_ token: String, of value: JSONValue) -> JSONValue? {
        switch value {
        case .object: return value[token]
        case .array(let items):
            guard let index = Int(token), index >= 0, index < items.count, token == String(index) else { return nil }
            return items[index]
        default: return nil
        }
    }

    static func value(at pointer: String, in document: JSONValue) -> JSONValue? {
        var value = document
        for token in tokens(of: pointer) {
            guard let next = child(token, of: value) else { return nil }
            value = next
        }
        return value
    }
}
