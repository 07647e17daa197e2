// The interactive shell in a real terminal (tmux): prompt, a typed command, exit status,
// terminal restored, and the VM still running afterwards (no --rm); then the serial console
// of that VM: a login prompt, Ctrl-] detaches, the terminal is restored.

import Foundation
import Testing

extension EndToEnd {
@Suite struct InteractiveShellTests {
    @Test func shellInATerminal() async throws {
        let session = "podman-bootc-e2e-\(UUID().uuidString.prefix(8))"
        let name = "e2e-shell-\(UUID().uuidString.prefix(6).lowercased())"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(session)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func cleanUp() async {
            _ = try? await Harness.runDetached("/usr/bin/tmux", ["kill-session", "-t", session])
            let removed = try? await Harness.podmanBootc(["rm", "-f", name])
            #expect(removed?.status == 0, "rm -f \(name): \(removed?.stderr ?? "")")
            try? FileManager.default.removeItem(at: dir)
        }
        // The pane's shell records the terminal settings before and after, and our exit status.
        let script = """
            stty -g > \(dir.path)/before
            \(Harness.binary) run --name \(name) \(Harness.demoImage)
            echo "EXIT:$?" > \(dir.path)/status
            stty -g > \(dir.path)/after
            \(Harness.binary) console \(name)
            echo "CONSOLE:$?" > \(dir.path)/console-status
            stty -g > \(dir.path)/after-console
            sleep 600
            """
        try script.write(to: dir.appendingPathComponent("pane.sh"), atomically: true, encoding: .utf8)
        let started = try await Harness.runDetached("/usr/bin/tmux", ["new-session", "-d", "-s", session, "-x", "120", "-y", "40", "sh \(dir.path)/pane.sh"])
        #expect(started == 0)

        func screen() async -> String { (try? await Harness.run("/usr/bin/tmux", ["capture-pane", "-p", "-t", session]).stdout) ?? "" }
        let prompted = await Harness.waitUntil(timeout: 300) { await screen().contains("root@\(name)") }
        let promptScreen = await screen()
        #expect(prompted, "no prompt: \(promptScreen)")

        try await Harness.run("/usr/bin/tmux", ["send-keys", "-t", session, "echo hello-$((6*7)) $(tput cols)", "Enter"])
        let ran = await Harness.waitUntil(timeout: 30) { await screen().contains("hello-42 120") }
        let ranScreen = await screen()
        #expect(ran, "typed command did not run: \(ranScreen)")

        try await Harness.run("/usr/bin/tmux", ["send-keys", "-t", session, "exit 3", "Enter"])
        let statusFile = dir.appendingPathComponent("status")
        func complete(_ url: URL) -> Bool { ((try? String(contentsOf: url, encoding: .utf8)) ?? "").hasSuffix("\n") }
        let exited = await Harness.waitUntil(timeout: 30) { complete(statusFile) }
        #expect(exited)
        let recorded = await Harness.waitUntil(timeout: 5) { complete(dir.appendingPathComponent("after")) }
        #expect(recorded)
        #expect(try String(contentsOf: statusFile, encoding: .utf8) == "EXIT:3\n")
        let before = try String(contentsOf: dir.appendingPathComponent("before"), encoding: .utf8)
        let after = try String(contentsOf: dir.appendingPathComponent("after"), encoding: .utf8)
        #expect(before == after, "terminal settings not restored")

        // Without --rm the VM outlives the session.
        let state = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "domstate", name]).stdout
        #expect(state.contains("running"))

        // The pane is now attached to the VM's serial console: Enter brings up a getty prompt.
        let attached = await Harness.waitUntil(timeout: 30) { await screen().contains("Connected to the console of \(name)") }
        let attachScreen = await screen()
        #expect(attached, "console did not attach: \(attachScreen)")
        try await Harness.run("/usr/bin/tmux", ["send-keys", "-t", session, "Enter"])
        let login = await Harness.waitUntil(timeout: 30) { await screen().contains("\(name) login:") }
        let loginScreen = await screen()
        #expect(login, "no login prompt on the console: \(loginScreen)")
        try await Harness.run("/usr/bin/tmux", ["send-keys", "-t", session, "C-]"])
        let consoleStatus = dir.appendingPathComponent("console-status")
        // The shell creates each file before writing it: wait for its whole line.
        let detached = await Harness.waitUntil(timeout: 30) { complete(dir.appendingPathComponent("after-console")) }
        let detachScreen = await screen()
        #expect(detached, "Ctrl-] did not detach: \(detachScreen)")
        #expect((try? String(contentsOf: consoleStatus, encoding: .utf8)) == "CONSOLE:0\n")
        let afterConsole = (try? String(contentsOf: dir.appendingPathComponent("after-console"), encoding: .utf8)) ?? ""
        #expect(before == afterConsole, "terminal settings not restored after the console")
        let stillRunning = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "domstate", name]).stdout
        #expect(stillRunning.contains("running"), "detaching leaves the VM running")
        await cleanUp()
    }
}
}
