// VMs on another host's libvirt, reached only through qemu+ssh://: a second libvirtd (the
// session daemon of an account made for the test) behind an sshd of the test's own on
// 127.0.0.1, storing VMs in that account's home, which podman-bootc never writes.

import Foundation
import Testing

/// An sshd on a free loopback port letting one key log in as `user`; root's known_hosts
/// lists its host key (marked, and removed again) as after a first `ssh` to it.
struct RemoteHostFixture {
    static let userName = "podman-bootc-remote"
    static let marker = "podman-bootc-e2e-remote"

    let user: RootlessUser
    let folder: String
    let port: Int
    let clientKey: String

    var uri: String { "qemu+ssh://\(user.name)@127.0.0.1:\(port)/session?keyfile=\(clientKey)" }
    /// The remote daemon's pool folder: the account's own, never written by podman-bootc.
    var poolFolder: String { user.home + "/.local/share/libvirt/images/podman-bootc" }

    static func start() async throws -> RemoteHostFixture {
        let user = try await RootlessUser.ensure(userName)
        // sshd refuses a locked account ("!" from useradd); "*" has no password but is open to keys.
        #expect(try await Harness.run("/usr/sbin/usermod", ["-p", "*", "-s", "/bin/sh", userName]).status == 0)
        let folder = "/tmp/podman-bootc-e2e-remote-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for (name, comment) in [("host", "host"), ("client", "client")] {
            let made = try await Harness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", "\(folder)/\(name)"])
            #expect(made.status == 0, "ssh-keygen: \(made.stderr)")
        }
        let sshFolder = user.home + "/.ssh"
        try? FileManager.default.createDirectory(atPath: sshFolder, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: "\(folder)/client.pub", toPath: sshFolder + "/authorized_keys.new")
        _ = try? FileManager.default.removeItem(atPath: sshFolder + "/authorized_keys")
        try FileManager.default.moveItem(atPath: sshFolder + "/authorized_keys.new", toPath: sshFolder + "/authorized_keys")
        for path in [sshFolder, sshFolder + "/authorized_keys"] {
            chown(path, user.uid, getpwnam(userName)!.pointee.pw_gid)
            chmod(path, path == sshFolder ? 0o700 : 0o600)
        }

        let port = try freePort()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(folder)/host
            PidFile \(folder)/sshd.pid
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            AllowTcpForwarding yes
            AllowUsers \(userName)
            Subsystem sftp internal-sftp

