// Pins a VM's SSH host key: podman-bootc generates the key, gives it to the guest as a
// credential, and stores its public half here; every connection must present exactly it.

import BootcCore
import Foundation

public struct HostKeyPin: Sendable {
    /// Where the pinned key lives (the VM's private ssh/ folder).
    public let file: URL

    public init(file: URL) { self.file = file }

    /// Records `blob` (the SSH wire encoding of the public key) as the VM's host key.
    public func pin(_ blob: Data) throws {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: file.path]) }
        defer { close(fd) }
        let line = blob.base64EncodedString() + "\n"
        guard line.withCString({ write(fd, $0, strlen($0)) }) == line.utf8.count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
    }

    /// Accepts `blob` only when it is the pinned key; a VM without a pin is never trusted.
    public func verify(_ blob: Data, vm: String) throws {
        guard let pinned = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw HostKeyMismatch(vm: vm, file: file.path, reason: .noPin)
        }
        guard pinned == blob.base64EncodedString() else { throw HostKeyMismatch(vm: vm, file: file.path, reason: .differs) }
    }
}

public struct HostKeyMismatch: ToolError {
    public enum Reason: Sendable { case noPin, differs }
    public var vm: String
    public var file: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case .noPin:
            return "VM \(vm) has no pinned SSH host key (\(file) is missing), so it cannot be verified; "
                + "remove the VM and create it again (podman-bootc rm -f \(vm))"
        case .differs:
            return "the SSH host key of VM \(vm) is not the one podman-bootc gave it (\(file)): something else may answer "
                + "on its port, or the image does not apply systemd credentials from fw_cfg (needs systemd 252 or later and "
                + "the qemu_fw_cfg kernel module). Refusing to connect"
        }
    }
}
