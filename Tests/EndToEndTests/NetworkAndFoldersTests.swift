// --network user|isolated|none and -v folders, on real VMs: what the guest can reach, how a
// guest without a network card is reached, and files crossing a virtiofs share both ways.

import Foundation
import Testing

/// A TCP server on the host's loopback that answers every connection with one line: what a
/// guest reaches at 10.0.2.2 through QEMU's user network.
final class LoopbackServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init(reply: String) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 8) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ready else {
            close(listener)
            throw CocoaError(.fileWriteUnknown)
        }
        fd = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                _ = (reply + "\n").withCString { write(client, $0, strlen($0)) }
                close(client)
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

extension EndToEnd {
@Suite struct NetworkAndFoldersTests {
    /// A guest shell line that prints what a TCP connection to HOST PORT reads, or "refused".
    func probe(_ host: String, _ port: Int) -> String {
        "timeout 5 bash -c 'exec 3<>/dev/tcp/\(host)/\(port) && head -n1 <&3' 2>/dev/null || echo refused"
    }

    @Test func isolatedReachesNothingButItsForwardsWhileUserReachesTheHost() async throws {
        let server = try LoopbackServer(reply: "hello-from-host")
        defer { server.stop() }
        let command = probe("10.0.2.2", server.port) + "; " + probe("192.0.2.1", 80)

        let user = try await Harness.podmanBootc(["run", "--rm", Harness.demoImage, "--", command])
        #expect(user.status == 0, "\(user.stderr)")
        #expect(user.stdout.hasPrefix("hello-from-host\n"), "--network user reaches the host's server: \(user.stdout)")

        let name = "e2e-isolated-\(UUID().uuidString.prefix(4).lowercased())"
        defer { Task { _ = try? await Harness.podmanBootc(["rm", "-f", name]) } }
        let hostPort = try RemoteHostFixture.freePort()
        let started = try await Harness.podmanBootc(["run", "-B", "--network", "isolated", "--name", name,
                                                     "-p", "\(hostPort):8000", Harness.demoImage])
        #expect(started.status == 0, "run -B --network isolated: \(started.stderr)")
        let isolated = try await Harness.podmanBootc(["ssh", name, "--", command])
        #expect(isolated.status == 0, "ssh works without a way out: \(isolated.stderr)")
        #expect(isolated.stdout == "refused\nrefused\n", "--network isolated reaches nothing: \(isolated.stdout)")

        // A -p port still comes in: a guest listener answers on the host's forwarded port.
        let listening = try await Harness.podmanBootc(["ssh", name, "--",
            "systemd-run --quiet --unit podman-bootc-e2e-probe systemd-socket-activate -l 8000 -a --inetd echo hello-from-guest"])
        #expect(listening.status == 0, "\(listening.stderr)")
        var answer = ""
        _ = await Harness.waitUntil(timeout: 20) {
            answer = (try? await Harness.run("/usr/bin/timeout", ["3", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(hostPort) && head -n1 <&3"]).stdout) ?? ""
            return answer.hasPrefix("hello-from-guest")
        }
        #expect(answer.hasPrefix("hello-from-guest"), "the -p port of an isolated VM: \(answer)")
        #expect(try await Harness.podmanBootc(["rm", "-f", name]).status == 0)
    }

    @Test func aVMWithoutANetworkCardRunsCommandsThroughTheGuestAgent() async throws {
        let run = try await Harness.podmanBootc(["run", "--rm", "--network", "none", Harness.demoImage, "--",
                                                 "ls /sys/class/net; echo to-stderr >&2; exit 3"])
        #expect(run.status == 3, "the command's status comes back: \(run.stderr)")
        #expect(run.stdout == "lo\n", "only the loopback device: \(run.stdout)")
        #expect(run.stderr.contains("to-stderr"))
        let refused = try await Harness.podmanBootc(["run", "--rm", "--network", "none", "-p", "8080:80", Harness.demoImage, "--", "true"])
        #expect(refused.status == 64 && refused.errorLines.count == 1, "\(refused.stderr)")
    }

    @Test func aFolderIsSharedBothWaysAndReadOnlyMeansIt() async throws {
        let folder = "/var/tmp/podman-bootc-e2e-share-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/rw", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/ro", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "from-host\n".write(toFile: folder + "/rw/host.txt", atomically: true, encoding: .utf8)
        try "read-only\n".write(toFile: folder + "/ro/kept.txt", atomically: true, encoding: .utf8)

        let name = "e2e-share-\(UUID().uuidString.prefix(4).lowercased())"
        defer { Task { _ = try? await Harness.podmanBootc(["rm", "-f", name]) } }
        let started = try await Harness.podmanBootc(["run", "-B", "--name", name, "-v", folder + "/rw:/srv/rw",
                                                     "-v", folder + "/ro:/srv/ro:ro", Harness.demoImage])
        #expect(started.status == 0, "run -B -v: \(started.stderr)")
        let read = try await Harness.podmanBootc(["ssh", name, "--", "cat /srv/rw/host.txt /srv/ro/kept.txt"])
        #expect(read.stdout == "from-host\nread-only\n", "\(read.stderr)")
        let wrote = try await Harness.podmanBootc(["ssh", name, "--", "echo from-guest > /srv/rw/guest.txt"])
        #expect(wrote.status == 0, "\(wrote.stderr)")
        #expect((try? String(contentsOfFile: folder + "/rw/guest.txt", encoding: .utf8)) == "from-guest\n")
        let refused = try await Harness.podmanBootc(["ssh", name, "--", "echo no > /srv/ro/kept.txt"])
        #expect(refused.status != 0, ":ro refuses the write")
        #expect((try? String(contentsOfFile: folder + "/ro/kept.txt", encoding: .utf8)) == "read-only\n")

        // After a reboot the folders are mounted again.
        #expect(try await Harness.podmanBootc(["stop", name]).status == 0)
        #expect(try await Harness.podmanBootc(["start", name]).status == 0)
        let again = try await Harness.podmanBootc(["ssh", name, "--", "cat /srv/rw/guest.txt"])
        #expect(again.stdout == "from-guest\n", "\(again.stderr)")
        #expect(try await Harness.podmanBootc(["rm", "-f", name]).status == 0)
    }

    /// A user's VM: libvirt 9.0 runs virtiofsd for root's VMs only, so podman-bootc starts
    /// it itself in the user's namespace. Both ways, `:ro`, files the guest's root writes
    /// belong to the user, the folders come back after a restart, and no daemon outlives rm.
    @Test func aUsersFolderIsSharedBothWays() async throws {
        let user = try await RootlessUser.ensure("podman-bootc-e2e")
        try await user.load(Harness.demoImage)
        let folder = "/var/tmp/podman-bootc-e2e-usershare-\(UUID().uuidString.prefix(8))"
        for sub in ["/rw", "/ro"] {
            try FileManager.default.createDirectory(atPath: folder + sub, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "from-host\n".write(toFile: folder + "/rw/host.txt", atomically: true, encoding: .utf8)
        try "read-only\n".write(toFile: folder + "/ro/kept.txt", atomically: true, encoding: .utf8)
        let group = try #require(getpwuid(user.uid)).pointee.pw_gid
        for path in [folder, folder + "/rw", folder + "/ro", folder + "/rw/host.txt", folder + "/ro/kept.txt"] {
            #expect(chown(path, user.uid, group) == 0)
        }

        let name = "e2e-usershare-\(UUID().uuidString.prefix(4).lowercased())"
        defer { Task { _ = try? await user.podmanBootc(["rm", "-f", name]) } }
        let started = try await user.podmanBootc(["run", "-B", "--name", name, "-v", folder + "/rw:/srv/rw",
                                                  "-v", folder + "/ro:/srv/ro:ro", Harness.demoImage])
        try #require(started.status == 0, "run -B -v as a user: \(started.stderr)")
        let read = try await user.podmanBootc(["ssh", name, "--", "cat /srv/rw/host.txt /srv/ro/kept.txt"])
        #expect(read.stdout == "from-host\nread-only\n", "\(read.stderr)")
        let wrote = try await user.podmanBootc(["ssh", name, "--", "echo from-guest > /srv/rw/guest.txt"])
        #expect(wrote.status == 0, "\(wrote.stderr)")
        #expect((try? String(contentsOfFile: folder + "/rw/guest.txt", encoding: .utf8)) == "from-guest\n")
        var info = stat()
        #expect(stat(folder + "/rw/guest.txt", &info) == 0 && info.st_uid == user.uid, "the guest's root writes as the user")
        let refused = try await user.podmanBootc(["ssh", name, "--", "echo no > /srv/ro/kept.txt"])
        #expect(refused.status != 0, ":ro refuses the write")

        #expect(try await user.podmanBootc(["stop", name]).status == 0)
        let started2 = try await user.podmanBootc(["start", name])
        #expect(started2.status == 0, "start: \(started2.stderr)")
        let again = try await user.podmanBootc(["ssh", name, "--", "cat /srv/rw/guest.txt"])
        #expect(again.stdout == "from-guest\n", "\(again.stderr)")
        #expect(try await user.podmanBootc(["rm", "-f", name]).status == 0)
        let gone = await Harness.waitUntil(timeout: 10) {
            (try? await Harness.run("/usr/bin/pgrep", ["-u", String(user.uid), "-f", "virtiofsd --socket-path"]))?.status == 1
        }
        #expect(gone, "no virtiofsd of the user's is left after rm")
    }
}
}
