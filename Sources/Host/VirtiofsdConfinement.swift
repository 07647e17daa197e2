// virtiofsd serves a -v folder to a guest whose root podman-bootc does not trust, and it acts
// on the host as root (libvirt's, for root's VMs) or as the user. Guest root must not leave
// device nodes, file capabilities or set-ID files in the host folder: virtiofsd runs without
// CAP_MKNOD, CAP_SETFCAP and CAP_FSETID, and under a seccomp filter that refuses modes with
// S_ISUID or S_ISGID (its owner may set those bits without any capability). podman-bootc
// re-executes itself as the wrapper: `podman-bootc confined-virtiofsd VIRTIOFSD ARGS...`.

import CSeccomp
import Foundation

public enum VirtiofsdConfinement {
    /// The hidden first argument that makes podman-bootc the wrapper (checked before anything
    /// else runs, so virtiofsd inherits the caller's umask and environment untouched).
    public static let commandName = "confined-virtiofsd"
    /// The name of podman-bootc's copy that libvirt runs as the virtiofsd of root's VMs (its
    /// `<binary path>` takes no arguments of ours; this name makes the copy the wrapper).
    public static let linkName = "podman-bootc-virtiofsd"

    /// Capabilities virtiofsd would keep that guest root must not use on the host.
    static let droppedCapabilities = "-mknod:-setfcap:-fsetid"

    /// The argv that runs `daemon` (virtiofsd and its arguments) confined, through `tool`.
    public static func wrapped(_ daemon: [String], tool: String) -> [String] {
        [tool, commandName] + daemon
    }

    /// This program, as the wrapper to name in argv and in libvirt's `<binary path>`.
    public static var tool: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The option that drops the capabilities, in the syntax of this virtiofsd (QEMU's C one
    /// takes FUSE options; the Rust one a flag).
    static func capabilityArguments(for binary: String) -> [String] {
        binary.hasPrefix("/usr/lib/qemu/") ? ["-o", "modcaps=\(droppedCapabilities)"] : ["--modcaps=\(droppedCapabilities)"]
    }

    /// Runs as the wrapper when `arguments` (the process's, program name first) ask for it:
    /// installs the filter and executes virtiofsd; never returns then. Returns otherwise.
    public static func runIfAsked(_ arguments: [String]) {
        let binary: String, daemonArguments: ArraySlice<String>
        if let program = arguments.first, URL(fileURLWithPath: program).lastPathComponent == linkName {
            guard let found = VirtioFSDaemon.binary() else { fail("no virtiofsd (looked for \(VirtioFSDaemon.candidates.joined(separator: ", ")))") }
            (binary, daemonArguments) = (found, arguments.dropFirst(1))
        } else if arguments.count >= 3, arguments[1] == commandName {
            (binary, daemonArguments) = (arguments[2], arguments.dropFirst(3))
        } else {
            return
        }
        guard VirtioFSDaemon.candidates.contains(binary) else {
            fail("\(binary) is not a virtiofsd podman-bootc knows (\(VirtioFSDaemon.candidates.joined(separator: ", ")))")
        }
        guard podman_bootc_forbid_setid_modes() == 0 else {
            fail("cannot install the seccomp filter that keeps set-ID files out of shared folders: \(String(cString: strerror(errno)))")
        }
        let argv = [binary] + daemonArguments + capabilityArguments(for: binary)
        var cArguments = argv.map { strdup($0) } + [nil]
        execv(binary, &cArguments)
        fail("cannot run \(binary): \(String(cString: strerror(errno)))")
    }

    /// The wrapper libvirt runs as virtiofsd: a copy of this program in `folder` (root's state),
    /// refreshed when this program changed. A copy, not a link: libvirt runs it at every later
    /// start of the VM, and the program a user ran with sudo may sit where that user (or
    /// another) could replace it, or be gone after an upgrade.
    public static func installWrapper(in folder: URL) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let wrapper = folder.appendingPathComponent(linkName).path
        let program = tool
        var source = stat(), installed = stat()
        guard stat(program, &source) == 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: program]) }
        if lstat(wrapper, &installed) == 0, installed.st_mode & S_IFMT == S_IFREG, installed.st_uid == geteuid(),
           installed.st_size == source.st_size, installed.st_mtim.tv_sec == source.st_mtim.tv_sec,
           installed.st_mtim.tv_nsec == source.st_mtim.tv_nsec {
            return wrapper
        }
        let staging = wrapper + ".\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.copyItem(atPath: program, toPath: staging)
            // The source's time marks which program the copy is (checked above).
            var times = [source.st_atim, source.st_mtim]
            guard chmod(staging, 0o755) == 0, utimensat(AT_FDCWD, staging, &times, AT_SYMLINK_NOFOLLOW) == 0,
                  rename(staging, wrapper) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: wrapper])
            }
        } catch {
            unlink(staging)
            throw error
        }
        return wrapper
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("podman-bootc \(commandName): \(message)\n".utf8))
        exit(127)
    }
}
