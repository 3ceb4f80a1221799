import Foundation
import HeraldCore
import HeraldVerify

/// Hook changes shared by the API and the web UI, so both follow the same rules.
extension HeraldServices {
    /// Sealed key material for a new hook: its secret and, for `ed25519` hooks, a signing key.
    func newKeys(secret: WebhookSecret, signature: SignatureScheme) throws -> HookKeys {
        var keys = HookKeys(encryptedSecret: try secretBox.seal(secret.string))
        if signature == .ed25519 { (keys.encryptedSigningKey, keys.publicKey) = try newSigningKey() }
        return keys
    }

    /// A new Ed25519 key: sealed private key and published `whpk_` public key.
    func newSigningKey() throws -> (Data, String) {
        let signingKey = WebhookSigningKey.generate()
        return (try secretBox.seal(signingKey.string), signingKey.publicKey.string)
    }

    /// Creates the hook (and its first ping) and wakes the engine.
    func createHook(teamID: Int64, settings: HookSettings, secret: WebhookSecret) async throws -> Hook {
        let (hook, _) = try await store.createHook(teamID: teamID, settings: settings, keys: try newKeys(secret: secret, signature: settings.signature), now: Date())
        engine.deliveriesQueued()
        return hook
    }

    /// Saves new settings (and a new secret, if given). Turning a disabled hook back on clears
    /// why it was disabled and lets its waiting deliveries go.
    func updateHook(_ hook: Hook, settings: HookSettings, secret: String?) async throws -> Hook {
        var hook = hook
        let reactivated = settings.active && !hook.active
        hook.url = settings.url
        hook.contentType = settings.contentType
        hook.events = settings.events
        hook.channels = settings.channels
        hook.active = settings.active
        hook.insecureSSL = settings.insecureSSL
        hook.timeoutSeconds = settings.timeoutSeconds
        hook.ordering = settings.ordering
        hook.signature = settings.signature
        if let secret { hook.encryptedSecret = try secretBox.seal(secret) }
        if hook.signature == .ed25519 && hook.encryptedSigningKey == nil {
            let (sealed, publicKey) = try newSigningKey()
            hook.encryptedSigningKey = sealed
            hook.publicKey = publicKey
        }
        if reactivated {
            hook.disabledReason = nil
            hook.failingSince = nil
        }
        let saved = try await store.updateHook(hook, now: Date())
        if reactivated { engine.deliveriesQueued() }
        return saved
    }

    /// Issues `secret`; the current one keeps signing for `grace`.
    func rotateSecret(of hook: Hook, to secret: WebhookSecret, grace: Duration) async throws -> Hook {
        var hook = hook
        let now = Date()
        hook.encryptedPreviousSecret = hook.encryptedSecret
        hook.previousSecretExpiresAt = now.addingTimeInterval(grace.seconds)
        hook.encryptedSecret = try secretBox.seal(secret.string)
        return try await store.updateHook(hook, now: now)
    }
}
