import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Calls a running server's API for the commands that need one (`emit`, `replay`): a connection is
/// given a few seconds, and a server that cannot be reached is one clear line, not a stack of
/// client errors after half a minute.
struct ServerAPI {
    let url: String
    let token: String

    /// How long to wait for the server to accept a connection.
    static let connectTimeout: TimeAmount = .seconds(3)

    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = connectTimeout
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Sends the request; returns the status and the body's text.
    func call(_ method: HTTPMethod, _ path: String, body: String?) async throws -> (status: Int, text: String) {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await Self.client.execute(request, timeout: .seconds(30))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        } catch {
            throw Unreachable(url: url, reason: Self.describe(error))
        }
    }

    /// A few words for why the request failed.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if error == .connectTimeout { return "no answer within \(connectTimeout.nanoseconds / 1_000_000_000) s" }
            if error == .deadlineExceeded || error == .readTimeout { return "the server did not answer in time" }
        }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return "connection refused" }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first { return describe(first.error) }
        return String(describing: error)
    }

    struct Unreachable: Error, CustomStringConvertible {
        var url: String
        var reason: String
        var description: String { "cannot reach the Herald server at \(url) (\(reason)); is `herald serve` running there? Set --url or HERALD_URL." }
    }
}
