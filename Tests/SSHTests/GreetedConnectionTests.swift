// GreetedConnection against a real loopback server: a silent connection (what QEMU's user
// network gives while the guest's network is down) is joined by new ones, the first that
// greets wins; one closed without a word is the caller's to retry.

import Foundation
@testable import SSH
import Synchronization
import Testing

@Suite struct GreetedConnectionTests {
    /// A listening loopback socket; `serve` gets each accepted connection and its number.
    final class Server: Sendable {
        let fd: Int32
        let port: Int
        private let held = Held()

        /// The silent connections, kept open until the server goes.
        final class Held: Sendable {
            private let clients = Mutex<[Int32]>([])
            func add(_ client: Int32) { clients.withLock { $0.append(client) } }
            deinit { clients.withLock { $0.forEach { close($0) } } }
        }

        init(serve: @escaping @Sendable (Int32, Int) -> Bool) throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            listen(fd, 16)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
            let listener = fd
            let held = held
            Thread.detachNewThread {
                var number = 0
                while true {
                    let client = accept(listener, nil, nil)
                    // Closed here, not in deinit: a number closed while this thread could still
                    // accept on it may be reused by another test's listener, whose clients it would take.
                    guard client >= 0 else { close(listener); return }
                    number += 1
                    // Kept open (silent) unless `serve` says it is done with it.
                    if serve(client, number) { close(client) } else { held.add(client) }
                }
            }
        }

        deinit {
            shutdown(fd, Int32(SHUT_RDWR))
        }
    }

    @Test func aSilentConnectionIsJoinedByOneThatGreets() throws {
        let server = try Server { client, number in
            guard number >= 3 else { return false }
            _ = "SSH-2.0-test\r\n".withCString { write(client, $0, 14) }
            return false
        }
        let socket = try GreetedConnection.open(host: "127.0.0.1", port: server.port, timeoutMilliseconds: 5000, spacingMilliseconds: 50)
        defer { close(socket) }
        var buffer = [UInt8](repeating: 0, count: 14)
        #expect(read(socket, &buffer, 14) == 14)
        #expect(String(decoding: buffer, as: UTF8.self).hasPrefix("SSH-2.0-test"))
    }

    @Test func aConnectionClosedWithoutAWordIsRetriedByTheCaller() throws {
        let server = try Server { _, _ in true }
        #expect(throws: SSHError.self) {
            try GreetedConnection.open(host: "127.0.0.1", port: server.port, timeoutMilliseconds: 2000, spacingMilliseconds: 500)
        }
    }

    @Test func silenceUntilTheDeadlineFails() throws {
        let server = try Server { _, _ in false }
        let start = Date()
        #expect(throws: SSHError.self) {
            try GreetedConnection.open(host: "127.0.0.1", port: server.port, timeoutMilliseconds: 300, spacingMilliseconds: 100)
        }
        #expect(Date().timeIntervalSince(start) < 2)
    }
}
