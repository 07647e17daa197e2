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
    /// The name of a link to podman-bootc that libvirt runs as the virtiofsd of root's VMs
    /// (its `<binary path>` takes no arguments of ours).
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

    /// The program libvirt (root) will run at every later start of a VM: only one that no one
    /// but root (or the user behind sudo, who may run anything as root already) can replace:
    /// owned so, not group/other-writable, in folders like that.
    static func trustedTool() throws -> String {
        let program = tool
        let advice = "root's VMs with -v run podman-bootc itself as the confinement of libvirt's virtiofsd, at every start; "
            + "run a podman-bootc installed where only root can change it (sudo make install puts it in /usr/local/bin)"
        guard program.hasPrefix("/"), !program.hasSuffix(" (deleted)") else {
            throw UntrustedFolderError(path: program, reason: "is not this program's path on disk", advice: advice)
        }
        let folder = URL(fileURLWithPath: program).deletingLastPathComponent().path
        let owners = TrustedOwners.caller()
        _ = try TrustedFolder.open(folder, owners: owners, othersMayAdd: true, advice: advice)
        var info = stat()
        guard lstat(program, &info) == 0, info.st_mode & S_IFMT == S_IFREG, owners.uids.contains(info.st_uid),
              info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            throw UntrustedFolderError(path: program, reason: "is not a file that only root (or you) may write", advice: advice)
        }
        return program
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

    /// The link libvirt runs as virtiofsd (`folder/podman-bootc-virtiofsd` to this program),
    /// made or pointed anew when this program moved.
    public static func binaryLink(in folder: URL) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let link = folder.appendingPathComponent(linkName).path
        let target = geteuid() == 0 ? try trustedTool() : tool
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target { return link }
        let staging = link + ".\(UUID().uuidString.prefix(8))"
        try FileManager.default.createSymbolicLink(atPath: staging, withDestinationPath: target)
        guard rename(staging, link) == 0 else {
            unlink(staging)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: link])
        }
        return link
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("podman-bootc \(commandName): \(message)\n".utf8))
        exit(127)
    }
}
