import Crypto
import Foundation

/// Encrypts hook secrets at rest with AES-GCM under a master key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey
    /// The key before the last rotation, while secrets are being sealed anew: it still opens what
    /// it sealed; nothing is sealed with it.
    private let previous: SymmetricKey?

    public init(key: SymmetricKey, previous: SymmetricKey? = nil) {
        self.key = key
        self.previous = previous
    }

    /// Whether a previous key is loaded (a rotation has not finished).
    public var isRotating: Bool { previous != nil }

    /// From 32 raw key bytes.
    public init?(keyBytes: [UInt8]) {
        guard keyBytes.count == 32 else { return nil }
        self.key = SymmetricKey(data: keyBytes)
        self.previous = nil
    }

    /// A box with a fresh random key (tests, benchmarks).
    public static func random() -> SecretBox { SecretBox(key: SymmetricKey(size: .bits256)) }

    public func seal(_ plaintext: String) throws -> Data {
        try AES.GCM.seal(Array(plaintext.utf8), using: key).combined!
    }

    public func open(_ sealed: Data) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        do {
            return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
        } catch {
            guard let previous else { throw error }
            return String(decoding: try AES.GCM.open(box, using: previous), as: UTF8.self)
        }
    }

    /// `sealed` opened (with either key) and sealed again with the current key.
    public func reseal(_ sealed: Data) throws -> Data { try seal(try open(sealed)) }

    /// The key file `load` reads when no `HERALD_MASTER_KEY` is set.
    public static func keyFile(dataDirectory: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        environment["HERALD_MASTER_KEY_FILE"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) } ?? dataDirectory.appendingPathComponent("master.key")
    }

    /// Where the key before a rotation is kept until every secret is sealed anew.
    public static func previousKeyFile(_ keyFile: URL) -> URL { keyFile.appendingPathExtension("previous") }

    static func decodeKey(_ text: String) -> SymmetricKey? {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else { return nil }
        return SymmetricKey(data: bytes)
    }

    static func encodeKey(_ key: SymmetricKey) -> String { key.withUnsafeBytes { Data($0) }.base64EncodedString() + "\n" }

    /// Starts a rotation of the key file's key: the current key moves to the previous-key file and a
    /// new one takes its place (written beside and renamed over, so either the old or the new file is
    /// there whatever happens). Returns the box with both. A rotation already under way is resumed.
    public static func beginRotation(keyFile: URL) throws -> SecretBox {
        let previousFile = previousKeyFile(keyFile)
        let manager = FileManager.default
        guard let currentText = manager.contents(atPath: keyFile.path), let current = decodeKey(String(decoding: currentText, as: UTF8.self)) else {
            throw SecretBoxError(message: "\(keyFile.path) must hold the base64 encoding of 32 bytes")
        }
        if let previousText = manager.contents(atPath: previousFile.path) {
            guard let previous = decodeKey(String(decoding: previousText, as: UTF8.self)) else {
                throw SecretBoxError(message: "\(previousFile.path) must hold the base64 encoding of 32 bytes")
            }
            return SecretBox(key: current, previous: previous)
        }
        guard manager.createFile(atPath: previousFile.path, contents: Data(encodeKey(current).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SecretBoxError(message: "cannot create \(previousFile.path)")
        }
        let next = SymmetricKey(size: .bits256)
        let staged = keyFile.appendingPathExtension("new")
        guard manager.createFile(atPath: staged.path, contents: Data(encodeKey(next).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SecretBoxError(message: "cannot create \(staged.path)")
        }
        guard rename(staged.path, keyFile.path) == 0 else { throw SecretBoxError(message: "cannot replace \(keyFile.path)") }
        return SecretBox(key: next, previous: current)
    }

    /// Ends a rotation once every secret is sealed with the new key.
    public static func finishRotation(keyFile: URL) throws {
        try FileManager.default.removeItem(at: previousKeyFile(keyFile))
    }

    /// Loads the master key: `HERALD_MASTER_KEY` (base64 of 32 bytes) wins; then the file
    /// `HERALD_MASTER_KEY_FILE` names (kept apart from the data and its backups); otherwise
    /// `<dataDir>/master.key`. The file is read, or created with mode 0600 on first start.
    public static func load(dataDirectory: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretBox {
        if let encoded = environment["HERALD_MASTER_KEY"] {
            guard let key = decodeKey(encoded) else { throw SecretBoxError(message: "HERALD_MASTER_KEY must be the base64 encoding of 32 bytes") }
            // During a rotation, the key before it (every node needs both until `rotate-master-key` ends).
            var previous: SymmetricKey?
            if let old = environment["HERALD_MASTER_KEY_PREVIOUS"], !old.isEmpty {
                guard let key = decodeKey(old) else { throw SecretBoxError(message: "HERALD_MASTER_KEY_PREVIOUS must be the base64 encoding of 32 bytes") }
                previous = key
            }
            return SecretBox(key: key, previous: previous)
        }
        let file = keyFile(dataDirectory: dataDirectory, environment: environment)
        if let data = FileManager.default.contents(atPath: file.path) {
            guard let key = decodeKey(String(decoding: data, as: UTF8.self)) else {
                throw SecretBoxError(message: "\(file.path) must hold the base64 encoding of 32 bytes")
            }
            // A rotation that has not finished: the old key still opens what it sealed.
            let previous = FileManager.default.contents(atPath: previousKeyFile(file).path).flatMap { decodeKey(String(decoding: $0, as: UTF8.self)) }
            return SecretBox(key: key, previous: previous)
        }
        let key = SymmetricKey(size: .bits256)
        let encoded = key.withUnsafeBytes { Data($0) }.base64EncodedString() + "\n"
        guard FileManager.default.createFile(atPath: file.path, contents: Data(encoded.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw SecretBoxError(message: "cannot create \(file.path)")
        }
        return SecretBox(key: key)
    }
}

public struct SecretBoxError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
