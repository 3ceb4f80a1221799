import Foundation
import HeraldCore
import HeraldVerify
import Logging

/// A Sync Gateway config file applied at start: its databases exist, and each webhook handler is a
/// hook managed by the file, keyed by its path in the file, so an edited file updates the same hook
/// (and keeps its delivery log) at the next start.
extension HeraldServices {
    /// The team that owns the config file's hooks. Its slug is reserved: no admin can create a
    /// team by that name (``Team/isReservedSlug(_:)``), so nobody can own the managed hooks.
    static let configTeamSlug = Team.configFileSlug

    /// What applying the file changed.
    public struct ConfigFileChanges: Sendable, Hashable {
        public var databasesCreated: [String] = []
        public var hooksCreated = 0
        public var hooksUpdated = 0
        /// Hooks whose handler left the file: deactivated, logs kept.
        public var hooksRetired = 0
    }

    public func applyConfigFile(_ config: SyncGatewayConfig, logger: Logger) async throws -> ConfigFileChanges {
        var changes = ConfigFileChanges()
        for setting in config.ignored {
            logger.notice("config file: setting not used by Herald, ignored", metadata: ["setting": "\(setting)"])
        }
        // Every filter compiles before anything changes.
        for database in config.databases {
            for handler in database.handlers {
                if let filter = handler.filter, let failure = await trialScripts.check(source: filter) {
                    throw ConfigError(path: handler.path + ".filter", message: failure.description)
                }
            }
        }
        let team: Team
        if let existing = try await store.team(slug: Self.configTeamSlug) {
            team = existing
        } else {
            team = try await store.createTeam(name: "Config file", slug: Self.configTeamSlug, now: Date())
        }
        var managed = Dictionary(try await store.hooks(teamID: nil).compactMap { hook in hook.managedKey.map { ($0, hook) } }, uniquingKeysWith: { a, _ in a })
        for database in config.databases {
            for handler in database.handlers {
                let settings = Self.settings(for: handler, of: database)
                if let hook = managed.removeValue(forKey: handler.path) {
                    var wanted = hook
                    wanted.url = settings.url
                    // Credentials from the handler's URL, sealed (the same ones sealed anew compare unequal, so only a change is written).
                    let current = try hook.encryptedCredentials.map { try HookCredentials.open($0, with: secretBox) }
                    if current != settings.credentials { wanted.encryptedCredentials = try settings.credentials?.sealed(with: secretBox) }
                    wanted.events = settings.events
                    wanted.filter = settings.filter
                    wanted.timeoutSeconds = settings.timeoutSeconds
                    wanted.maxInFlight = settings.maxInFlight
                    wanted.payloadFormat = settings.payloadFormat
                    wanted.contentType = settings.contentType
                    wanted.active = true
                    if !hook.active { (wanted.disabledReason, wanted.failingSince) = (nil, nil) }
                    if wanted != hook {
                        _ = try await store.updateHook(wanted, now: Date())
                        changes.hooksUpdated += 1
                    }
                } else {
                    _ = try await createHook(teamID: team.id, settings: settings, secret: WebhookSecret.generate())
                    changes.hooksCreated += 1
                }
            }
        }
        for (key, hook) in managed where hook.active {
            var retired = hook
            retired.active = false
            retired.disabledReason = "Its handler (\(key)) is no longer in the config file."
            _ = try await store.updateHook(retired, now: Date())
            changes.hooksRetired += 1
        }
        // Databases last, so their handlers' hooks exist when `db_state_changed` says they are online.
        let existingDatabases = Set(try await store.databaseNames())
        for database in config.databases where !existingDatabases.contains(database.name) {
            _ = try await createDatabase(database.name)
            changes.databasesCreated.append(database.name)
        }
        // The file says which member orders each database's writes (none when it names none).
        for database in config.databases {
            try await store.setVersionField(database.versionField, database: database.name)
        }
        return changes
    }

    /// A handler's hook settings. A password in the handler's URL (`http://user:password@host/`)
    /// is sent as Basic credentials, as Sync Gateway does, and kept sealed, never shown in the URL.
    static func settings(for handler: SyncGatewayConfig.Handler, of database: SyncGatewayConfig.Database) -> HookSettings {
        var settings = HookSettings(url: handler.url)
        if let split = HookCredentials.splitURL(handler.url) {
            settings.url = split.url
            var credentials = HookCredentials()
            (credentials.basicUser, credentials.basicPassword) = (split.user, split.password)
            settings.credentials = credentials
        }
        settings.events = [
            handler.kind == .documentChanged ? DatabaseInfo.changeEventType(database.name) : DatabaseInfo.stateEventType(database.name)
        ]
        settings.filter = handler.filter
        settings.timeoutSeconds = handler.timeoutSeconds
        settings.maxInFlight = database.maxProcesses
        settings.payloadFormat = .syncGateway
        settings.contentType = .json
        settings.managedKey = handler.path
        return settings
    }
}
