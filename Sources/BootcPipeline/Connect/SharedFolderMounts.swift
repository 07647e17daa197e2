// Mounts a VM's -v folders in the guest once it answers, as root: guests with systemd 254+
// mount them at boot from the fstab.extra credential already; older ones (Debian 12) do not,
// and a mounted folder is left alone. Every value travels on stdin, none in the script.

import BootcCore
import Foundation

enum SharedFolderError: ToolError {
    case mountFailed(vm: String, output: String)

    var description: String {
        switch self {
        case .mountFailed(let vm, let output):
            return "cannot mount the -v folders in VM \(vm): \(output.trimmingCharacters(in: .whitespacesAndNewlines)). "
                + "The guest kernel needs virtiofs (Linux 5.4 or later, module virtiofs)"
        }
    }
}

enum SharedFolderMounts {
    /// Reads "TAG GUESTDIR ro|rw" lines (validated paths: no whitespace) from stdin.
    static let script = """
        set -e
        while read -r tag dir mode; do
          mkdir -p -- "$dir"
          if ! mountpoint -q -- "$dir"; then
            if [ "$mode" = ro ]; then mount -t virtiofs -o ro -- "$tag" "$dir"; else mount -t virtiofs -- "$tag" "$dir"; fi
          fi
        done
        """

    static func input(for folders: [SharedFolder]) -> Data {
        Data(folders.enumerated().map { index, folder in
            "\(SharedFolder.tag(index)) \(folder.guestPath) \(folder.readOnly ? "ro" : "rw")\n"
        }.joined().utf8)
    }

    /// Mounts `record`'s folders through `session` when it is root's, else through a root
    /// login of its own (the VM's key is root's too).
    static func mount(for record: VMRecord, over session: any GuestSession, context: PipelineContext) async throws {
        guard let folders = record.sharedFolders, !folders.isEmpty else { return }
        var root = session
        var own: (any GuestSession)?
        if record.sshUser != "root" && record.network != NetworkMode.none {
            own = try await context.guestShell.connect(try context.guestLogin(for: record, user: "root"), timeout: .seconds(15))
            root = own!
        }
        defer { if let own { Task { await own.disconnect() } } }
        let (status, output) = try await root.run(script, input: input(for: folders))
        guard status == 0 else { throw SharedFolderError.mountFailed(vm: record.name, output: output) }
    }
}
