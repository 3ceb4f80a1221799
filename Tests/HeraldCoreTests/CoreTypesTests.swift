import Foundation
import HeraldCore
import Testing

@Suite struct EventPayloadTests {
    @Test func theBodyIsTheEnvelopeAroundTheRawData() {
        let event = Event(
            seq: 7, id: "evt_1", type: "lead.created", data: #"{"lead_id":"l1"}"#, channels: [], idempotencyKey: nil,
            timestamp: Date(timeIntervalSince1970: 1_763_820_000)
        )
        #expect(event.payload == #"{"id":"evt_1","type":"lead.created","timestamp":"2025-11-22T14:00:00Z","data":{"lead_id":"l1"}}"#)
    }

    @Test func identifiersArePrefixedAndTimeOrdered() {
        let a = Identifier.make(prefix: "evt_", now: Date(timeIntervalSince1970: 1_000))
        let b = Identifier.make(prefix: "evt_", now: Date(timeIntervalSince1970: 2_000))
        #expect(a.hasPrefix("evt_") && a.count == 30)
        #expect(a < b)
    }

    @Test func deliveryIDsAreTimeOrderedVersion7UUIDs() {
        let ids = (0..<1000).map { _ in Identifier.deliveryID() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            let parsed = UUID(uuidString: id)
            #expect(parsed != nil && parsed!.uuidString.lowercased() == id)
            #expect(Array(id)[14] == "7" && "89ab".contains(Array(id)[19]))
        }
        let earlier = Identifier.deliveryID(now: Date(timeIntervalSince1970: 1_700_000_000))
        let later = Identifier.deliveryID(now: Date(timeIntervalSince1970: 1_700_000_000.002))
        #expect(earlier < later)
        // The first 48 bits are the milliseconds since 1970.
        #expect(earlier.prefix(13) == "018bcfe5-6800")
    }

    @Test func timestampsParseBack() {
        let date = Date(timeIntervalSince1970: 1_763_820_000.25)
        #expect(Timestamp.millisecondString(date) == "2025-11-22T14:00:00.250Z")
        #expect(Timestamp.parse("2025-11-22T14:00:00Z") == Date(timeIntervalSince1970: 1_763_820_000))
    }
}

@Suite struct TokenHashTests {
    @Test func tokensAreStoredAsTheirSHA256InLowerCaseHex() {
        #expect(APIToken.hash("hrld_example") == "1714511c8e75c799da075f4acd258ff4c0c3314411924dbfa9254afff21938ea")
        #expect(APIToken.generateSecret().hasPrefix("hrld_"))
    }
}

@Suite struct SecretBoxTests {
    @Test func sealsAndOpens() throws {
        let box = SecretBox.random()
        let sealed = try box.seal("whsec_abc")
        #expect(!String(decoding: sealed, as: UTF8.self).contains("whsec_abc"))
        #expect(try box.open(sealed) == "whsec_abc")
    }

    @Test func anotherKeyCannotOpen() throws {
        let sealed = try SecretBox.random().seal("whsec_abc")
        #expect(throws: (any Error).self) { try SecretBox.random().open(sealed) }
    }

    @Test func theKeyFileIsCreatedPrivateAndReused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try SecretBox.load(dataDirectory: directory, environment: [:])
        let second = try SecretBox.load(dataDirectory: directory, environment: [:])
        #expect(try second.open(try first.seal("x")) == "x")
        let mode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("master.key").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func theKeyCanLiveInAFileOutsideTheDataDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-key-\(UUID().uuidString)")
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("herald-keyfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory); try? FileManager.default.removeItem(at: elsewhere) }
        let environment = ["HERALD_MASTER_KEY_FILE": elsewhere.path]
        let first = try SecretBox.load(dataDirectory: directory, environment: environment)
        #expect(FileManager.default.fileExists(atPath: elsewhere.path))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("master.key").path))
        #expect(try SecretBox.load(dataDirectory: directory, environment: environment).open(try first.seal("x")) == "x")
    }
}

@Suite struct EventTypeCatalogTests {
    @Test func theSeedCatalogsSchemasAreAcceptedAndTheirExamplesConform() throws {
        for type in EventType.seedCatalog {
            guard let document = type.schema else { continue }
            let schema = try JSONSchema(document)
            if let example = type.example { #expect(schema.firstViolation(of: example) == nil, "\(type.name)") }
        }
    }
}
