// Warm start for real: `cache warm` saves a booted VM's running state; two VMs restored from
// it at once each answer SSH with their own key and host key (OpenSSH verifies strictly), the
// template's key no longer logs in, their disks are separate, the guest clock is stepped, and
// the saved state is unchanged afterwards. A state damaged on purpose is detected and the run
// boots cold instead, and saves a good state again. Clones are distinct machines: their own
// random bytes and generation IDs, kept ones their own machine-id, none the template's host key;
// a restore whose identity step fails boots cold.

import Foundation
import Testing

extension EndToEnd {
@Suite struct WarmStartTests {
    /// A VM shape no other test uses, so this test owns its saved state.
    static let memory = "1536M"

    struct CacheEntry: Decodable {
        var key: String
        var image: String
        var warmStates: [State]
        struct State: Decodable { var key: String; var memoryMiB: Int; var user: String; var created: String }
    }

    /// The newest such state: a machine that kept the disk of an earlier build of the demo
    /// image has that build's states too.
    func stateFolder() async throws -> (folder: URL, created: String)? {
        let listed = try await Harness.podmanBootc(["cache", "list", "--format", "json"])
        let entries = try JSONDecoder().decode([CacheEntry].self, from: Data(listed.stdout.utf8))
        let states = entries.filter { $0.image == Harness.demoImage }.flatMap { entry in
            entry.warmStates.filter { $0.memoryMiB == 1536 && $0.user == "root" }.map { (entry.key, $0) }
        }
        guard let (key, state) = states.max(by: { $0.1.created < $1.1.created }) else { return nil }
        return (Harness.stateDir.appendingPathComponent("cache/\(key)/warm/\(state.key)"), state.created)
    }

    func sha256(_ file: URL) async throws -> String {
        String(try await Harness.run("/usr/bin/sha256sum", [file.path]).stdout.prefix(64))
    }

    func vmFolder(_ name: String) async throws -> URL {
        let inspect = try await Harness.podmanBootc(["inspect", name])
        struct Inspected: Decodable { var record: Record; struct Record: Decodable { var id: String } }
        let id = try JSONDecoder().decode(Inspected.self, from: Data(inspect.stdout.utf8)).record.id
        return Harness.stateDir.appendingPathComponent("vms/\(id)")
    }

    /// OpenSSH with StrictHostKeyChecking against a known_hosts line made from a pin file.
    func openSSH(port: Int, key: URL, pin: URL, _ command: String) async throws -> Harness.Result {
        let pinned = try String(contentsOf: pin, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let knownHosts = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-known-\(UUID().uuidString)")
        try "[127.0.0.1]:\(port) ssh-ed25519 \(pinned)\n".write(to: knownHosts, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: knownHosts) }
        return try await Harness.run("/usr/bin/ssh", ["-i", key.path, "-p", "\(port)", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                                                      "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts.path)",
                                                      "-o", "HostKeyAlgorithms=ssh-ed25519", "root@127.0.0.1", command])
    }

    @Test func twoVMsFromOneTemplateThenADamagedState() async throws {
        let warm = try await Harness.podmanBootc(["cache", "warm", "--memory", Self.memory, Harness.demoImage])
        #expect(warm.status == 0, "stderr: \(warm.stderr)")
        let (template, _) = try #require(try await stateFolder(), "cache warm left no state")
        #expect(warm.stdout == template.lastPathComponent + "\n")
        let stateBefore = try await sha256(template.appendingPathComponent("state.qemu"))
        let diskBefore = try await sha256(template.appendingPathComponent("disk.qcow2"))
        // A second `cache warm` finds the state ready and boots nothing.
        let again = try await Harness.podmanBootc(["cache", "warm", "--memory", Self.memory, Harness.demoImage])
        #expect(again.stdout == warm.stdout && again.status == 0)

        let suffix = UUID().uuidString.prefix(4).lowercased()
        let names = ["e2e-warm-a-\(suffix)", "e2e-warm-b-\(suffix)"]
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]
        async let startA = Harness.podmanBootc(["run", "-B", "--memory", Self.memory, "--name", names[0], Harness.demoImage], environment: progress)
        async let startB = Harness.podmanBootc(["run", "-B", "--memory", Self.memory, "--name", names[1], Harness.demoImage], environment: progress)
        let started = try await [startA, startB]
        #expect(started.map(\.status) == [0, 0], "\(started.map(\.stderr))")
        for result in started {
            #expect(result.stderr.contains("Restoring VM") && !result.stderr.contains("Booting VM"), "restored, not booted: \(result.stderr)")
        }

