// The framing between podman-bootc and its guest agent (a shell loop the warm-start template
// runs on two virtio-serial ports). A request is one header line "NONCE SCRIPTBYTES INPUTBYTES"
// followed by the script and its stdin. The script's stdout comes back on the first port and
// its stderr on the second, each ended by a line holding the request's random nonce (on the
// first port followed by the exit status): no byte of output is escaped or reframed, so the
// guest needs nothing but a POSIX shell and `head`.

import Foundation

package enum GuestAgentProtocol {
    /// The virtio-serial port names (the guest finds its ports by these names).
    package static let outputPort = "org.podman-bootc.agent.out"
    package static let errorPort = "org.podman-bootc.agent.err"
    /// What the agent writes on the output port once it listens.
    package static let readyWord = "podman-bootc-agent-ready"
    package static var readyLine: String { readyWord + "\n" }

    /// A fresh nonce: 32 lowercase hex digits (the agent accepts nothing else).
    package static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", generator.next() as UInt8) }.joined()
    }

    /// Who runs a request's script: the agent's own shell (its functions defined), or root's
    /// login shell (a user's command, as over SSH).
    package enum Shell: String, Sendable {
        case agent, login
    }

    /// A request: "NONCE SCRIPTLINES INPUTLINES SHELL", then the lines of each. The agent reads
    /// lines with the shell's `read`, so both are text: no NUL, and each ends with a newline.
    package static func request(nonce: String, script: String, input: String, shell: Shell) throws -> Data {
        let scriptLines = try lines(script), inputLines = try lines(input)
        let text = "\(nonce) \(scriptLines.count) \(inputLines.count) \(shell.rawValue)\n"
            + (scriptLines + inputLines).map { $0 + "\n" }.joined()
        return Data(text.utf8)
    }

    private static func lines(_ text: String) throws -> [String] {
        guard !text.contains("\0") else { throw GuestAgentRequestError() }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// The guest wrote what its agent never writes.
package struct GuestAgentStreamError: Error, CustomStringConvertible {
    package var reason: String
    package var description: String { "the agent's answer is malformed: \(reason)" }
}

package struct GuestAgentRequestError: Error, CustomStringConvertible {
    package var description: String { "a command for the guest agent cannot hold a NUL byte" }
}

/// Splits one port's byte stream into the command's output and the end line
/// "\nNONCE[ STATUS]\n" the agent writes after it. Bytes that may begin the end line are held
/// back until they are known not to; an end line longer than any the agent writes is refused
/// (the guest cannot make the host hold bytes without bound).
package struct GuestAgentStreamEnd: Sendable {
    /// The longest text after the nonce on a real end line (" -2147483648").
    package static let longestTrailer = 32
    private let marker: [UInt8]
    private var held: [UInt8] = []
    /// The text after the nonce on the end line ("" on the error port), once it arrived.
    package private(set) var trailer: String?

    package init(nonce: String) {
        marker = Array("\n\(nonce)".utf8)
    }

    package var finished: Bool { trailer != nil }

    /// The exit status carried by the output port's end line.
    package var status: Int32? { trailer.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) } }

    /// Takes received bytes; returns those that belong to the command's output.
    package mutating func feed<Bytes: Collection>(_ bytes: Bytes) throws -> [UInt8] where Bytes.Element == UInt8 {
        guard trailer == nil else { return [] }
        held.append(contentsOf: bytes)
        if let start = Self.find(marker, in: held) {
            let afterMarker = start + marker.count
            guard let lineEnd = held[afterMarker...].firstIndex(of: UInt8(ascii: "\n")) else {
                guard held.count - afterMarker <= Self.longestTrailer else {
                    throw GuestAgentStreamError(reason: "an end line of more than \(Self.longestTrailer) bytes")
                }
                let output = Array(held[..<start])
                held.removeFirst(start)
                return output
            }
            guard lineEnd - afterMarker <= Self.longestTrailer else {
                throw GuestAgentStreamError(reason: "an end line of more than \(Self.longestTrailer) bytes")
            }
            trailer = String(decoding: held[afterMarker..<lineEnd], as: UTF8.self)
            let output = Array(held[..<start])
            held = []
            return output
        }
        // Keep only a suffix that is a prefix of the marker.
        var keep = min(held.count, marker.count - 1)
        while keep > 0 && !held.suffix(keep).elementsEqual(marker.prefix(keep)) { keep -= 1 }
        let output = Array(held.dropLast(keep))
        held.removeFirst(held.count - keep)
        return output
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return start }
        }
        return nil
    }
}
