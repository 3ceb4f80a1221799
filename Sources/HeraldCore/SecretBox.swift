import Crypto
import Foundation

/// Encrypts hook secrets at rest with AES-GCM under a master key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// From 32 raw key bytes.
    public init?(keyBytes: [UInt8]) {
        guard keyBytes.count == 32 else { return nil }
        self.key = SymmetricKey(data: keyBytes)
    }

    /// A box with a fresh random key (tests, benchmarks).
    public static func random() -> SecretBox { SecretBox(key: SymmetricKey(size: .bits256)) }

    public func seal(_ plaintext: String) throws -> Data {
        try AES.GCM.seal(Array(plaintext.utf8), using: key).combined!
    }

    public func open(_ sealed: Data) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
    }

    /// Loads the master key: `HERALD_MASTER_KEY` (base64 of 32 bytes) wins; then the file
    /// `HERALD_MASTER_KEY_FILE` names (kept apart from the data and its backups); otherwise
    /// `<dataDir>/master.key`. The file is read, or created with mode 0600 on first start.
    public static func load(dataDirectory: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretBox {
        if let encoded = environment["HERALD_MASTER_KEY"] {
            guard let bytes = Data(base64Encoded: encoded), let box = SecretBox(keyBytes: Array(bytes)) else {
                throw SecretBoxError(message: "HERALD_MASTER_KEY must be the base64 encoding of 32 bytes")
            }
            return box
        }
        let file = environment["HERALD_MASTER_KEY_FILE"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? dataDirectory.appendingPathComponent("master.key")
        if let data = FileManager.default.contents(atPath: file.path) {
            guard let bytes = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                let box = SecretBox(keyBytes: Array(bytes))
            else { throw SecretBoxError(message: "\(file.path) must hold the base64 encoding of 32 bytes") }
            return box
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
