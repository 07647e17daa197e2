// How `-- COMMAND...` words become the SSH exec command line.

import BootcCore
import Testing

@Suite struct RemoteCommandTests {
    @Test func oneWordIsAShellCommandLine() {
        #expect(RemoteCommand.commandLine(for: ["cat /etc/os-release | head -1"]) == "cat /etc/os-release | head -1")
    }

    @Test func severalWordsKeepTheirBoundaries() {
        #expect(RemoteCommand.commandLine(for: ["sh", "-c", "exit 7"]) == "sh -c 'exit 7'")
        #expect(RemoteCommand.commandLine(for: ["echo", "it's", "", "$HOME"]) == #"echo 'it'\''s' '' '$HOME'"#)
    }

    @Test func plainWordsStayUnquoted() {
        #expect(RemoteCommand.shellQuoted("/usr/bin/true") == "/usr/bin/true")
        #expect(RemoteCommand.shellQuoted("a;b") == "'a;b'")
    }
}

@Suite struct PortForwardTests {
    @Test func defaultsToLoopback() {
        #expect(PortForward(parsing: "8080:80") == PortForward(hostAddress: "127.0.0.1", hostPort: 8080, guestPort: 80))
        #expect(PortForward(parsing: "8080:80")?.hostfwd == "tcp:127.0.0.1:8080-:80")
    }

    @Test func explicitAddressAndProtocol() {
        #expect(PortForward(parsing: "0.0.0.0:5353:53/udp")?.hostfwd == "udp:0.0.0.0:5353-:53")
    }

    @Test(arguments: ["80", "a:80", "8080:0", "1.2.3:80:80", "8080:80/sctp", "::1:80:80", "localhost:80:80", "8080:80,hostfwd=tcp::22-:22"])
    func rejects(spec: String) {
        #expect(PortForward(parsing: spec) == nil)
    }
}
