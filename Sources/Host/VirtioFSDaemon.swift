// virtiofsd for a user's VM. libvirt 9.0 starts virtiofsd only for root's domains
// (qemu:///system); for qemu:///session podman-bootc starts it itself, inside the user's
// podman user namespace (where it holds the privileges it asks for, and the files it writes
// belong to the user), and QEMU attaches to it through a vhost-user socket in the VM folder.
// virtiofsd serves one connection and exits when QEMU goes away.

import Foundation

public enum VirtioFSDaemon {
    /// Where distributions install virtiofsd: QEMU's own (C, Debian 12) or the Rust one.
    public static let candidates = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"]

    public static func binary() -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The argv that starts virtiofsd detached (its own session, output appended to `log`),
    /// serving `folder` on `socket`. For a user it runs in `podman unshare` with a private
    /// /run (QEMU's virtiofsd keeps a lock file in /run/virtiofsd, which only root may make).
    /// The scripts are constants: paths travel as their arguments, never inside them.
    public static func launchArguments(binary: String, socket: String, folder: String, log: String, asRoot: Bool) -> [String] {
        let daemon: [String]
        if binary.hasPrefix("/usr/lib/qemu/") {
            // fuse option syntax: a comma in the path would start another option.
            daemon = [binary, "--socket-path=\(socket)", "-o", "source=\(folder.replacingOccurrences(of: ",", with: "\\,"))",
                      "-o", "sandbox=chroot", "-o", "cache=auto"]
        } else {
            daemon = [binary, "--socket-path=\(socket)", "--shared-dir=\(folder)", "--sandbox=chroot", "--cache=auto"]
        }
        // Without the capabilities and set-ID modes guest root must not use on the host.
        let wrapped = VirtiofsdConfinement.wrapped(daemon, tool: VirtiofsdConfinement.tool)
        let confined = asRoot ? wrapped
            : ["podman", "unshare", "unshare", "--mount", "--", "sh", "-c", "mount -t tmpfs tmpfs /run && exec \"$0\" \"$@\""] + wrapped
        return ["sh", "-c", "log=$1; shift; exec setsid -f \"$@\" </dev/null >>\"$log\" 2>&1", "sh", log] + confined
    }

    /// Waits until the daemon listens on `socket` (polls every 20 ms); false after `timeout`.
    public static func waitForSocket(_ socket: String, timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var info = stat()
            if lstat(socket, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Stops the daemons of this user serving `socket` (found by their command line): the
    /// ones no QEMU attached to wait forever otherwise.
    public static func stop(socket: String) {
        let argument = "--socket-path=\(socket)"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains(argument) && arguments.first.map({ candidates.contains($0) }) == true {
                kill(pid, SIGTERM)
            }
        }
        unlink(socket)
    }
}
