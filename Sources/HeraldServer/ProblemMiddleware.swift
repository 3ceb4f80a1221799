import HeraldCore
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Turns every error that is not already a ``Problem`` into one, so API clients always get
/// `application/problem+json`: Hummingbird's HTTP errors keep their status, anything else is a 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Whether `error` says the client's request ended early: its connection closed mid-body.
    static func isClientAbort(_ error: any Error) -> Bool {
        switch error {
        case HTTPParserError.invalidEOFState: true
        case ChannelError.ioOnClosedChannel, ChannelError.eof, ChannelError.alreadyClosed: true
        default: false
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let redirect as WebRedirect {
            throw redirect
        } catch let couch as CouchError {
            throw couch  // the /db/ API's own shape
        } catch let error as HTTPError {
            let status = error.status
            throw Problem(
                status: status, type: "/problems/http", title: status.reasonPhrase,
                detail: error.body ?? (status == .notFound ? "No route for \(request.method) \(request.uri.path)." : status.reasonPhrase)
            )
        } catch let error as any StoreConditionReporting where error.storeCondition != nil {
            context.logger.error("request failed: the database cannot take it now", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            // A really full disk refuses writes as the free-space guard does: counted the same way.
            if error.storeCondition == .full && request.uri.path.hasPrefix("/api/events") { HeraldServices.refusedEvents.increment() }
            throw Problem.storeCondition(error.storeCondition!)
        } catch let error as any HTTPResponseError {
            throw Problem(status: error.status, type: "/problems/http", title: error.status.reasonPhrase, detail: error.status.reasonPhrase)
        } catch where Self.isClientAbort(error) {
            // The client left (or was cut for sending too slowly) before its request was whole: its
            // doing, not a server error; nobody reads the answer.
            context.logger.notice("request abandoned by the client", metadata: ["path": "\(request.uri.path)"])
            throw Problem(status: .badRequest, type: "/problems/incomplete-request", title: "Incomplete request", detail: "The request ended before its body was complete.")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw Problem(status: .internalServerError, type: "/problems/internal", title: "Internal server error", detail: "The request failed; it was logged.")
        }
    }
}
