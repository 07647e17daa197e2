// dev's writable-/usr step, run for real by sh on this host inside a private mount namespace
// whose /usr is a read-only bind mount (as on an installed bootc system) and whose /run is a
// fresh tmpfs: the transient overlay, a guest's own `bootc usr-overlay` (a stand-in on
// PATH), a /usr that was writable all along, and the answer remembered until reboot.

@testable import BootcPipeline
import Foundation
import Testing

@Suite(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root and unshare"))
struct WritableUsrTests {
    /// Runs `WritableUsr.script` twice (the second answer comes from the marker) in a new mount
    /// namespace; `readOnly` makes /usr a read-only bind mount first; `bootc` puts a stand-in
    /// bootc on PATH that remounts /usr writable. Returns both answers and what writing showed.
    func run(readOnly: Bool, bootc: Bool) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usr-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("unlock.sh")
        try Data(WritableUsr.script.utf8).write(to: script)
        let bin = folder.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        if bootc {
            let fake = bin.appendingPathComponent("bootc")
            try Data("#!/bin/sh\n[ \"$1\" = usr-overlay ] && mount -o remount,bind,rw /usr\n".utf8).write(to: fake)
            chmod(fake.path, 0o755)
        }
        let setup = """
            set -e
            mount -t tmpfs none /run
            \(readOnly ? "mount --bind /usr /usr; mount -o remount,bind,ro /usr" : "")
            export PATH=\(bin.path):$PATH
            first=$(sh \(script.path))
            second=$(sh \(script.path))
            probe=/usr/.podman-bootc-usr-probe-$$
            if touch $probe 2>/dev/null; then rm -f $probe; echo "$first|$second|writable"; else echo "$first|$second|read-only"; fi
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--mount", "--propagation", "private", "sh", "-c", setup]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aReadOnlyUsrGetsATransientOverlay() throws {
        #expect(try run(readOnly: true, bootc: false) == "transient overlay|transient overlay|writable")
    }

    @Test func theGuestsOwnBootcComesFirst() throws {
        #expect(try run(readOnly: true, bootc: true) == "bootc usr-overlay|bootc usr-overlay|writable")
    }

    @Test func aWritableUsrIsLeftAlone() throws {
        #expect(try run(readOnly: false, bootc: true) == "writable|writable|writable")
    }

    @Test func onlyEditsUnderUsrNeedIt() {
        #expect(WritableUsr.touchesUsr([.remove(path: "/usr/share/x")]))
        #expect(WritableUsr.touchesUsr([.folder(path: "/usr", mode: 0o755, uid: 0, gid: 0)]))
        #expect(WritableUsr.touchesUsr([.remove(path: "/bin/x")]), "merged /usr: /bin is a link into it")
        #expect(!WritableUsr.touchesUsr([.remove(path: "/usrx/a"), .symlink(path: "/etc/a", target: "/usr/b")]))
    }
}
