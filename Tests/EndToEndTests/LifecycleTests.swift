// VM lifecycle for real: two VMs from one image at once, list (table and JSON), ssh into
// each (one as a user the guest creates), the generated host key is what the guest presents,
// stop/start keeps the disk, a killed QEMU shows as stopped, rm leaves nothing but the shared
// cached disk.

import Foundation
import Testing

extension EndToEnd {
@Suite struct LifecycleTests {
    struct Listed: Decodable { var id: String; var name: String; var status: String; var ssh: String }

    func list() async throws -> [Listed] {
        let result = try await Harness.podmanBootc(["list", "-a", "--format", "json"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        return try JSONDecoder().decode([Listed].self, from: Data(result.stdout.utf8))
    }

    @Test func twoVMsFromOneImage() async throws {
        let suffix = UUID().uuidString.prefix(4).lowercased()
        let (one, two) = ("e2e-one-\(suffix)", "e2e-two-\(suffix)")
        let vmsBefore = try await list()
        let domainsBefore = try await Harness.domains()

        let published = Int.random(in: 20000...29999)
        async let startOne = Harness.podmanBootc(["run", "-B", "--name", one, "-p", "\(published):22", Harness.demoImage])
        async let startTwo = Harness.podmanBootc(["run", "-B", "--transient", "-u", "dev", "--name", two, Harness.demoImage])
        let started = try await [startOne, startTwo]
        #expect(started.map(\.status) == [0, 0], "\(started.map(\.stderr))")
        #expect(started.map(\.stdout) == ["\(one)\n", "\(two)\n"])

        // list: both running, in JSON and in the table.
        let listed = try await list()
        for name in [one, two] {
            #expect(listed.first { $0.name == name }?.status == "running")
        }
        let table = try await Harness.podmanBootc(["list"]).stdout.split(separator: "\n")
        #expect(table.first?.hasPrefix("ID") == true)
        #expect(table.contains { $0.contains(one) && $0.contains("running") && $0.contains("127.0.0.1:") })

        // ssh into each: each answers with its own hostname.
        for name in [one, two] {
            let result = try await Harness.podmanBootc(["ssh", name, "--", "hostname"])
            #expect(result.stdout == "\(name)\n", "stderr: \(result.stderr)")
        }
        // -u: the guest created the user, and the same key also logs in as root.
        #expect(try await Harness.podmanBootc(["ssh", two, "--", "id", "-un"]).stdout == "dev\n")
        #expect(try await Harness.podmanBootc(["ssh", "-u", "root", two, "--", "id", "-un"]).stdout == "root\n")
        let prefix = String(try #require(listed.first { $0.name == two }?.id.prefix(6)))
        let byPrefix = try await Harness.podmanBootc(["ssh", prefix, "--", "sh", "-c", "exit 5"])
        #expect(byPrefix.status == 5)

        // -p publishes a guest port on 127.0.0.1 only: OpenSSH reaches the guest's sshd through it.
        let listeners = try await Harness.run("/usr/bin/ss", ["-Htln", "sport = :\(published)"]).stdout
        #expect(listeners.contains("127.0.0.1:\(published)") && !listeners.contains("0.0.0.0:\(published)"), "\(listeners)")
        let oneID = try #require(listed.first { $0.name == one }?.id)
        let vmFolder = Harness.stateDir.appendingPathComponent("vms/\(oneID)")
        let key = vmFolder.appendingPathComponent("ssh/id_ed25519").path
        // The guest presents the host key podman-bootc generated: OpenSSH verifies it strictly
        // against a known_hosts line made from the pin.
        let pinned = try String(contentsOf: vmFolder.appendingPathComponent("ssh/host_key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let knownHosts = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-known-\(suffix)")
        try "[127.0.0.1]:\(published) ssh-ed25519 \(pinned)\n".write(to: knownHosts, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: knownHosts) }
        let viaPublished = try await Harness.run("/usr/bin/ssh", ["-i", key, "-p", "\(published)", "-o", "BatchMode=yes",
                                                                  "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts.path)",
                                                                  "-o", "HostKeyAlgorithms=ssh-ed25519", "root@127.0.0.1", "hostname"])
        #expect(viaPublished.stdout == "\(one)\n", "stderr: \(viaPublished.stderr)")
        let dumpxml = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "dumpxml", one]).stdout
        #expect(dumpxml.contains("<sysinfo type='fwcfg'>") && !dumpxml.contains("PRIVATE KEY"), "the host key is a file, not XML")

        // A VM presenting any other host key is refused before authentication.
        let pinFile = vmFolder.appendingPathComponent("ssh/host_key")
        try "AAAAC3NzaC1lZDI1NTE5AAAAIBQWfGrJ1Y1TZ2w4hOJ8IfdpqGJqCWVnH4l1aoXy8xX0\n".write(to: pinFile, atomically: false, encoding: .utf8)
        let impostor = try await Harness.podmanBootc(["ssh", one, "--", "true"])
        #expect(impostor.status == 125)
        #expect(impostor.errorLines.first?.contains("is not the one podman-bootc gave it") == true, "stderr: \(impostor.stderr)")
        try (pinned + "\n").write(to: pinFile, atomically: false, encoding: .utf8)

        // stop/start keeps the VM's own disk.
        let write = try await Harness.podmanBootc(["ssh", one, "--", "sh", "-c", "echo kept > /root/marker && sync"])
        #expect(write.status == 0)
        #expect(try await Harness.podmanBootc(["stop", one]).status == 0)
        #expect(try await list().first { $0.name == one }?.status == "stopped")
        let stoppedSSH = try await Harness.podmanBootc(["ssh", one, "--", "true"])
        #expect(stoppedSSH.status == 125)
        #expect(stoppedSSH.errorLines.first?.contains("podman-bootc start \(one)") == true)
        let restart = try await Harness.podmanBootc(["start", one])
        #expect(restart.status == 0, "stderr: \(restart.stderr)")
        #expect(try await Harness.podmanBootc(["ssh", one, "--", "cat", "/root/marker"]).stdout == "kept\n")

        // A killed QEMU shows as stopped: the state comes from libvirt.
        #expect(try await Harness.podmanBootc(["ssh", "-u", "root", two, "--", "sh", "-c", "echo gone > /root/marker && sync"]).status == 0)
        _ = try await Harness.run("/usr/bin/pkill", ["-KILL", "-f", "guest=\(two),"])
        let died = try await Harness.waitUntil(timeout: 30) { try await list().first { $0.name == two }?.status == "stopped" }
        #expect(died)

        // --transient: the next start begins from the installed disk again.
        let restartTwo = try await Harness.podmanBootc(["start", two])
        #expect(restartTwo.status == 0, "stderr: \(restartTwo.stderr)")
        let marker = try await Harness.podmanBootc(["ssh", "-u", "root", two, "--", "test", "-e", "/root/marker"])
        #expect(marker.status == 1, "the transient VM's disk changes were discarded")

        // rm: a running VM needs -f; afterwards no domain, overlay or key; the cached disk stays.
        let refused = try await Harness.podmanBootc(["rm", one])
        #expect(refused.status == 125)
        #expect(refused.errorLines.first?.contains("is running") == true)
        let ids = try await list().filter { [one, two].contains($0.name) }.map(\.id)
        let removal = vmsBefore.isEmpty ? ["rm", "-f", "--all"] : ["rm", "-f", one, two]
        #expect(try await Harness.podmanBootc(removal).status == 0)
        #expect(try await list().filter { [one, two].contains($0.name) }.isEmpty)
        #expect(try await Harness.domains().subtracting(domainsBefore).isEmpty)
        for id in ids {
            #expect(!FileManager.default.fileExists(atPath: Harness.stateDir.appendingPathComponent("vms/\(id)").path))
        }
        let missing = try await Harness.podmanBootc(["ssh", "e2e-no-such-vm-\(suffix)", "--", "true"])
        #expect(missing.status == 127, "a VM that does not exist is 'not found'")
        let cached = try await Harness.podmanBootc(["cache", "list", "--format", "json"]).stdout
        #expect(cached.contains(Harness.demoImage))
    }
}
}
