import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOPosix

/// Where the engine's attempts go: over HTTP to the hook's URL (``DeliverySender``), or to a
/// scripted receiver in the engine's unit tests. Never throws: every failure is an outcome.
public protocol DeliveryTransport: Sendable {
    /// Makes one attempt of `delivery` with `request` (signed, its headers set) and reports what happened.
    /// - Parameter tls: the hook's own TLS configuration (a client certificate), if any.
    func send(_ delivery: ClaimedDelivery, request: DeliveryRequest, tls: TLSConfiguration?, startedAt: Date) async -> SentAttempt
}

/// One attempt made: its log row and what it means for the delivery.
public struct SentAttempt: Sendable {
    public var attempt: Attempt
    public var outcome: AttemptOutcome

    public init(attempt: Attempt, outcome: AttemptOutcome) {
        self.attempt = attempt
        self.outcome = outcome
    }

    /// The attempt's log row before anything was sent: the request as it goes out.
    public static func logRow(of delivery: ClaimedDelivery, request: DeliveryRequest, startedAt: Date) -> Attempt {
        Attempt(
            deliveryID: delivery.deliveryID, number: delivery.previousAttempts + 1, trigger: delivery.trigger, startedAt: startedAt,
            durationMs: 0, url: request.url, requestHeaders: request.loggedHeaders, requestBody: request.body, responseStatus: nil,
            responseHeaders: [], responseBody: nil, errorClass: nil, errorMessage: nil
        )
    }
}

/// Makes one HTTP attempt for a claimed delivery and reports what happened. Never throws: every
/// failure becomes an ``AttemptOutcome`` with an ``ErrorClass``.
struct DeliverySender: DeliveryTransport {
    let clients: GuardedClients
    let responseBodyLimit: Int

    typealias Sent = SentAttempt

    func send(_ delivery: ClaimedDelivery, request: DeliveryRequest, tls: TLSConfiguration?, startedAt: Date) async -> Sent {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = SentAttempt.logRow(of: delivery, request: request, startedAt: startedAt)
        func finish(_ outcome: AttemptOutcome) -> Sent {
            let elapsed = clock.now - start
            attempt.durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            if case .error(let errorClass, let message) = outcome {
                attempt.errorClass = errorClass
                attempt.errorMessage = message
            }
            return Sent(attempt: attempt, outcome: outcome)
        }

        var httpRequest = HTTPClientRequest(url: request.url)
        httpRequest.method = .POST
        for header in request.headers { httpRequest.headers.add(name: header.name, value: header.value) }
        httpRequest.body = .bytes(ByteBuffer(string: request.body))
        httpRequest.tlsConfiguration = tls
        let timeout = TimeAmount.seconds(Int64(max(1, delivery.hook.timeoutSeconds)))
        let deadline = NIODeadline.now() + timeout
        do {
            return try await clients.withClient(for: request.url, insecure: delivery.hook.insecureSSL) { client in
                let response = try await client.execute(httpRequest, deadline: deadline)
                attempt.responseStatus = Int(response.status.code)
                attempt.responseHeaders = response.headers.map { HTTPHeaderField($0.name, $0.value) }
                var captured = ByteBuffer()
                var truncated = false
                for try await var chunk in response.body {
                    if NIODeadline.now() > deadline { throw HTTPClientError.deadlineExceeded }
                    let room = responseBodyLimit - captured.readableBytes
                    if chunk.readableBytes > room {
                        // Past the cap the rest is not read: the connection is dropped rather than
                        // drained (a receiver that sends gigabytes costs nothing more).
                        truncated = true
                        if room > 0, let slice = chunk.readSlice(length: room) { captured.writeImmutableBuffer(slice) }
                        break
                    } else {
                        captured.writeBuffer(&chunk)
                    }
                }
                var body = String(decoding: captured.readableBytesView, as: UTF8.self)
                // A NUL is no text either store keeps (SQLite's ends there, PostgreSQL refuses the
                // row): shown as U+FFFD, as other bytes that are not UTF-8 already are.
                if body.utf8.contains(0) { body = body.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") }
                if truncated { body += "\n… (truncated at \(responseBodyLimit) bytes)" }
                attempt.responseBody = body
                let retryAfter = response.headers.first(name: "Retry-After").flatMap { RetryAfter.parse($0, now: Date()) }
                return finish(.response(status: Int(response.status.code), retryAfter: retryAfter))
            }
        } catch {
            let (errorClass, message) = Self.classify(error)
            return finish(.error(errorClass, message: message))
        }
    }

    static func classify(_ error: any Error) -> (ErrorClass, String) {
        if let refused = error as? TargetRefused { return (.refused, refused.reason) }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return (.timeout, "timed out waiting for the receiver")
            case .connectTimeout: return (.connect, "connect timed out")
            case .tlsHandshakeTimeout: return (.tls, "TLS handshake timed out")
            case .remoteConnectionClosed: return (.http, "the receiver closed the connection")
            case .invalidURL, .emptyHost, .emptyScheme: return (.refused, "invalid URL")
            default: return (.other, String(describing: error))
            }
        }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError { return (.tls, String(describing: error)) }
        if let error = error as? NIOConnectionError {
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                return (.dns, "the host name does not resolve")
            }
            return (.connect, "could not connect: \(error.connectionErrors.map { String(describing: $0.error) }.joined(separator: "; "))")
        }
        if let error = error as? IOError { return (.connect, error.description) }
        if error is ChannelError { return (.connect, String(describing: error)) }
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("connection refused") { return (.connect, "connection refused") }
        return (.other, text)
    }
}
