import BootcCore
import Testing
import Yams
@testable import Export

@Suite struct CloudInitIdentityTests {
    let identity = CloudInitIdentity(
        hostname: "demo", user: .root, authorizedKeyLine: "ssh-ed25519 AAAAuser podman-bootc-demo",
        hostPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n",
        hostPublicKeyLine: "ssh-ed25519 AAAAhost podman-bootc-host-demo")

    @Test func userDataIsCloudConfigWithTheKeysAndHostname() throws {
        let text = try identity.userData()
        #expect(text.hasPrefix("#cloud-config\n"))
        let config = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(config["hostname"] as? String == "demo")
        #expect(config["disable_root"] as? Bool == false)
        #expect(config["ssh_pwauth"] as? Bool == false)
        let users = try #require(config["users"] as? [[String: Any]])
        #expect(users.first?["name"] as? String == "root")
        #expect(users.first?["ssh_authorized_keys"] as? [String] == ["ssh-ed25519 AAAAuser podman-bootc-demo"])
        let keys = try #require(config["ssh_keys"] as? [String: String])
        #expect(keys["ed25519_private"] == identity.hostPrivateKey)
        #expect(keys["ed25519_public"] == identity.hostPublicKeyLine)
        #expect(config["ssh_genkeytypes"] as? [String] == [])
    }

    @Test func aUserOtherThanRootGetsSudoAndAShell() throws {
        var other = identity
        other.user = try #require(GuestUser("dev"))
        let config = try #require(try Yams.load(yaml: try other.userData()) as? [String: Any])
        let user = try #require((config["users"] as? [[String: Any]])?.first)
        #expect(user["name"] as? String == "dev")
        #expect(user["sudo"] as? String == "ALL=(ALL) NOPASSWD:ALL")
        #expect(user["lock_passwd"] as? Bool == true)
    }

    /// A hostile value stays one YAML scalar: it cannot add keys such as `runcmd`.
    @Test func valuesCannotAddCloudConfigKeys() throws {
        var hostile = identity
        hostile.authorizedKeyLine = "ssh-ed25519 AAAA x\nruncmd: [touch /pwned]\n"
        hostile.hostname = "demo\nruncmd: [reboot]"
        let config = try #require(try Yams.load(yaml: try hostile.userData()) as? [String: Any])
        #expect(config["runcmd"] == nil)
        #expect(config["hostname"] as? String == "demo\nruncmd: [reboot]")
    }

    @Test func withoutTheHostKeyTheGuestMakesItsOwn() throws {
        let config = try #require(try Yams.load(yaml: try identity.userData(includeHostKey: false)) as? [String: Any])
        #expect(config["ssh_keys"] == nil)
        #expect(config["ssh_genkeytypes"] as? [String] == ["ed25519"])
    }

    @Test func metaDataAndKnownHosts() throws {
        let meta = try #require(try Yams.load(yaml: try identity.metaData(instanceID: "i-1")) as? [String: String])
        #expect(meta == ["instance-id": "i-1", "local-hostname": "demo"])
        #expect(identity.knownHostsLine == "demo ssh-ed25519 AAAAhost\n")
    }
}
