import AsyncHTTPClient
import Foundation
import HeraldCore
import NIOCore
import Testing

@testable import HeraldDelivery

/// Every failure of an attempt gets a class the delivery log and the retry policy understand.
@Suite struct ErrorClassificationTests {
    @Test(arguments: [
        (HTTPClientError.deadlineExceeded, ErrorClass.timeout), (.readTimeout, .timeout), (.connectTimeout, .connect),
        (.tlsHandshakeTimeout, .tls), (.remoteConnectionClosed, .http), (.invalidURL, .refused), (.emptyHost, .refused),
    ])
    func clientErrors(_ error: HTTPClientError, _ expected: ErrorClass) {
        #expect(DeliverySender.classify(error).0 == expected)
    }

    @Test func aRefusedSocketIsAConnectError() {
        #expect(DeliverySender.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect")).0 == .connect)
        #expect(DeliverySender.classify(ChannelError.ioOnClosedChannel).0 == .connect)
    }

    @Test func anythingElseKeepsItsDescription() {
        struct Strange: Error, CustomStringConvertible { var description: String { "strange failure" } }
        let (errorClass, message) = DeliverySender.classify(Strange())
        #expect(errorClass == .other && message == "strange failure")
    }
}