        // Each VM: its own name, its own key and host key (verified strictly by OpenSSH).
        var hostKeys: [String] = []
        var clientKeys: [String] = []
        var machineIDs: [String] = []
        for name in names {
            let folder = try await vmFolder(name)
            let record = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("vm.json"))) as? [String: Any]
            let port = try #require(record?["sshPort"] as? Int)
            let viaOpenSSH = try await openSSH(port: port, key: folder.appendingPathComponent("ssh/id_ed25519"),
                                               pin: folder.appendingPathComponent("ssh/host_key"), "hostname; date +%s")
            let lines = viaOpenSSH.stdout.split(separator: "\n")
            #expect(lines.first.map(String.init) == name, "stderr: \(viaOpenSSH.stderr)")
            // The guest clock was stepped to the host's, not left at the template's save time.
            let guestClock = lines.count > 1 ? Double(lines[1]) ?? 0 : 0
            #expect(abs(guestClock - Date().timeIntervalSince1970) < 60, "guest clock \(guestClock)")
            // The template's key no longer logs in.
            let templateKey = try await openSSH(port: port, key: template.appendingPathComponent("ssh/id_ed25519"),
                                                pin: folder.appendingPathComponent("ssh/host_key"), "true")
            #expect(templateKey.status == 255, "the template's key was refused")
            // Only its own credentials: in its libvirt definition (its own files) and in the
            // guest, where the template's copies from the saved boot were overwritten.
            let ownHostKey = try String(contentsOf: folder.appendingPathComponent("credentials/podman-bootc.ssh-host-key"), encoding: .utf8)
            let ownPublicKey = try String(contentsOf: folder.appendingPathComponent("ssh/id_ed25519.pub"), encoding: .utf8)
            // The guest rewrites them in the background after the identity (a remount is slow).
            var inGuest = Harness.Result(status: -1, stdout: "", stderr: "")
            _ = try await Harness.waitUntil(timeout: 20) {
                inGuest = try await Harness.podmanBootc(["ssh", name, "--", "cat /run/credentials/@system/podman-bootc.ssh-host-key; "
                                                         + "grep -o 'authorized_keys 0600 root root - [^ ]*' /run/credentials/@system/tmpfiles.extra | awk '{print $NF}' | base64 -d"])
                return inGuest.stdout == ownHostKey + ownPublicKey
            }
            #expect(inGuest.stdout == ownHostKey + ownPublicKey, "the guest still holds another VM's credentials: \(inGuest.stdout)")
            let xml = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "dumpxml", name])
            #expect(xml.stdout.contains("file='\(folder.path)/credentials/podman-bootc.ssh-host-key'"), "the domain does not use its own credential file")
            // The template's (throwaway) host key is in none of its files or credentials, on the
            // host or in the guest; its libvirt definition names only its own credential files.
            let templatePin = try String(contentsOf: template.appendingPathComponent("ssh/host_key"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let ownCredential = try await Harness.run("/usr/bin/ssh-keygen", ["-y", "-f", folder.appendingPathComponent("credentials/podman-bootc.ssh-host-key").path])
            #expect(ownCredential.status == 0 && !ownCredential.stdout.contains(templatePin), "\(ownCredential)")
            let credentialFiles = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("credentials").path)
            #expect(credentialFiles == ["podman-bootc.ssh-host-key"], "\(credentialFiles)")
            let guestKeys = try await Harness.podmanBootc(["ssh", name, "--", "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key; "
                                                           + "ssh-keygen -y -f /run/credentials/@system/podman-bootc.ssh-host-key; cat /etc/machine-id"])
            let guestLines = guestKeys.stdout.split(separator: "\n").map(String.init)
            #expect(guestKeys.status == 0 && guestLines.count == 3, "\(guestKeys)")
            #expect(!guestKeys.stdout.contains(templatePin), "the guest still holds the template's host key")
            machineIDs.append(guestLines.last ?? "")
            let inactive = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "dumpxml", "--inactive", name])
            #expect(!inactive.stdout.contains("template."), "the kept definition names a template file")
            hostKeys.append(try String(contentsOf: folder.appendingPathComponent("ssh/host_key"), encoding: .utf8))
            clientKeys.append(try String(contentsOf: folder.appendingPathComponent("ssh/id_ed25519"), encoding: .utf8))
        }
        #expect(Set(hostKeys).count == 2 && Set(clientKeys).count == 2, "no two VMs share keys")
        #expect(Set(machineIDs).count == 2 && machineIDs.allSatisfy { $0.count == 32 }, "each kept VM has its own machine-id: \(machineIDs)")
        let templatePin = try String(contentsOf: template.appendingPathComponent("ssh/host_key"), encoding: .utf8)
        #expect(!hostKeys.contains(templatePin))

        // Separate disks: a file written in one is absent in the other.
        #expect(try await Harness.podmanBootc(["ssh", names[0], "--", "sh", "-c", "echo a > /root/only-in-a && sync"]).status == 0)
        #expect(try await Harness.podmanBootc(["ssh", names[1], "--", "test", "-e", "/root/only-in-a"]).status == 1)

        // The template is unchanged by the VMs restored from it.
        #expect(try await Harness.podmanBootc(["rm", "-f"] + names).status == 0)
        #expect(try await sha256(template.appendingPathComponent("state.qemu")) == stateBefore)
        #expect(try await sha256(template.appendingPathComponent("disk.qcow2")) == diskBefore)

        // A --rm command runs through the guest agent the state holds (no SSH login): its two
        // streams apart, its exit status, the VM's own hostname, a clock stepped to the host's.
        let agentName = "e2e-warm-agent-\(suffix)"
        let direct = try await Harness.podmanBootc(["run", "--rm", "--memory", Self.memory, "--name", agentName, "--log-level", "debug",
                                                    Harness.demoImage, "--", "hostname; date +%s; echo to-stderr >&2; exit 3"],
                                                   environment: progress)
        #expect(direct.status == 3, "stderr: \(direct.stderr)")
        let directLines = direct.stdout.split(separator: "\n").map(String.init)
        #expect(directLines.first == agentName, "stdout: \(direct.stdout)")
        #expect(abs((directLines.count > 1 ? Double(directLines[1]) ?? 0 : 0) - Date().timeIntervalSince1970) < 60)
        #expect(direct.stderr.contains("to-stderr\n") && !direct.stdout.contains("to-stderr"))
        #expect(direct.stderr.contains("identity given through the guest agent"), "stderr: \(direct.stderr)")
        #expect(direct.stderr.contains("Restoring VM") && !direct.stderr.contains("SSH ready"), "no SSH login: \(direct.stderr)")
        // Three clones of one state read different random bytes (the kernel reseeds when the
        // VM generation ID changes), and each domain presented a generation ID of its own.
        var randomBytes: [String] = []
        var generationIDs: [String] = []
        for _ in 0..<3 {
            let clone = try await Harness.podmanBootc(["run", "--rm", "--memory", Self.memory, "--log-level", "debug", Harness.demoImage,
                                                       "--", "sh", "-c", "head -c16 /dev/urandom | od -An -tx1"], environment: progress)
            #expect(clone.status == 0 && clone.stderr.contains("Restoring VM"), "stderr: \(clone.stderr)")
            randomBytes.append(clone.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            let xml = clone.stderr.components(separatedBy: "-incoming").first ?? ""
            if let start = xml.range(of: "<genid>", options: .backwards), let end = xml.range(of: "</genid>", range: start.upperBound..<xml.endIndex) {
                generationIDs.append(String(xml[start.upperBound..<end.lowerBound]))
            }
        }
        #expect(Set(randomBytes).count == 3 && randomBytes.allSatisfy { $0.count == 47 }, "clones read the same random bytes: \(randomBytes)")
        #expect(generationIDs.count == 3 && Set(generationIDs).count == 3, "generation IDs: \(generationIDs)")

        // Input from a pipe goes over SSH (the agent takes none); the login keys, written in the
        // background, are awaited first.
        let piped = try await Harness.podmanBootc(["run", "--rm", "--memory", Self.memory, Harness.demoImage, "--", "cat; hostname"],
                                                  input: "through ssh\n")
        #expect(piped.status == 0 && piped.stdout.hasPrefix("through ssh\n"), "stdout: \(piped.stdout) stderr: \(piped.stderr)")

        // Damage the saved state (same size, 4 KiB of noise in the middle): never restored,
        // the run boots cold, succeeds, and saves a good state again.
        let stateFile = template.appendingPathComponent("state.qemu")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: stateFile.path)[.size] as? Int)
        _ = try await Harness.run("/usr/bin/dd", ["if=/dev/urandom", "of=\(stateFile.path)", "bs=4096", "count=1",
                                                  "seek=\(size / 8192)", "conv=notrunc", "status=none"])
        let damaged = try await sha256(stateFile)
        #expect(damaged != stateBefore)
        let fallback = try await Harness.podmanBootc(["run", "--rm", "--memory", Self.memory, Harness.demoImage, "--", "echo", "ok"],
                                                     environment: progress)
        #expect(fallback.status == 0 && fallback.stdout == "ok\n", "stderr: \(fallback.stderr)")
        #expect(fallback.stderr.contains("is unusable") && fallback.stderr.contains("booting cold"), "stderr: \(fallback.stderr)")
        #expect(fallback.stderr.contains("Booting VM"))
        let (resaved, _) = try #require(try await stateFolder(), "a new state was saved after the cold boot")
        #expect(try await sha256(resaved.appendingPathComponent("state.qemu")) != damaged)

        // A restore whose identity step fails in the guest (here: a machine-id the guest's
        // script refuses) is thrown away; the run boots cold and never hands it out.
        let refused = try await Harness.podmanBootc(["run", "--rm", "--memory", Self.memory, Harness.demoImage, "--", "echo", "ok"],
                                                    environment: progress.merging(["PODMAN_BOOTC_TEST_FAULT": "identity"]) { $1 })
        #expect(refused.status == 0 && refused.stdout == "ok\n", "stderr: \(refused.stderr)")
        #expect(refused.stderr.contains("Restoring VM") && refused.stderr.contains("did not take its own identity")
                && refused.stderr.contains("booting again without warm start")
                && refused.stderr.contains("booting cold") && refused.stderr.contains("Booting VM"), "stderr: \(refused.stderr)")
    }
}
}
