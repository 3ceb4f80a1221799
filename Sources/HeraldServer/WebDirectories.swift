import Foundation

/// Finds the web UI's `Templates` and `Public` folders: as given when that exists, else installed
/// beside the executable (`bin/herald` → `share/herald/Templates`), else in the package checkout
/// the executable was built in (`.build/<config>/herald` → the checkout's root), so `herald` works
/// from any working directory.
public enum WebDirectories {
    public static func resolve(_ path: String) -> URL {
        let given = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: given.path) || path.hasPrefix("/") { return given }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let installed = directory.deletingLastPathComponent().appendingPathComponent("share/herald").appendingPathComponent(path)
        if FileManager.default.fileExists(atPath: installed.path) { return installed }
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return given
    }
}
