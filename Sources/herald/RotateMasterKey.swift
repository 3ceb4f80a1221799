import ArgumentParser
import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer

/// `herald rotate-master-key`: a new master key, every hook secret, signing key and credential
/// sealed anew with it. Stop the server(s) first.
struct RotateMasterKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-master-key",
        abstract: "Seal every stored secret with a new master key (stop the servers first).",
        discussion: """
            With a key file (<data-dir>/master.key or HERALD_MASTER_KEY_FILE): the old key is kept in
            <file>.previous, a new key replaces it, every secret is sealed anew, then <file>.previous
            is removed. Interrupted, it resumes where it stopped when run again (both keys open secrets
            meanwhile). With HERALD_MASTER_KEY: set HERALD_MASTER_KEY_PREVIOUS to the old key and
            HERALD_MASTER_KEY to a new one (openssl rand -base64 32), run this, then drop the previous key.
            """
    )

    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() async throws {
        var configuration = HeraldConfiguration()
        dataDirectory.apply(to: &configuration)
        let environment = ProcessInfo.processInfo.environment
        let fromEnvironment = environment["HERALD_MASTER_KEY"].map { !$0.isEmpty } ?? false
        let keyFile = SecretBox.keyFile(dataDirectory: configuration.dataDirectory)
        if fromEnvironment {
            guard environment["HERALD_MASTER_KEY_PREVIOUS"].map({ !$0.isEmpty }) ?? false else {
                throw ValidationError(
                    "the key comes from HERALD_MASTER_KEY: set HERALD_MASTER_KEY_PREVIOUS to it and HERALD_MASTER_KEY to a new key (openssl rand -base64 32), then run this again"
                )
            }
        } else {
            guard FileManager.default.fileExists(atPath: keyFile.path) else { throw ValidationError("there is no key file at \(keyFile.path) to rotate") }
            _ = try SecretBox.beginRotation(keyFile: keyFile)
        }
        // The store opened with both keys (the new one seals, either opens).
        let (store, box) = try await openStore(configuration: configuration)
        var resealed = 0
        for var hook in try await store.hooks(teamID: nil) {
            hook.encryptedSecret = try box.reseal(hook.encryptedSecret)
            hook.encryptedPreviousSecret = try hook.encryptedPreviousSecret.map(box.reseal)
            hook.encryptedSigningKey = try hook.encryptedSigningKey.map(box.reseal)
            hook.encryptedCredentials = try hook.encryptedCredentials.map(box.reseal)
            _ = try await store.updateHook(hook, now: hook.updatedAt)
            resealed += 1
        }
        if let postgres = store as? PostgresStore {
            try await postgres.resealMasterKeyCheck(seal: { try box.seal($0) })
            postgres.close()
        }
        if !fromEnvironment { try SecretBox.finishRotation(keyFile: keyFile) }
        print(
            "Sealed the secrets of \(resealed) hooks with the new master key"
                + (fromEnvironment ? "; HERALD_MASTER_KEY_PREVIOUS can be dropped now." : " (\(keyFile.path)).")
        )
    }
}
