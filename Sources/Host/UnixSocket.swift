// A connected AF_UNIX stream socket (QEMU's end of a virtio-serial channel).

import Foundation

public struct UnixSocketError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot connect to \(path): \(reason)" }
}

public enum UnixSocket {
    /// Connects to the socket at `path`; returns a close-on-exec descriptor the caller closes.
    public static func connect(_ path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity, !bytes.contains(0) else {
            throw UnixSocketError(path: path, reason: "the path is longer than a socket address holds")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { target in
            target.copyBytes(from: bytes)
            target[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UnixSocketError(path: path, reason: String(cString: strerror(errno))) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw UnixSocketError(path: path, reason: reason)
        }
        return fd
    }
}
