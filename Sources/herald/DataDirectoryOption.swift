import ArgumentParser
import Foundation

/// `--data-dir`, shared by every command; `HERALD_DATA_DIR` sets the default.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory holding herald.sqlite and master.key (env HERALD_DATA_DIR).")
    var path: String = ProcessInfo.processInfo.environment["HERALD_DATA_DIR"] ?? "./herald-data"

    var url: URL { URL(fileURLWithPath: path) }
}