            """
        try config.write(toFile: "\(folder)/sshd_config", atomically: true, encoding: .utf8)
        // sshd forks once it listens: when this returns, it answers.
        let started = try await Harness.run("/usr/sbin/sshd", ["-f", "\(folder)/sshd_config", "-E", "\(folder)/sshd.log"])
        #expect(started.status == 0, "sshd: \(started.stderr)")

        let hostKey = try String(contentsOfFile: "\(folder)/host.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try editKnownHosts { $0 + ["[127.0.0.1]:\(port) \(hostKey) \(marker)"] }
        let fixture = RemoteHostFixture(user: user, folder: folder, port: port, clientKey: "\(folder)/client")
        // No pool from an earlier run: the first run here creates it and uploads the disk.
        _ = try await fixture.virsh(["pool-destroy", "podman-bootc"])
        _ = try await fixture.virsh(["pool-undefine", "podman-bootc"])
        try? FileManager.default.removeItem(atPath: fixture.poolFolder)
        return fixture
    }

    /// podman-bootc with its progress lines on stderr (they say what was uploaded and booted).
    func podmanBootc(_ arguments: [String]) async throws -> Harness.Result {
        try await Harness.podmanBootc(arguments, environment: ["PODMAN_BOOTC_PROGRESS": "always"])
    }

    func stop() async {
        if let pid = try? String(contentsOfFile: "\(folder)/sshd.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           let number = pid_t(pid) {
            kill(number, SIGTERM)
        }
        try? Self.editKnownHosts { $0 }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Root's known_hosts without our marked lines, then `change` applied.
    static func editKnownHosts(_ change: ([String]) -> [String]) throws {
        let home = String(cString: getpwuid(0)!.pointee.pw_dir)
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = home + "/.ssh/known_hosts"
        let lines = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            .filter { !$0.hasSuffix(" " + marker) }
        try (change(lines).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `virsh` on the remote daemon (how a person would look at it).
    func virsh(_ arguments: [String]) async throws -> Harness.Result {
        try await Harness.run("/usr/bin/virsh", ["-q", "-c", uri] + arguments)
    }

    /// The disk volume's identity: the same after a second run means no second upload.
    func diskVolumeIdentity() -> [String: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: poolFolder)) ?? []
        var identity: [String: String] = [:]
        for name in names where name.hasPrefix("disk-") {
            var info = stat()
            if stat(poolFolder + "/" + name, &info) == 0 {
                identity[name] = "\(info.st_ino)/\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            }
        }
        return identity
    }

    func vmVolumes() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: poolFolder)) ?? []).filter { $0.hasPrefix("vm-") }.sorted()
    }
}

extension EndToEnd {
@Suite struct RemoteLibvirtTests {
    /// Every file in the client's VM folders, relative to `vms/<id>/`.
    func clientVMFiles() -> Set<String> {
        let root = Harness.stateDir.appendingPathComponent("vms").path
        var files: Set<String> = []
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            guard let walker = FileManager.default.enumerator(atPath: root + "/" + id) else { continue }
            while let path = walker.nextObject() as? String {
                var isFolder: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + id + "/" + path, isDirectory: &isFolder), !isFolder.boolValue {
                    files.insert(path)
                }
            }
        }
        return files
    }

    @Test func aVMOnAnotherHostIsBootedReachedAndRemovedThroughSSHOnly() async throws {
        let remote = try await RemoteHostFixture.start()
        defer { Task { await remote.stop() } }
        let name = "e2e-remote-\(UUID().uuidString.prefix(4).lowercased())"
        defer { Task { _ = try? await Harness.podmanBootc(["rm", "-f", name]) } }

        // A --rm smoke test on the remote host: the command's output comes back, nothing stays.
        let smoke = try await remote.podmanBootc(["run", "--rm", "--connect", remote.uri, Harness.demoImage, "--", "hostname"])
        #expect(smoke.status == 0, "remote run --rm: \(smoke.stderr)")
        #expect(smoke.stderr.contains("Uploading the disk"), "\(smoke.stderr)")
        #expect(smoke.stdout.hasPrefix("podman-bootc-test-"), "hostname: \(smoke.stdout)")
        #expect(remote.vmVolumes().isEmpty, "volumes of the --rm VM left on the host: \(remote.vmVolumes())")
        let uploaded = remote.diskVolumeIdentity()
        #expect(uploaded.keys.contains { $0.hasSuffix(".raw") } && uploaded.keys.contains { $0.hasSuffix(".complete") },
                "the cached disk is not in the remote pool: \(uploaded.keys.sorted())")

        // A kept VM: the disk is not uploaded again.
        let started = try await remote.podmanBootc(["run", "-B", "--connect", remote.uri, "--name", name, Harness.demoImage])
        #expect(started.status == 0, "remote run -B: \(started.stderr)")
        #expect(started.stderr.contains("Booting VM") && !started.stderr.contains("Uploading"), "the disk was uploaded a second time: \(started.stderr)")
        #expect(remote.diskVolumeIdentity() == uploaded, "the disk volume changed on the second run")

        // The domain names only files on the remote host, each a volume of our pool there.
        let xml = try await remote.virsh(["dumpxml", name]).stdout
        #expect(xml.contains(remote.poolFolder + "/vm-"), "the domain does not use the pool: \(xml)")
        #expect(!xml.contains(Harness.stateDir.path), "the remote domain names a path of this machine: \(xml)")
        // This machine keeps keys and the record, nothing the VM runs from.
        let files = clientVMFiles()
        #expect(files.isSubset(of: ["vm.json", "ssh/id_ed25519", "ssh/id_ed25519.pub", "ssh/host_key"]), "client state: \(files.sorted())")
        #expect(!remote.vmVolumes().isEmpty)

        let hostname = try await Harness.podmanBootc(["ssh", name, "--", "hostname"])
        #expect(hostname.status == 0, "remote ssh: \(hostname.stderr)")
        #expect(hostname.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == name)
        let exit = try await Harness.podmanBootc(["ssh", name, "--", "exit", "7"])
        #expect(exit.status == 7, "the remote command's exit status comes back: \(exit.stderr)")

        let listed = try await Harness.podmanBootc(["list"])
        #expect(listed.stdout.contains(name) && listed.stdout.contains("running"), "list: \(listed.stdout)")
        let inspected = try await Harness.podmanBootc(["inspect", name])
        #expect(inspected.stdout.contains(remote.poolFolder + "/vm-"), "inspect names the VM's files on its host: \(inspected.stdout)")
        let logs = try await Harness.podmanBootc(["logs", name])
        #expect(logs.status == 0 && logs.stdout.contains("login:"), "remote logs: \(logs.stderr)\n\(logs.stdout.suffix(400))")

        // The serial console through libvirt's stream: attaches, and detaches when input ends.
        let console = try await Harness.podmanBootc(["console", name])
        #expect(console.status == 0, "remote console: \(console.stderr)")

        let stopped = try await Harness.podmanBootc(["stop", name])
        #expect(stopped.status == 0, "remote stop: \(stopped.stderr)")
        let restarted = try await Harness.podmanBootc(["start", name])
        #expect(restarted.status == 0, "remote start: \(restarted.stderr)")
        #expect(try await Harness.podmanBootc(["ssh", name, "--", "true"]).status == 0)

        let removed = try await Harness.podmanBootc(["rm", "-f", name])
        #expect(removed.status == 0, "remote rm -f: \(removed.stderr)")
        #expect(try await remote.virsh(["list", "--all", "--name"]).stdout.contains(name) == false)
        #expect(remote.vmVolumes().isEmpty, "volumes left after rm: \(remote.vmVolumes())")
        #expect(remote.diskVolumeIdentity() == uploaded, "rm must keep the shared disk")
    }

    /// libvirt's own connection trusts root's known_hosts; the tunnel is told (?known_hosts=)
    /// to trust another key for the host: it must refuse before anything is uploaded or booted.
    @Test func aHostWhoseKeyIsNotTheKnownOneIsRefusedBeforeAnythingStarts() async throws {
        let remote = try await RemoteHostFixture.start()
        defer { Task { await remote.stop() } }
        let other = remote.folder + "/other"
        #expect(try await Harness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]).status == 0)
        let otherKey = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(remote.port) \(otherKey)\n".write(toFile: remote.folder + "/known_hosts", atomically: true, encoding: .utf8)
        let before = Harness.vmFolders()
        let run = try await remote.podmanBootc(["run", "--rm", "--connect", remote.uri + "&known_hosts=" + remote.folder + "/known_hosts",
                                                Harness.demoImage, "--", "true"])
        #expect(run.status != 0)
        #expect(run.errorLines.count == 1 && run.stderr.contains("differs from the one in"), "\(run.stderr)")
        #expect(run.stderr.contains("Resolving") && !run.stderr.contains("Booting"), "a VM was booted: \(run.stderr)")
        #expect(Harness.vmFolders() == before)
        #expect(remote.vmVolumes().isEmpty)
    }
}
}
