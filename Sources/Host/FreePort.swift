// Finds a free TCP port on 127.0.0.1 for an SSH forward.

import BootcCore
import Foundation

public enum FreePort {
    /// Asks the kernel for an unused loopback port. Another process may take it before QEMU
    /// binds it; the caller retries the VM start on that failure.
    public static func loopback() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FreePortError.noSocket(errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw FreePortError.noSocket(errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public enum FreePortError: ToolError {
    case noSocket(Int32)
    public var description: String {
        switch self {
        case .noSocket(let code): "cannot find a free port on 127.0.0.1: \(String(cString: strerror(code)))"
        }
    }
}
