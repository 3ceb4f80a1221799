import ArgumentParser
import Foundation
import HeraldVerify

/// Options shared by `herald verify` and `herald listen`: the key material a receiver holds.
struct VerificationKeyOptions: ParsableArguments {
    @Option(help: "The hook's secret (whsec_…, or the literal secret for X-Hub-Signature-256).") var secret: String?
    @Option(help: "The hook's Ed25519 public key (whpk_…) for v1a signatures.") var publicKey: String?
    @Option(help: "Accepted clock difference for webhook-timestamp, in seconds.") var tolerance: Int = 300

    func verifier() throws -> WebhookVerifier {
        guard secret != nil || publicKey != nil else { throw ValidationError("pass --secret or --public-key") }
        var key: WebhookPublicKey?
        if let publicKey {
            guard let parsed = WebhookPublicKey(publicKey) else { throw ValidationError("--public-key must look like whpk_<base64>") }
            key = parsed
        }
        return WebhookVerifier(secret: secret.map(WebhookSecret.init), publicKey: key, tolerance: .seconds(tolerance))
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a saved delivery's signatures; exit 0 when valid, 1 with the reason when not.",
        discussion: """
            The headers file holds one `Name: value` per line (a request line such as `POST /hook HTTP/1.1` is
            skipped). The body is read from --body, or from standard input.
            """
    )

    @OptionGroup var keys: VerificationKeyOptions
    @Option(help: "File with the request's headers, one `Name: value` per line.") var headers: String
    @Option(help: "File with the exact request body (default: standard input).") var body: String?
    @Option(help: "Verify as if the time were this Unix timestamp (for old saved requests).") var now: Int64?

    func run() async throws {
        let verifier = try keys.verifier()
        guard let headerText = FileManager.default.contents(atPath: headers).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw ValidationError("cannot read \(headers)")
        }
        let bodyData: Data
        if let body {
            guard let data = FileManager.default.contents(atPath: body) else { throw ValidationError("cannot read \(body)") }
            bodyData = data
        } else {
            bodyData = FileHandle.standardInput.readDataToEndOfFile()
        }
        let lookup = HeaderLookup(Self.parseHeaders(headerText))
        do {
            let schemes = try verifier.verify(headers: lookup, body: Array(bodyData), now: now ?? Int64(Date().timeIntervalSince1970))
            print("valid: \(schemes.map(\.rawValue).joined(separator: ", "))")
        } catch {
            print("invalid: \(error)")
            throw ExitCode(1)
        }
    }

    static func parseHeaders(_ text: String) -> [(String, String)] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            guard let colon = line.firstIndex(of: ":"), !line.hasPrefix(" ") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            guard !name.contains(" ") else { return nil }
            return (name, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }
}
