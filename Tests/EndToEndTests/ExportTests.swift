// `export`: a qcow2 from the demo image, and a KubeVirt containerDisk from the demo image with
// cloud-init, whose disk, taken out of the image, boots under plain QEMU with UEFI firmware and
// the exported NoCloud seed, and answers OpenSSH with the exported key and pinned host key.
// And `run --identity cloud-init`, the same identity path on our own host.

import Foundation
import Testing

extension EndToEnd {
@Suite struct ExportTests {
    let cloudInitImage = "localhost/podman-bootc-test:cloud-init"

    func folder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("e2e-export-\(name)-\(UUID().uuidString.prefix(6))")
    }

    func buildCloudInitImage() async throws {
        let folder = Harness.repository.appendingPathComponent("images/cloud-init").path
        let built = try await Harness.run("/usr/bin/podman", ["build", "-q", "--build-arg", "BASE_IMAGE=\(Harness.demoImage)", "-t", cloudInitImage, folder])
        #expect(built.status == 0, "podman build: \(built.stderr)")
    }

    /// The GPT of a disk, as sfdisk reads it: partition type GUIDs in order.
    func partitionTypes(_ disk: String) async throws -> [String] {
        let table = try await Harness.run("/usr/sbin/sfdisk", ["--json", disk])
        struct Table: Decodable { struct Inner: Decodable { struct Part: Decodable { var type: String }; var partitions: [Part] }; var partitiontable: Inner }
        return try JSONDecoder().decode(Table.self, from: Data(table.stdout.utf8)).partitiontable.partitions.map(\.type)
    }

