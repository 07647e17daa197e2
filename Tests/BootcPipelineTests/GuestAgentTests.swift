// The guest agent's shell script run for real by dash and bash on this host, its virtio-serial
// ports played by pseudo-terminals in raw mode: the host's GuestAgentChannel drives it.

@testable import BootcPipeline
import BootcCore
import Foundation
import Testing

/// A pseudo-terminal pair in raw mode: the agent opens `slavePath`, the test holds `master`.
private struct RawPseudoTerminal {
    let master: Int32
    let slave: Int32
    let slavePath: String

    // <asm-generic/ioctls.h>: Swift does not import these macros (nor posix_openpt).
    private static let getNumber: UInt = 0x8004_5430  // TIOCGPTN
    private static let setLock: UInt = 0x4004_5431  // TIOCSPTLCK

    init() throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, Self.setLock, &unlock) == 0, ioctl(master, Self.getNumber, &number) == 0 else {
            throw CocoaError(.fileNoSuchFile)
        }
        slavePath = "/dev/pts/\(number)"
        // Held open so the terminal keeps its settings while the agent opens and closes it.
        slave = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        var settings = termios()
        tcgetattr(slave, &settings)
        cfmakeraw(&settings)
        tcsetattr(slave, TCSANOW, &settings)
    }
}

@Suite struct GuestAgentTests {
    struct Running {
        let channel: GuestAgentChannel
        let process: Process
        let root: URL
    }

