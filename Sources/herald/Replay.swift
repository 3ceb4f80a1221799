import ArgumentParser
import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a hook: queue again every event it matched since a time, with a progress bar.",
        discussion: "herald replay --hook 3 --since 2h   (or an RFC 3339 time; --failed for failed deliveries only)"
    )

    @Option(help: "The hook's id.") var hook: Int64
    @Option(help: "How far back: a duration (30m, 2h, 7d) or an RFC 3339 time.") var since: String
    @Option(help: "Up to when (same forms); now when omitted.") var until: String?
    @Flag(help: "Only events whose delivery failed.") var failed = false
    @Flag(help: "Start the job and exit without following it.") var detach = false
    @Option(help: "The server's base URL (env HERALD_URL).") var url: String = ProcessInfo.processInfo.environment["HERALD_URL"] ?? "http://127.0.0.1:8080"
    @Option(help: "A team or admin token (env HERALD_TOKEN).") var token: String?

    /// `2h`, `30m`, `45s`, `7d` before `now`, or an RFC 3339 time.
    static func time(_ text: String, now: Date) -> Date? {
        if let date = Timestamp.parse(text) { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0 else { return nil }
        return now.addingTimeInterval(-amount * unit)
    }

    func run() async throws {
        guard let token = token ?? ProcessInfo.processInfo.environment["HERALD_TOKEN"] else { throw ValidationError("pass --token or set HERALD_TOKEN") }
        let now = Date()
        guard let start = Self.time(since, now: now) else { throw ValidationError("--since must be a duration like 2h or an RFC 3339 time") }
        var fields: [(key: String, value: JSONValue)] = [("since", .string(Timestamp.string(start))), ("status", .string(failed ? "failed" : "all"))]
        if let until {
            guard let end = Self.time(until, now: now) else { throw ValidationError("--until must be a duration like 1h or an RFC 3339 time") }
            fields.append(("until", .string(Timestamp.string(end))))
        }
        let (status, created) = try await call(.POST, "/api/hooks/\(hook)/replay", token: token, body: JSONValue.object(fields).jsonString)
        guard status == 202, let jobURL = created["url"]?.stringValue else {
            FileHandle.standardError.write(Data("replay refused (\(status)): \(created.jsonString)\n".utf8))
            throw ExitCode(1)
        }
        if detach {
            print(created.jsonString)
            return
        }
        var job = created
        while true {
            Self.draw(job)
            guard job["state"]?.stringValue == "running" else { break }
            try await Task.sleep(for: .milliseconds(300))
            job = try await call(.GET, jobURL, token: token, body: nil).1
        }
        print("")
        if job["state"]?.stringValue != "done" { throw ExitCode(1) }
    }

    /// `[##########----------]  50%  500/1000 events  120 queued  running`, redrawn in place.
    static func draw(_ job: JSONValue) {
        let percent = Int(job["percent"]?.intValue ?? 0)
        let filled = percent / 5
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled)
        let line = "\r[\(bar)] \(String(format: "%3d", percent))%  \(job["done"]?.intValue ?? 0)/\(job["total"]?.intValue ?? 0) events  "
            + "\(job["queued"]?.intValue ?? 0) queued  \(job["state"]?.stringValue ?? "")   "
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func call(_ method: HTTPMethod, _ path: String, token: String, body: String?) async throws -> (Int, JSONValue) {
        let (status, text) = try await ServerAPI(url: url, token: token).call(method, path, body: body)
        return (status, (try? JSONValue(parsing: text)) ?? .string(text))
    }
}