    @Test func qcow2FromTheDemoImageCarriesABootLoader() async throws {
        let out = folder("qcow2")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let disk = out.appendingPathComponent("demo.qcow2").path
        let result = try await Harness.podmanBootc(["export", Harness.demoImage, "--format", "qcow2", "-o", disk, "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("disk: \(disk)"))
        let info = try await Harness.run("/usr/bin/qemu-img", ["info", "--output=json", disk])
        #expect(info.stdout.contains("\"format\": \"qcow2\""), "\(info.stdout)")

        // Back to raw to read its table and its ESP's files.
        let raw = out.appendingPathComponent("demo.raw").path
        #expect(try await Harness.run("/usr/bin/qemu-img", ["convert", "-O", "raw", disk, raw]).status == 0)
        let types = try await partitionTypes(raw)
        #expect(types.count == 2 && types.last == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "\(types)")
        let offset = try await Harness.run("/usr/bin/sh", ["-c", "sfdisk --json \"$1\" | python3 -c 'import json,sys; p=json.load(sys.stdin)[\"partitiontable\"][\"partitions\"][1]; print(p[\"start\"]*512)'", "sh", raw])
        let esp = "\(raw)@@\(offset.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
        let files = try await Harness.run("/usr/bin/mdir", ["-b", "-s", "-i", esp, "::/"])
        for path in ["::/EFI/BOOT/BOOTX64.EFI", "::/vmlinuz", "::/initrd.img", "::/loader/loader.conf", "::/loader/entries/podman-bootc.conf"] {
            #expect(files.stdout.uppercased().contains(path.uppercased()), "\(path) missing from the ESP: \(files.stdout) \(files.stderr)")
        }
        let entry = try await Harness.run("/usr/bin/mtype", ["-i", esp, "::/loader/entries/podman-bootc.conf"])
        #expect(entry.stdout.contains("options root=PARTUUID="), "\(entry.stdout)")

        // Never overwritten; a bad option is a usage error before anything is done.
        let again = try await Harness.podmanBootc(["export", Harness.demoImage, "--format", "qcow2", "-o", disk])
        #expect(again.status == 64 && again.errorLines.first?.contains("exists") == true, "\(again.stderr)")
        let badTag = try await Harness.podmanBootc(["export", Harness.demoImage, "--format", "containerdisk", "-t", "Bad Tag"])
        #expect(badTag.status == 64, "\(badTag.stderr)")
    }

    @Test func containerDiskBootsUnderPlainQEMUWithTheExportedIdentity() async throws {
        try await buildCloudInitImage()
        let out = folder("containerdisk")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let tag = "localhost/podman-bootc-e2e-export:disk"
        defer {
            try? FileManager.default.removeItem(at: out)
            Task { _ = try? await Harness.run("/usr/bin/podman", ["rmi", "-f", tag]) }
        }
        let identity = out.appendingPathComponent("identity")
        let result = try await Harness.podmanBootc(["export", cloudInitImage, "--format", "containerdisk", "-t", tag,
                                                    "--name", "e2e-export", "--identity", identity.path, "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")

        // Exactly /disk/e2e-export.qcow2, owned 107:107, read-only; labelled with the cache key.
        let mount = try await Harness.run("/usr/bin/podman", ["image", "mount", tag])
        let root = mount.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mount.status == 0 && !root.isEmpty, "\(mount.stderr)")
        let listing = try await Harness.run("/usr/bin/find", [root, "-mindepth", "1", "-printf", "%P %U:%G %m\n"])
        #expect(listing.stdout == "disk 107:107 555\ndisk/e2e-export.qcow2 107:107 440\n", "\(listing.stdout)")
        let disk = out.appendingPathComponent("disk.qcow2")
        try FileManager.default.copyItem(atPath: "\(root)/disk/e2e-export.qcow2", toPath: disk.path)
        _ = try await Harness.run("/usr/bin/podman", ["image", "unmount", tag])
        let label = try await Harness.run("/usr/bin/podman", ["image", "inspect", "--format", "{{ index .Labels \"io.podman-bootc.cache-key\" }}", tag])
        #expect(result.stdout.contains("cache key: \(label.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"))

        // The identity folder is private and holds the seed, the key and the pinned host key.
        var info = stat()
        #expect(stat(identity.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(identity.appendingPathComponent("id_ed25519").path, &info) == 0 && info.st_mode & 0o777 == 0o600)

        // Plain QEMU: UEFI firmware, the disk, the seed; no libvirt, no podman-bootc.
        let port = try await Harness.run("/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let vars = out.appendingPathComponent("vars.fd")
        try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.fd", toPath: vars.path)
        let pidFile = out.appendingPathComponent("qemu.pid")
        let qemu = try await Harness.run("/usr/bin/qemu-system-x86_64", [
            // TCG: KVM may be present and unusable (shared/ENVIRONMENT.md); the disk is what is tested.
            "-machine", "q35,accel=tcg", "-m", "2048", "-smp", "2",
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=\(vars.path)",
            "-drive", "file=\(disk.path),format=qcow2,if=virtio",
            "-drive", "file=\(identity.path)/cidata.iso,format=raw,if=virtio,readonly=on",
            "-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:\(port)-:22",
            // An entropy source, as every podman-bootc VM has: the default CPU model has no
            // RDRAND, and without either the guest's getrandom() can block for minutes under TCG.
            "-device", "virtio-rng-pci",
            "-display", "none", "-serial", "file:\(out.path)/serial.log", "-daemonize", "-pidfile", pidFile.path])
        try #require(qemu.status == 0, "qemu: \(qemu.stderr)")
        defer {
            if let pid = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
        }
        // OpenSSH with strict host key checking against the exported known_hosts: the guest
        // must present the host key the seed gave it.
        let ssh = ["-i", "\(identity.path)/id_ed25519", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                   "-o", "UserKnownHostsFile=\(identity.path)/known_hosts", "-o", "HostKeyAlias=e2e-export",
                   "-o", "ConnectTimeout=5", "-p", port, "root@127.0.0.1"]
        var answer = Harness.Result(status: -1, stdout: "", stderr: "")
        _ = try await Harness.waitUntil(timeout: 420) {
            answer = try await Harness.run("/usr/bin/ssh", ssh + ["hostname; id -un"])
            return answer.status == 0
        }
        let console = (try? String(contentsOf: out.appendingPathComponent("serial.log"), encoding: .utf8)) ?? ""
        #expect(answer.status == 0 && answer.stdout == "e2e-export\nroot\n", "ssh: \(answer.stderr)\nconsole tail: \(console.suffix(1500))")

        // Another host key is refused: the pin is what let us in.
        let other = out.appendingPathComponent("other_known_hosts")
        try "e2e-export ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n".write(to: other, atomically: true, encoding: .utf8)
        let refused = try await Harness.run("/usr/bin/ssh", ssh.map { $0 == "UserKnownHostsFile=\(identity.path)/known_hosts" ? "UserKnownHostsFile=\(other.path)" : $0 } + ["true"])
        #expect(refused.status == 255 && refused.stderr.contains("HOST IDENTIFICATION HAS CHANGED"), "\(refused.stderr)")
    }

    /// The portable identity on our own host: no credentials reach the guest, cloud-init sets
    /// the hostname and writes the keys, and the pinned host key lets us in.
    @Test func runWithTheCloudInitIdentity() async throws {
        try await buildCloudInitImage()
        let result = try await Harness.podmanBootc(["run", "--rm", "--identity", "cloud-init", "--name", "e2e-ci-identity", cloudInitImage, "--",
                                                    "hostname; ls /run/credentials/@system 2>/dev/null | wc -l"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "e2e-ci-identity\n0\n", "stdout: \(result.stdout)")
        let both = try await Harness.podmanBootc(["run", "--rm", "--identity", "cloud-init", "--cloudinit", Harness.repository.appendingPathComponent("cloud-init").path,
                                                  cloudInitImage, "--", "true"])
        #expect(both.status == 64, "stderr: \(both.stderr)")
    }

    @Test func kubevirtWritesTheManifestsAndTheContainerDisk() async throws {
        try await buildCloudInitImage()
        let out = folder("kubevirt")
        let tag = "localhost/podman-bootc-e2e-kubevirt:disk"
        defer {
            try? FileManager.default.removeItem(at: out)
            Task { _ = try? await Harness.run("/usr/bin/podman", ["rmi", "-f", tag]) }
        }
        let result = try await Harness.podmanBootc(["export", cloudInitImage, "--format", "kubevirt", "--name", "e2e-kv", "-t", tag, "-o", out.path, "--quiet"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? [])
        #expect(files == ["e2e-kv.vm.yaml", "e2e-kv.cloud-init-secret.yaml", "id_ed25519", "id_ed25519.pub", "known_hosts",
                          "user-data", "meta-data", "cidata.iso"], "\(files)")
        let vm = try String(contentsOf: out.appendingPathComponent("e2e-kv.vm.yaml"), encoding: .utf8)
        #expect(vm.contains("image: \(tag)") && !vm.contains("PRIVATE KEY"), "\(vm)")
        let secret = try String(contentsOf: out.appendingPathComponent("e2e-kv.cloud-init-secret.yaml"), encoding: .utf8)
        let publicKey = try String(contentsOf: out.appendingPathComponent("id_ed25519.pub"), encoding: .utf8).split(separator: " ")[1]
        #expect(secret.contains(String(publicKey)) && secret.contains("ed25519_private"))
        // Lines 0-1 of every OpenSSH ed25519 key are the same; from line 2 on they are the key's own.
        let clientKey = try String(contentsOf: out.appendingPathComponent("id_ed25519"), encoding: .utf8).split(separator: "\n")
        for line in clientKey.dropFirst(2).dropLast() {
            #expect(!secret.contains(line) && !vm.contains(line), "the client's private key never goes into a manifest")
        }
        #expect(result.stdout.contains("virtctl ssh"), "\(result.stdout)")
        let inspect = try await Harness.run("/usr/bin/podman", ["image", "exists", tag])
        #expect(inspect.status == 0)
    }
}
}
