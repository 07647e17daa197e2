// Shared folders of a user's VM: libvirt 9.0 runs virtiofsd only for qemu:///system, so on a
// local qemu:///session podman-bootc starts one per folder itself (Host's VirtioFSDaemon)
// before each start of the domain; QEMU attaches to their sockets in the VM folder.

import BootcCore
import Foundation
import Host

struct SharedFolderDaemons: Sendable {
    let context: PipelineContext

    /// Whether podman-bootc runs the daemons: folders shared, on this machine's session daemon.
    static func needed(for record: VMRecord, uri: String) -> Bool {
        !(record.sharedFolders ?? []).isEmpty && LocalDaemon(uri: uri) == .session
    }

    /// Which of this machine's libvirt daemons a URI names (virtiofsd's confinement depends on
    /// it); nil for another machine's, or a name libvirt alone resolves (an alias).
    enum LocalDaemon: Equatable {
        case system, session

        init?(uri: String) {
            guard let parts = URLComponents(string: uri), ["qemu", "qemu+unix"].contains(parts.scheme ?? ""),
                  (parts.host ?? "").isEmpty else { return nil }
            switch parts.path {
            case "/system": self = .system
            case "/session": self = .session
            default: return nil
            }
        }
    }

    /// The Nth folder's vhost-user socket (a socket address holds at most 107 bytes).
    func sockets(for record: VMRecord) -> [String] {
        (record.sharedFolders ?? []).indices.map {
            context.vms.folder(record.id).appendingPathComponent("fs\($0).sock").path
        }
    }

    /// Starts one virtiofsd per folder and waits until each listens. Daemons of an earlier
    /// start that QEMU never attached to are stopped first.
    func start(for record: VMRecord) async throws {
        let folders = record.sharedFolders ?? []
        guard let binary = VirtioFSDaemon.binary() else {
            throw SharedFolderDaemonError.noVirtiofsd(searched: VirtioFSDaemon.candidates)
        }
        for (index, socket) in sockets(for: record).enumerated() {
            guard socket.utf8.count < 108 else { throw SharedFolderDaemonError.socketPathTooLong(socket) }
            VirtioFSDaemon.stop(socket: socket)
            let log = context.vms.folder(record.id).appendingPathComponent("virtiofsd-\(index).log")
            try await context.runner.check(VirtioFSDaemon.launchArguments(
                binary: binary, socket: socket, folder: folders[index].hostPath, log: log.path, asRoot: geteuid() == 0))
            guard await VirtioFSDaemon.waitForSocket(socket) else {
                stop(for: record)
                let said = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").suffix(3).joined(separator: "; ") ?? ""
                throw SharedFolderDaemonError.didNotStart(folder: folders[index].hostPath, log: log.path, said: said)
            }
        }
    }

    /// Stops the daemons no QEMU attached to (a failed start); attached ones end with QEMU.
    func stop(for record: VMRecord) {
        for socket in sockets(for: record) { VirtioFSDaemon.stop(socket: socket) }
    }
}

enum SharedFolderDaemonError: ToolError {
    case noVirtiofsd(searched: [String])
    case socketPathTooLong(String)
    case unknownDaemon(uri: String)
    case didNotStart(folder: String, log: String, said: String)

    var description: String {
        switch self {
        case .noVirtiofsd(let searched):
            return "-v needs virtiofsd, and none was found (looked for \(searched.joined(separator: ", "))); "
                + "install it (Debian 12: qemu-system-common; Fedora: virtiofsd), or drop -v"
        case .unknownDaemon(let uri):
            return "-v: cannot tell which libvirt daemon \(uri) names (podman-bootc confines the virtiofsd of this machine's "
                + "qemu:///system and qemu:///session); give one of those with --connect, or drop -v"
        case .socketPathTooLong(let path):
            return "-v: the socket path \(path) is longer than a socket address allows (107 bytes); "
                + "set PODMAN_BOOTC_STATE_DIR to a shorter folder"
        case .didNotStart(let folder, let log, let said):
            return "virtiofsd for \(folder) did not start (\(said.isEmpty ? "no output" : said)); its log is \(log). "
                + "It runs in your podman user namespace (podman unshare): check that `podman unshare true` works"
        }
    }
}
