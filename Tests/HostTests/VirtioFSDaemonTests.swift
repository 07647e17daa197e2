// How virtiofsd is started for a user's VM: detached, confined, and with paths only ever as
// arguments (never inside the constant shell scripts).

import Foundation
@testable import Host
import Testing

@Suite struct VirtioFSDaemonTests {
    @Test func aUsersDaemonRunsDetachedInThePodmanNamespaceWithPathsAsArguments() {
        let hostile = "/srv/$(reboot);x,sandbox=none"
        let argv = VirtioFSDaemon.launchArguments(binary: "/usr/lib/qemu/virtiofsd", socket: "/s/fs0.sock", folder: hostile,
                                                   log: "/s/log'x", asRoot: false)
        #expect(Array(argv.prefix(2)) == ["sh", "-c"])
        #expect(argv.contains("setsid") == false && argv[2].contains("setsid -f"), "detached in its own session")
        #expect(argv.contains("podman") && argv.contains("unshare") && argv.contains("--mount"))
        // The scripts are constants; the paths are separate words.
        for script in argv.indices.filter({ $0 > 0 && argv[$0 - 1] == "-c" }).map({ argv[$0] }) {
            #expect(!script.contains("/srv") && !script.contains("/s/"), "\(script)")
        }
        #expect(argv.contains("/s/log'x"))
        #expect(argv.contains("source=/srv/$(reboot);x\\,sandbox=none"), "a comma cannot start another option: \(argv)")
        #expect(argv.contains("sandbox=chroot"))
    }

    @Test func rootNeedsNoNamespaceAndTheRustDaemonGetsItsOwnOptions() {
        let argv = VirtioFSDaemon.launchArguments(binary: "/usr/libexec/virtiofsd", socket: "/s/fs0.sock", folder: "/srv/a,b",
                                                   log: "/s/log", asRoot: true)
        #expect(!argv.contains("podman"))
        #expect(argv.suffix(5) == ["/usr/libexec/virtiofsd", "--socket-path=/s/fs0.sock", "--shared-dir=/srv/a,b", "--sandbox=chroot", "--cache=auto"])
    }

    @Test func waitingForASocketThatNeverComesEnds() async {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("none-\(UUID().uuidString).sock").path
        #expect(await VirtioFSDaemon.waitForSocket(path, timeout: .milliseconds(100)) == false)
    }
}
