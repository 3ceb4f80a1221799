import ArgumentParser
import Foundation
import HeraldCore

/// Where `herald serve` takes its settings from, the first that has one winning:
///
/// 1. the command line (`--max-in-flight 64`);
/// 2. the environment, `HERALD_` and the option's name in capitals (`HERALD_MAX_IN_FLIGHT=64`;
///    a flag is `1`/`true`; a repeatable option takes a comma-separated list);
/// 3. a JSON settings file, `--settings FILE` or `HERALD_SETTINGS=FILE`, whose keys are the
///    options' names (`"max_in_flight": 64` or `"max-in-flight": 64`; a flag is `true`; a
///    repeatable option takes an array).
///
/// The environment and the file become command-line arguments placed before the real ones, so
/// the one parser checks every value whatever its source, and an error names where the value came
/// from. A key of the file that is no option of `serve` is an error, not ignored.
enum ServeSettings {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `serve`'s options as its help lists them: name → takes a value (false: a flag).
    static func options(helpText: String = Serve.helpMessage(columns: 10_000)) -> [String: Bool] {
        var options: [String: Bool] = [:]
        let regex = try! NSRegularExpression(pattern: #"--([a-z0-9][a-z0-9-]*)( <[^>]+>)?"#)
        for match in regex.matches(in: helpText, range: NSRange(helpText.startIndex..., in: helpText)) {
            guard let name = Range(match.range(at: 1), in: helpText).map({ String(helpText[$0]) }), !["help", "version", "settings"].contains(name)
            else { continue }
            options[name, default: false] = options[name, default: false] || match.range(at: 2).location != NSNotFound
        }
        return options
    }

    /// The options that may be given more than once.
    static let repeatable: Set<String> = ["allow-target"]
    /// Options whose environment variable `serve` reads itself, with a message of its own.
    static let readElsewhere: Set<String> = ["port"]

    /// Where `serve`'s own arguments start in a command line (after `serve`, or at once when
    /// `serve` is left out as the default command); nil for another command, `--help` or `--version`.
    static func serveArgumentsStart(_ commandLine: [String]) -> Int? {
        guard let first = commandLine.first else { return 0 }
        if first == "serve" { return 1 }
        if first.hasPrefix("-"), !["-h", "--help", "--version", "--help-hidden", "--experimental-dump-help"].contains(first) { return 0 }
        return nil
    }

    /// The arguments `serve` is parsed from: those from the settings file, then those from the
    /// environment, then `arguments` (later ones win); and a line per source for error messages.
    static func expand(
        _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment, options: [String: Bool] = options()
    ) throws -> (arguments: [String], sources: [String]) {
        var remaining = arguments
        var settingsFile = environment["HERALD_SETTINGS"].flatMap { $0.isEmpty ? nil : $0 }
        if let index = remaining.firstIndex(where: { $0 == "--settings" || $0.hasPrefix("--settings=") }) {
            if remaining[index] == "--settings" {
                guard index + 1 < remaining.count else { throw Failure(description: "--settings needs a file") }
                settingsFile = remaining[index + 1]
                remaining.removeSubrange(index...(index + 1))
            } else {
                settingsFile = String(remaining[index].dropFirst("--settings=".count))
                remaining.remove(at: index)
            }
        }
        var expanded: [String] = []
        var sources: [String] = []
        if let settingsFile {
            let fromFile = try fileArguments(settingsFile, options: options)
            if !fromFile.isEmpty { sources.append("settings file \(settingsFile): \(fromFile.joined(separator: " "))") }
            expanded += fromFile
        }
        let fromEnvironment = try environmentArguments(environment, options: options)
        if !fromEnvironment.arguments.isEmpty { sources.append("environment: \(fromEnvironment.names.joined(separator: ", "))") }
        expanded += fromEnvironment.arguments
        return (expanded + remaining, sources)
    }

    static func environmentName(_ option: String) -> String {
        "HERALD_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    static func environmentArguments(_ environment: [String: String], options: [String: Bool]) throws -> (arguments: [String], names: [String]) {
        var arguments: [String] = []
        var names: [String] = []
        for (option, takesValue) in options.sorted(by: { $0.key < $1.key }) where !readElsewhere.contains(option) {
            let name = environmentName(option)
            guard let value = environment[name], !value.isEmpty else { continue }
            names.append(name)
            if !takesValue {
                switch value.lowercased() {
                case "1", "true", "yes": arguments.append("--" + option)
                case "0", "false", "no": break
                default: throw Failure(description: "\(name)=\(value): a flag is 1 or 0 (true or false)")
                }
            } else if repeatable.contains(option) {
                for item in value.split(separator: ",") { arguments += ["--" + option, item.trimmingCharacters(in: .whitespaces)] }
            } else {
                arguments += ["--" + option, value]
            }
        }
        return (arguments, names)
    }

    static func fileArguments(_ path: String, options: [String: Bool]) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "settings file \(path) cannot be read") }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data)
        } catch {
            throw Failure(description: "settings file \(path): \(error)")
        }
        guard let pairs = document.objectValue else { throw Failure(description: "settings file \(path) must hold a JSON object of serve's options") }
        var arguments: [String] = []
        for (key, value) in pairs {
            let option = key.replacingOccurrences(of: "_", with: "-")
            guard let takesValue = options[option] else {
                throw Failure(description: "settings file \(path): \"\(key)\" is not a setting of herald serve (see herald serve --help)")
            }
            func text(_ value: JSONValue) throws -> String {
                switch value {
                case .string(let string): return string
                case .int, .double, .number: return value.jsonString
                default: throw Failure(description: "settings file \(path): \"\(key)\" must be a string or a number")
                }
            }
            if !takesValue {
                guard let flag = value.boolValue else { throw Failure(description: "settings file \(path): \"\(key)\" is a flag: true or false") }
                if flag { arguments.append("--" + option) }
            } else if let items = value.arrayValue {
                guard repeatable.contains(option) else { throw Failure(description: "settings file \(path): \"\(key)\" takes one value, not a list") }
                for item in items { arguments += ["--" + option, try text(item)] }
            } else if !value.isNull {
                arguments += ["--" + option, try text(value)]
            }
        }
        return arguments
    }
}
