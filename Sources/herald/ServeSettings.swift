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
/// For each option, the first source that sets it gives its value, a repeatable option's whole list
/// included. The environment and the file become command-line arguments placed before the real
/// ones, so the one parser checks every value whatever its source, and an error names where the
/// value came from. A key of the file that is no option of `serve` is an error, not ignored.
/// Other commands take `--data-dir` and `--database` (or `HERALD_DATA_DIR`,
/// `HERALD_DATABASE_URL`), not the file.
enum ServeSettings {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// What an option of `serve` takes.
    enum Kind: Sendable, Hashable {
        /// A flag: present or not.
        case flag
        /// One value.
        case value
        /// A value that may be given more than once (a list from one source).
        case list
    }

    /// `serve`'s options by long name, as the argument parser describes them (its tool-info
    /// document, the one `--experimental-dump-help` prints): a new option is a setting everywhere
    /// without being listed here.
    static func options(toolInfo: String = Serve._dumpHelp()) -> [String: Kind] {
        guard let document = try? JSONValue(parsing: Data(toolInfo.utf8)), let arguments = document["command"]?["arguments"]?.arrayValue else { return [:] }
        var options: [String: Kind] = [:]
        for argument in arguments {
            let kind: Kind
            switch argument["kind"]?.stringValue {
            case "flag": kind = .flag
            case "option": kind = argument["isRepeating"]?.boolValue == true ? .list : .value
            default: continue
            }
            for name in argument["names"]?.arrayValue ?? [] where name["kind"]?.stringValue == "long" {
                guard let long = name["name"]?.stringValue, !["help", "version", "settings"].contains(long) else { continue }
                options[long] = kind
            }
        }
        return options
    }

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

    /// The arguments `serve` is parsed from: for each option not on the command line, those of the
    /// environment or else of the settings file, then `arguments`; and a line per source for error
    /// messages.
    static func expand(
        _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment, options: [String: Kind] = options()
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
        // Per option, the arguments of the first source that sets it: the command line (left as
        // it is), then the environment, then the file. A repeatable option's list comes whole from
        // one source; a flag set to 0 in the environment takes back the file's true.
        let onCommandLine = Set(remaining.compactMap { argument -> String? in
            guard argument.hasPrefix("--") else { return nil }
            return String(argument.dropFirst(2).prefix { $0 != "=" })
        })
        let fromEnvironment = try environmentArguments(environment, options: options)
        let fromFile = try settingsFile.map { try fileArguments($0, options: options) } ?? [:]
        var expanded: [String] = []
        var fileUsed: [String] = []
        var environmentUsed: [String] = []
        for option in Set(fromFile.keys).union(fromEnvironment.keys).sorted() where !onCommandLine.contains(option) {
            if let (name, arguments) = fromEnvironment[option] {
                expanded += arguments
                if !arguments.isEmpty { environmentUsed.append(name) }
            } else if let arguments = fromFile[option] {
                expanded += arguments
                fileUsed += arguments
            }
        }
        var sources: [String] = []
        if let settingsFile, !fileUsed.isEmpty { sources.append("settings file \(settingsFile): \(fileUsed.joined(separator: " "))") }
        if !environmentUsed.isEmpty { sources.append("environment: \(environmentUsed.joined(separator: ", "))") }
        return (expanded + remaining, sources)
    }

    /// The environment variable of an option: `HERALD_` and its name in capitals, but
    /// `HERALD_DATABASE_URL` for `--database` (its name since before this rule).
    static func environmentName(_ option: String) -> String {
        option == "database" ? "HERALD_DATABASE_URL" : "HERALD_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Per option set in the environment, the variable and the arguments it stands for (none for
    /// a flag set to 0, or for `port`, whose variable `serve` reads itself).
    static func environmentArguments(_ environment: [String: String], options: [String: Kind]) throws -> [String: (String, [String])] {
        var found: [String: (String, [String])] = [:]
        for (option, kind) in options {
            let name = environmentName(option)
            guard let value = environment[name], !value.isEmpty else { continue }
            if readElsewhere.contains(option) {
                found[option] = (name, [])
            } else if kind == .flag {
                switch value.lowercased() {
                case "1", "true", "yes": found[option] = (name, ["--" + option])
                case "0", "false", "no": found[option] = (name, [])
                default: throw Failure(description: "\(name)=\(value): a flag is 1 or 0 (true or false)")
                }
            } else if kind == .list {
                found[option] = (name, value.split(separator: ",").flatMap { ["--" + option, $0.trimmingCharacters(in: .whitespaces)] })
            } else {
                found[option] = (name, ["--" + option, value])
            }
        }
        return found
    }

    /// Per option in the file, the arguments it stands for.
    static func fileArguments(_ path: String, options: [String: Kind]) throws -> [String: [String]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "settings file \(path) cannot be read") }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data)
        } catch {
            throw Failure(description: "settings file \(path): \(error)")
        }
        guard let pairs = document.objectValue else { throw Failure(description: "settings file \(path) must hold a JSON object of serve's options") }
        var arguments: [String: [String]] = [:]
        for (key, value) in pairs {
            let option = key.replacingOccurrences(of: "_", with: "-")
            guard let kind = options[option] else {
                throw Failure(description: "settings file \(path): \"\(key)\" is not a setting of herald serve (see herald serve --help)")
            }
            func text(_ value: JSONValue) throws -> String {
                switch value {
                case .string(let string): return string
                case .int, .double, .number: return value.jsonString
                default: throw Failure(description: "settings file \(path): \"\(key)\" must be a string or a number")
                }
            }
            if kind == .flag {
                guard let flag = value.boolValue else { throw Failure(description: "settings file \(path): \"\(key)\" is a flag: true or false") }
                arguments[option] = flag ? ["--" + option] : []
            } else if let items = value.arrayValue {
                guard kind == .list else { throw Failure(description: "settings file \(path): \"\(key)\" takes one value, not a list") }
                arguments[option] = try items.flatMap { ["--" + option, try text($0)] }
            } else if !value.isNull {
                arguments[option] = ["--" + option, try text(value)]
            }
        }
        return arguments
    }
}
