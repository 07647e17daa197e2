// Which libvirt URIs name another host, and the SSH hop podman-bootc derives from them.

import BootcCore
import Testing

@Suite struct RemoteLibvirtURITests {
    @Test(arguments: ["qemu:///system", "qemu:///session", "test:///default", "qemu+unix:///system", "not a uri"])
    func urisOfThisMachineAreNotRemote(_ uri: String) throws {
        #expect(try RemoteLibvirtURI.parse(uri) == nil)
    }

    @Test func anSSHURIGivesHostUserPortAndKeyOptions() throws {
        let remote = try #require(try RemoteLibvirtURI.parse("qemu+ssh://ci@hv1.example:2222/system?keyfile=/k/id&known_hosts=/k/hosts"))
        #expect(remote.host == "hv1.example" && remote.user == "ci" && remote.port == 2222)
        #expect(!remote.isSession && remote.keyFile == "/k/id" && remote.knownHosts == "/k/hosts")
        let jump = remote.jumpHost(localUser: "me", home: "/home/me")
        #expect(jump == JumpHost(host: "hv1.example", port: 2222, user: "ci",
                                 keyFiles: ["/k/id", "/home/me/.ssh/id_ed25519", "/home/me/.ssh/id_ecdsa", "/home/me/.ssh/id_rsa"],
                                 knownHosts: "/k/hosts"))
        #expect(jump.knownHostsName == "[hv1.example]:2222")
    }

    @Test func defaultsAreOpenSSHs() throws {
        let remote = try #require(try RemoteLibvirtURI.parse("qemu+libssh2://hv1/session"))
        #expect(remote.isSession)
        let jump = remote.jumpHost(localUser: "me", home: "/home/me")
        #expect(jump.user == "me" && jump.port == 22 && jump.knownHosts == "/home/me/.ssh/known_hosts" && jump.knownHostsName == "hv1")
    }

    @Test(arguments: ["qemu+tcp://hv1/system", "qemu+tls://hv1/system", "qemu://hv1/system", "qemu+ssh://hv1/", "qemu+ssh://hv1/system/x",
                      "lxc+ssh://hv1/", "qemu+ssh://-oProxyCommand=x/system", "qemu+ssh://-l@hv1/system"])
    func remoteURIsThatCannotBeReachedAreUsageErrors(_ uri: String) throws {
        let error = try #require(throws: RemoteURIError.self) { try RemoteLibvirtURI.parse(uri) }
        #expect(error.exitCode == 64)
        #expect(error.description.contains("qemu+ssh://") || error.description.contains("no usable host"), "\(error)")
    }
}