    func startAgent(shell: String) throws -> Running {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)")
        let fm = FileManager.default
        let output = try RawPseudoTerminal(), error = try RawPseudoTerminal()
        for (device, port, terminal) in [("vport1p1", GuestAgentProtocol.outputPort, output), ("vport1p2", GuestAgentProtocol.errorPort, error)] {
            let sys = root.appendingPathComponent("sys/class/virtio-ports/\(device)")
            try fm.createDirectory(at: sys, withIntermediateDirectories: true)
            try Data("\(port)\n".utf8).write(to: sys.appendingPathComponent("name"))
            try fm.createDirectory(at: root.appendingPathComponent("dev"), withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: root.appendingPathComponent("dev/\(device)").path, withDestinationPath: terminal.slavePath)
        }
        try fm.createDirectory(at: root.appendingPathComponent("run"), withIntermediateDirectories: true)
        let script = root.appendingPathComponent("agent.sh")
        try Data(GuestAgent.script.utf8).write(to: script)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = [script.path, shell, shell, root.path]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let channel = GuestAgentChannel(output: output.master, error: error.master)
        try channel.waitUntilReady(timeout: .seconds(20))
        #expect(!fm.fileExists(atPath: script.path), "the agent removes its script")
        return Running(channel: channel, process: process, root: root)
    }

    func run(_ agent: Running, _ script: String, input: String = "", shell: GuestAgentProtocol.Shell = .login) throws -> (status: Int32, out: String, err: String) {
        var out: [UInt8] = [], err: [UInt8] = []
        let status = try agent.channel.run(script: script, input: input, shell: shell, timeout: .seconds(30),
                                           stdout: { out += $0 }, stderr: { err += $0 })
        return (status, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test(arguments: ["/bin/sh", "/bin/bash"])
    func servesRequestsUntilTheHostLetsGo(shell: String) throws {
        let agent = try startAgent(shell: shell)
        defer { try? FileManager.default.removeItem(at: agent.root) }

        let mixed = try run(agent, "echo out; echo err >&2; printf 'no newline'; exit 7")
        #expect(mixed.status == 7)
        #expect(mixed.out == "out\nno newline")
        #expect(mixed.err == "err\n")

        let fed = try run(agent, "while IFS= read -r l; do echo \"<$l>\"; done", input: "a\n  b c\n\n")
        #expect(fed.status == 0)
        #expect(fed.out == "<a>\n<  b c>\n<>\n")

        // Quotes, $ and several lines reach the shell as written; the command runs from root's home.
        let quoted = try run(agent, "x='it'\"'\"'s $HOME'\necho \"$x\"\necho \"$USER\"")
        #expect(quoted.out == "it's $HOME\nroot\n")

        // Much output, both streams at once: neither blocks the other.
        let big = try run(agent, "i=0; while [ $i -lt 2000 ]; do echo \"line $i of the output stream\"; echo \"e$i\" >&2; i=$((i + 1)); done")
        #expect(big.out.split(separator: "\n").count == 2000)
        #expect(big.err.split(separator: "\n").count == 2000)

        // The agent's own shell knows the identity functions.
        let own = try run(agent, "command -v podman_bootc_identity >/dev/null && command -v podman_bootc_login_wait >/dev/null", shell: .agent)
        #expect(own.status == 0)

        // A command cannot see the ports (its stdin is the request's input).
        let fds = try run(agent, "[ -e /proc/self/fd/3 ] && echo 3; [ -e /proc/self/fd/4 ] && echo 4; cat")
        #expect(fds.out == "")

        agent.channel.close()
        let deadline = Date().addingTimeInterval(20)
        while agent.process.isRunning && Date() < deadline { usleep(20_000) }
        #expect(!agent.process.isRunning, "the agent exits once the host closes its ports")
        #expect(!FileManager.default.fileExists(atPath: agent.root.appendingPathComponent("run/podman-bootc-agent").path))
    }

    @Test func aRequestWithoutAnswerTimesOut() throws {
        let agent = try startAgent(shell: "/bin/sh")
        defer {
            agent.channel.close()
            try? FileManager.default.removeItem(at: agent.root)
        }
        #expect(throws: GuestAgentError.self) {
            try agent.channel.run(script: "sleep 5", input: "", shell: .login, timeout: .milliseconds(300), stdout: { _ in }, stderr: { _ in })
        }
    }

    /// A hostile guest on the other end of the ports (socket pairs here): one that never
    /// stops writing still meets the deadline, one that writes the request's nonce and then an
    /// end line that never ends is refused, and neither makes the host hold its bytes.
    @Test(arguments: [false, true])
    func aGuestThatNeverStopsWritingCannotHoldTheHost(endsWithTheNonce: Bool) throws {
        var output: [Int32] = [0, 0], error: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &output) == 0)
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &error) == 0)
        let guestOut = output[1], guestErr = error[1]
        let channel = GuestAgentChannel(output: output[0], error: error[0])
        let guest = Thread {
            var header = [UInt8](repeating: 0, count: 256)
            let n = read(guestOut, &header, header.count)
            let nonce = n > 32 ? Array(header[0..<32]) : []
            let opening = endsWithTheNonce ? Array("\n".utf8) + nonce + Array(" ".utf8) : []
            _ = opening.withUnsafeBytes { send(guestOut, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            let flood = [UInt8](repeating: UInt8(ascii: "7"), count: 64 * 1024)
            while flood.withUnsafeBytes({ send(guestOut, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 {}
            close(guestOut)
            close(guestErr)
        }
        guest.start()
        defer { channel.close() }
        let started = ContinuousClock.now
        var kept = 0
        #expect(throws: GuestAgentError.self) {
            try channel.run(script: "true", input: "", shell: .login, timeout: .milliseconds(500),
                            stdout: { kept += $0.count }, stderr: { _ in })
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        if endsWithTheNonce { #expect(kept == 0, "the end line's bytes are not output") }
    }

    @Test func socketPathsComeFromTheLiveXML() {
        let xml = """
            <devices>
              <channel type='unix'>
                <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-3-x/\(GuestAgentProtocol.outputPort)'/>
                <target type='virtio' name='\(GuestAgentProtocol.outputPort)' state='connected'/>
              </channel>
              <channel type='unix'>
                <source mode='bind' path='/tmp/a&amp;b'/>
                <target type='virtio' name='\(GuestAgentProtocol.errorPort)'/>
              </channel>
            </devices>
            """
        #expect(GuestAgentChannel.socketPath(for: GuestAgentProtocol.outputPort, inLiveXML: xml)
                == "/var/lib/libvirt/qemu/channel/target/domain-3-x/\(GuestAgentProtocol.outputPort)")
        #expect(GuestAgentChannel.socketPath(for: GuestAgentProtocol.errorPort, inLiveXML: xml) == "/tmp/a&b")
        #expect(GuestAgentChannel.socketPath(for: "org.qemu.guest_agent.0", inLiveXML: xml) == nil)
    }
}
