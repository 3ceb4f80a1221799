import ArgumentParser
import Foundation
import HeraldServer

/// `--data-dir` and `--database`, shared by every command; `HERALD_DATA_DIR` and
/// `HERALD_DATABASE_URL` set their defaults.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory holding herald.sqlite and master.key (env HERALD_DATA_DIR).")
    var path: String = ProcessInfo.processInfo.environment["HERALD_DATA_DIR"] ?? "./herald-data"

    @Option(
        name: .customLong("database"),
        help: "A PostgreSQL database shared by several Herald nodes, postgres://user:password@host:5432/name (env HERALD_DATABASE_URL); default: SQLite in --data-dir."
    )
    var databaseURL: String = ProcessInfo.processInfo.environment["HERALD_DATABASE_URL"] ?? ""

    var url: URL { URL(fileURLWithPath: path) }

    func apply(to configuration: inout HeraldConfiguration) {
        configuration.dataDirectory = url
        configuration.databaseURL = databaseURL.isEmpty ? nil : databaseURL
    }
}
