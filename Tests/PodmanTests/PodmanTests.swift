// podman argv and the decoding of its JSON output.

import Foundation
import GoldenFiles
@testable import Podman
import Testing

@Suite struct PodmanTests {
    @Test func argvGolden() throws {
        let reference = "localhost/podman-bootc-test:debian"
        let commands = [
            PodmanArguments.inspectImage(reference),
            PodmanArguments.pull("quay.io/fedora/fedora-bootc:42"),
            PodmanArguments.mountImage("0123abcd"),
            PodmanArguments.unmountImage("0123abcd"),
            PodmanEndpoint.rootless(user: "alice", home: "/home/alice").command(PodmanArguments.save(reference)),
            PodmanEndpoint.local.command(PodmanArguments.load),
            PodmanEndpoint.connection("podman-machine-default-root").command(PodmanArguments.inspectImage(reference)),
            PodmanEndpoint.connection("podman-machine-default-root").command(PodmanArguments.load),
        ]
        try Golden.check(commands.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n", "podman-argv.txt")
    }

    @Test func sudoUserStorageNeedsARealNonRootAccount() {
        #expect(PodmanEndpoint.sudoUserStorage(environment: [:]) == nil)
        #expect(PodmanEndpoint.sudoUserStorage(environment: ["SUDO_USER": "root"]) == nil)
        #expect(PodmanEndpoint.sudoUserStorage(environment: ["SUDO_USER": "no-such-user-podman-bootc"]) == nil)
        if geteuid() == 0, getpwnam("nobody") != nil {
            #expect(PodmanEndpoint.sudoUserStorage(environment: ["SUDO_USER": "nobody"]) != nil)
        }
    }

    @Test func referencesStartingWithADashCannotBecomeFlags() {
        #expect(PodmanArguments.inspectImage("--help").suffix(2) == ["--", "--help"])
    }

    @Test func decodesInspectOutput() throws {
        // Shape of `podman image inspect --format json` from podman 4.3, trimmed.
        let json = """
            [{"Id": "5f2c", "Digest": "sha256:abcd", "RepoTags": ["localhost/podman-bootc-test:debian"],
              "Size": 692000000, "Architecture": "amd64", "Os": "linux",
              "Labels": {"containers.bootc": "1"}, "Config": {"Cmd": ["/sbin/init"]}}]
            """
        let image = try #require(try ImageInspection.decode(json).first)
        #expect(image.id == "5f2c")
        #expect(image.size == 692_000_000)
        #expect(image.architecture == "amd64")
        #expect(image.labels?["containers.bootc"] == "1")
    }

    @Test(arguments: [("quay.io/fedora/fedora-bootc:42", true), ("registry:5000/x", true),
                      ("localhost/podman-bootc-test:debian", false), ("fedora", false), ("library/fedora", false)])
    func pullsOnlyRegistryReferences(reference: String, pulls: Bool) {
        #expect(Podman.namesRegistry(reference) == pulls)
    }
}

@Suite struct ImageReferenceTests {
    @Test(arguments: ["debian", "localhost/podman-bootc-test:debian", "quay.io/fedora/fedora-bootc:42",
                      "registry.example.com:5000/a/b_c/d-e:1.0", "docker.io/library/ubuntu@sha256:" + String(repeating: "a", count: 64),
                      "0ac2dfd172b3", "a__b", "a---b"])
    func valid(reference: String) {
        #expect(ImageReference.isValid(reference))
    }

    @Test(arguments: ["", "Debian", "upper/Case", "a b", "a\nb", "-a", "a-", "a/", "/a", "a//b", "a:", "a:-x", "a@sha256:12",
                      "a..b", "a___b", "réseau/x", "x:" + String(repeating: "t", count: 129), "host:99999/x", "a:b:c"])
    func invalid(reference: String) {
        #expect(!ImageReference.isValid(reference))
    }
}
