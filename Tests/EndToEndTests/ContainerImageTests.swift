// The tool as a container image, built offline (scripts/build-container-image.sh: mmdebstrap
// bases, this machine's Swift toolchain as a build volume): inside it, `run --rm` boots the
// demo image, given as the host's `podman image mount`, and returns the guest command's
// output and exit status. No --privileged. Then the same image under a user's rootless podman,
// with the image to boot mounted by podman itself (--mount type=image) and no network.

import Foundation
import Testing

extension EndToEnd {
@Suite struct ContainerImageTests {
    static let tag = "localhost/podman-bootc:e2e"

    @Test func runBootsTheDemoImageInsideTheToolsContainer() async throws {
        let script = Harness.repository.appendingPathComponent("scripts/build-container-image.sh").path
        let built = try await Harness.run("/bin/bash", [script, Self.tag])
        #expect(built.status == 0, "build-container-image: \(built.stderr.suffix(3000))")
        guard built.status == 0 else { return }

        let mounted = try await Harness.run("/usr/bin/podman", ["image", "mount", Harness.demoImage])
        let rootfs = mounted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mounted.status == 0 && rootfs.hasPrefix("/"), "podman image mount: \(mounted.stderr)")
        let volume = "podman-bootc-e2e-cache-\(UUID().uuidString.prefix(6).lowercased())"
        var arguments = ["run", "--rm", "-v", "\(volume):/cache", "-v", "\(rootfs):/image:ro"]
        // KVM when the host has a device to pass; podman-bootc probes whether it works.
        if FileManager.default.fileExists(atPath: "/dev/kvm") { arguments += ["--device", "/dev/kvm"] }
        arguments += [Self.tag, "run", "--rm", "/image", "--", "sh", "-c", "echo inside-$(hostname | cut -c1-5); exit 4"]
        let result = try await Harness.run("/usr/bin/podman", arguments)
        #expect(result.status == 4, "stderr: \(result.stderr.suffix(3000))")
        #expect(result.stdout == "inside-image\n", "stdout: \(result.stdout)")

        _ = try await Harness.run("/usr/bin/podman", ["image", "unmount", Harness.demoImage])
        _ = try await Harness.run("/usr/bin/podman", ["volume", "rm", "-f", volume])
        try await runUnderRootlessPodman()
    }

    func runUnderRootlessPodman() async throws {
        let user = try await RootlessUser.ensure("podman-bootc-e2e")
        _ = try await user.podman(["rmi", "-f", Self.tag])
        try await user.load(Self.tag)
        try await user.load(Harness.demoImage)
        let volume = "podman-bootc-e2e-cache-\(UUID().uuidString.prefix(6).lowercased())"
        // No container network: QEMU's user networking and the SSH forward live inside the
        // container's own loopback (rootless networking would need slirp4netns).
        var arguments = ["run", "--rm", "--network", "none", "-v", "\(volume):/cache",
                         "--mount", "type=image,source=\(Harness.demoImage),destination=/image"]
        if FileManager.default.fileExists(atPath: "/dev/kvm") { arguments += ["--device", "/dev/kvm"] }
        arguments += [Self.tag, "run", "--rm", "/image", "--", "id", "-u"]
        let result = try await user.podman(arguments)
        #expect(result.status == 0, "rootless podman run: \(result.stderr.suffix(3000))")
        #expect(result.stdout == "0\n", "stdout: \(result.stdout)")
        #expect(!result.stderr.contains("Operation not permitted"), "stderr: \(result.stderr.suffix(2000))")
        _ = try await user.podman(["volume", "rm", "-f", volume])
        _ = try await user.podman(["rmi", "-f", Self.tag])
    }
}
}
