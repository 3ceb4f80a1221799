import Foundation
import HeraldCore
import Testing

/// What a transform may make of a delivery's body.
@Suite struct HookScriptsTests {
    @Test func aTransformMakesAnObjectOrAnArrayOfAtMostWhatAnEventMayCarry() throws {
        #expect(try HookScripts.transformedBody(type: "object", json: #"{"a":1}"#).get() == #"{"a":1}"#)
        #expect(throws: TransformError.self) { try HookScripts.transformedBody(type: "string", json: #""a""#).get() }
        let fits = "[\"" + String(repeating: "x", count: HookScripts.maxTransformedBytes - 4) + "\"]"
        #expect(try HookScripts.transformedBody(type: "array", json: fits).get().utf8.count == HookScripts.maxTransformedBytes)
        let large = "[\"" + String(repeating: "x", count: 2 << 20) + "\"]"
        #expect(throws: TransformError.self) { try HookScripts.transformedBody(type: "array", json: large).get() }
        if case .failure(let error) = HookScripts.transformedBody(type: "array", json: large) {
            #expect(error.description.contains("more than the 256 KiB a delivery may carry"))
        }
    }
}
