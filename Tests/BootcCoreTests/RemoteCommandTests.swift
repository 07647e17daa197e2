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
