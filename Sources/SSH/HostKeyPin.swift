// Pins a VM's SSH host key: the key seen on the first connection after the VM was created is
// stored, and every later connection must present the same key.

import BootcCore
import Foundation

public struct HostKeyPin: Sendable {
    /// Where the pinned key lives (the VM's private ssh/ folder).
    public let file: URL

    public init(file: URL) { self.file = file }

    /// Accepts `blob` when it matches the pinned key, or pins it when there is none yet.
    public func verify(_ blob: Data, vm: String) throws {
        let presented = blob.base64EncodedString()
        if let pinned = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
            guard pinned == presented else { throw HostKeyMismatch(vm: vm, file: file.path) }
            return
        }
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: file.path]) }
        defer { close(fd) }
        let line = presented + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }
}

public struct HostKeyMismatch: ToolError {
    public var vm: String
    public var file: String
    public var description: String {
        "the SSH host key of VM \(vm) differs from the one pinned at its first connection (\(file)); "
            + "something else may answer on its port. Refusing to connect. If the VM's host key was changed on purpose, delete that file"
    }
}
