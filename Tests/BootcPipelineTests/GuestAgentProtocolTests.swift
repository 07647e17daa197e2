// The guest agent's framing: requests as counted lines, output split from the end line.

import BootcCore
@testable import BootcPipeline
import Foundation
import Testing

@Suite struct GuestAgentProtocolTests {
    private let nonce = "0123456789abcdef0123456789abcdef"

    @Test func requestCountsLinesOfScriptAndInput() throws {
        let request = try GuestAgentProtocol.request(nonce: nonce, script: "echo a\necho b\n", input: "x", shell: .login)
        #expect(String(decoding: request, as: UTF8.self) == "\(nonce) 2 1 login\necho a\necho b\nx\n")
        let empty = try GuestAgentProtocol.request(nonce: nonce, script: "true", input: "", shell: .agent)
        #expect(String(decoding: empty, as: UTF8.self) == "\(nonce) 1 0 agent\ntrue\n")
    }

    @Test func requestKeepsEmptyLines() throws {
        let request = try GuestAgentProtocol.request(nonce: nonce, script: "a\n\n\nb", input: "", shell: .login)
        #expect(String(decoding: request, as: UTF8.self) == "\(nonce) 4 0 login\na\n\n\nb\n")
    }

    @Test func requestRefusesNUL() {
        #expect(throws: GuestAgentRequestError.self) {
            try GuestAgentProtocol.request(nonce: nonce, script: "echo \0", input: "", shell: .login)
        }
    }

    @Test func nonceIsHex() {
        let made = GuestAgentProtocol.makeNonce()
        #expect(made.count == 32)
        #expect(made.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(made != GuestAgentProtocol.makeNonce())
    }

    @Test func endLineInOneChunk() throws {
        var end = GuestAgentStreamEnd(nonce: nonce)
        let output = try end.feed(Array("hello\n\n\(nonce) 3\n".utf8))
        #expect(String(decoding: output, as: UTF8.self) == "hello\n")
        #expect(end.finished)
        #expect(end.status == 3)
    }

    @Test func endLineSplitAnywhere() throws {
        let stream = Array("line one\nline two without newline\n\(nonce) 0\n".utf8)
        for cut in 1..<stream.count {
            var end = GuestAgentStreamEnd(nonce: nonce)
            let output = try end.feed(stream[..<cut]) + end.feed(stream[cut...])
            #expect(String(decoding: output, as: UTF8.self) == "line one\nline two without newline", "cut at \(cut)")
            #expect(end.status == 0)
        }
    }

    @Test func bytesLikeTheMarkerStartAreOutput() throws {
        var end = GuestAgentStreamEnd(nonce: nonce)
        var output = try end.feed(Array("a\n0123".utf8))
        #expect(!end.finished)
        output += try end.feed(Array("x\n".utf8))
        // The last newline may begin the end line: held back until the next bytes tell.
        #expect(String(decoding: output, as: UTF8.self) == "a\n0123x")
        output += try end.feed(Array("\n\(nonce)\n".utf8))
        #expect(String(decoding: output, as: UTF8.self) == "a\n0123x\n")
        #expect(end.finished)
        #expect(end.trailer == "")
        #expect(end.status == nil)
    }

    @Test func byteByByte() throws {
        var end = GuestAgentStreamEnd(nonce: nonce)
        var output: [UInt8] = []
        for byte in Array("\u{0}\u{1}binary\n\n\(nonce) 127\n".utf8) { output += try end.feed([byte]) }
        #expect(output == Array("\u{0}\u{1}binary\n".utf8))
        #expect(end.status == 127)
    }

    /// A guest that writes the nonce and then never ends the line cannot make the host hold
    /// its bytes: more than a real end line's length is refused.
    @Test func anEndLineThatNeverEndsIsRefused() throws {
        var end = GuestAgentStreamEnd(nonce: nonce)
        _ = try end.feed(Array("out\n\(nonce) ".utf8))
        #expect(throws: GuestAgentStreamError.self) {
            for _ in 0..<1000 { _ = try end.feed([UInt8](repeating: UInt8(ascii: "7"), count: 4096)) }
        }
        var whole = GuestAgentStreamEnd(nonce: nonce)
        #expect(throws: GuestAgentStreamError.self) {
            _ = try whole.feed(Array("\n\(nonce) \(String(repeating: "1", count: 100))\n".utf8))
        }
    }

    @Test func guestExitStatusesAreClamped() {
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: 3, signal: nil) == 3)
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: nil, signal: 9) == 137)
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: nil, signal: 2_147_483_647) == 255)
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: nil, signal: -5) == 255)
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: 70_000, signal: nil) == 255)
        #expect(QemuGuestAgentMessages.exitStatus(exitcode: nil, signal: nil) == 255)
    }
}
