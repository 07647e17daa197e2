// A connection to a server that speaks first (SSH), to a guest that may not answer yet.
//
// QEMU's user network accepts a forwarded connection before the guest can take it, and one
// made while the guest's network is still down stays silent for as long as QEMU's SYN
// retransmissions back off (seen: 10 s and more). So while earlier connections stay silent a
// new one is made every `spacing`; the first that greets is used, the others are closed. A
// slow server is never given up early: a silent connection is closed only for a newer one
// when `maximumPending` are open.

import Foundation

enum GreetedConnection {
    static let maximumPending = 4

    static func open(host: String, port: Int, timeoutMilliseconds: Int32, spacingMilliseconds: Int32) throws -> Int32 {
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        var pending: [Int32] = []
        defer { pending.forEach { close($0) } }
        var nextOpen = Date.distantPast
        while true {
            let now = Date()
            guard now < deadline else {
                throw SSHError.handshake("the server sent no greeting within \(timeoutMilliseconds) ms")
            }
            if now >= nextOpen {
                if pending.count == maximumPending { close(pending.removeFirst()) }
                // A refused connection (nothing listens yet) is the caller's to retry.
                pending.append(try TCPConnection.open(host: host, port: port, timeoutMilliseconds: milliseconds(until: deadline)))
                nextOpen = Date().addingTimeInterval(Double(spacingMilliseconds) / 1000)
            }
            var fds = pending.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let wait = min(milliseconds(until: nextOpen), milliseconds(until: deadline))
            let ready = poll(&fds, nfds_t(fds.count), max(wait, 0))
            if ready < 0 && errno != EINTR {
                throw SSHError.connect(host: host, port: port, reason: String(cString: strerror(errno)))
            }
            guard ready > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                var byte: UInt8 = 0
                let peeked = recv(entry.fd, &byte, 1, Int32(MSG_PEEK))
                if peeked == 1 {
                    pending.removeAll { $0 == entry.fd }
                    return entry.fd
                }
                if peeked < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                // Closed without a word: the guest is up but nothing listens there yet.
                close(entry.fd)
                pending.removeAll { $0 == entry.fd }
            }
            if pending.isEmpty {
                throw SSHError.handshake("the server closed the connection before greeting")
            }
        }
    }

    private static func milliseconds(until date: Date) -> Int32 {
        Int32(clamping: Int(max(0, date.timeIntervalSinceNow * 1000).rounded(.up)))
    }
}
