// The domain XML (golden) and the wrapper against libvirt's in-process test driver.

import BootcCore
import Foundation
import GoldenFiles
@testable import Libvirt
import Testing

@Suite struct DomainXMLTests {
    static func spec(_ architecture: Architecture, _ accelerator: Accelerator) -> DomainSpec {
        var spec = DomainSpec(
            name: "podman-bootc-test-3f2a", architecture: architecture, accelerator: accelerator, cpus: 2, memoryMiB: 2048,
            kernel: "/var/lib/podman-bootc/cache/k/vmlinuz", initrd: "/var/lib/podman-bootc/cache/k/initrd.img",
            kernelArguments: ["root=/dev/vda1", "rw", "console=\(architecture.serialConsole)"],
            disk: "/var/lib/podman-bootc/vms/3f2a/disk.qcow2", consoleLog: "/var/lib/podman-bootc/vms/3f2a/console.log",
            sshPort: 40022, oemStrings: architecture == .x86_64 ? ["io.systemd.credential.binary:tmpfiles.extra=ZCAvcm9vdC8uc3No"] : [],
            firmwareCredentials: [FirmwareCredentialFile(name: "podman-bootc.ssh-host-key",
                                                         file: "/var/lib/podman-bootc/vms/3f2a/credentials/podman-bootc.ssh-host-key")]
                + (architecture == .x86_64 ? [] : [FirmwareCredentialFile(name: "tmpfiles.extra",
                                                                          file: "/var/lib/podman-bootc/vms/3f2a/credentials/tmpfiles.extra")]),
            metadata: [("id", "3f2a00000000"), ("image", "localhost/podman-bootc-test:debian")])
        spec.socketChannels = [SocketChannel(name: "org.podman-bootc.agent.out", path: "/var/lib/podman-bootc/vms/3f2a/agent.out"),
                               SocketChannel(name: "org.podman-bootc.agent.err", path: "/var/lib/podman-bootc/vms/3f2a/agent.err")]
        spec.generationID = "6f1e0c2a-43b1-4d0e-9a57-2f3c0b9e8d11"
        return spec
    }

    @Test func x86TCG() throws {
        try Golden.check(Self.spec(.x86_64, .tcg).render(), "domain-x86_64-tcg.xml")
    }

    @Test func uefiBootsTheDisksBootloader() throws {
        var spec = Self.spec(.x86_64, .tcg)
        spec.kernel = nil
        spec.initrd = nil
        spec.nvram = "/var/lib/podman-bootc/vms/3f2a/efivars.fd"
        try Golden.check(spec.render(), "domain-x86_64-uefi.xml")
    }

    /// Secure Boot: firmware with it enforced and Microsoft's keys enrolled, SMM on; a TPM 2.0
    /// emulated by swtpm.
    @Test func secureBootAndTPM() throws {
        var spec = Self.spec(.x86_64, .tcg)
        spec.kernel = nil
        spec.initrd = nil
        spec.nvram = "/var/lib/podman-bootc/vms/3f2a/efivars.fd"
        spec.secureBoot = true
        spec.tpm = true
        try Golden.check(spec.render(), "domain-x86_64-secureboot-tpm.xml")
        #expect(!Self.spec(.x86_64, .tcg).render().contains("<tpm"))
    }

    @Test func cloudInitSeedIsAReadOnlyCDROM() throws {
        var spec = Self.spec(.x86_64, .tcg)
        spec.cdrom = "/var/lib/podman-bootc/vms/3f2a/cidata.iso"
        try Golden.check(spec.render(), "domain-x86_64-cloudinit.xml")
    }

    @Test func restoredVMWaitsForItsStateAndKeepsTheTemplatesLog() throws {
        var spec = Self.spec(.x86_64, .tcg)
        spec.uuid = "8a0f6c52-51c3-4c1b-9a43-0d1f1e7b2c11"
        spec.incomingMigration = true
        spec.appendConsoleLog = true
        try Golden.check(spec.render(), "domain-x86_64-restore.xml")
    }

    /// The shape is what a saved state depends on: the machine, not the VM's name or files.
    @Test func shapeIgnoresPerVMValuesOnly() {
        let base = Self.spec(.x86_64, .tcg)
        var other = base
        other.name = "another-vm"
        other.uuid = "8a0f6c52-51c3-4c1b-9a43-0d1f1e7b2c11"
        other.disk = "/elsewhere/disk.qcow2"
        other.consoleLog = "/elsewhere/console.log"
        other.sshPort = 41000
        other.forwards = [PortForward(parsing: "8080:80")!]
        other.oemStrings = ["io.systemd.credential.binary:tmpfiles.extra=b3RoZXI="]
        other.kernelArguments += ["systemd.hostname=another-vm"]
        other.metadata = [("id", "ffff00000000")]
        other.generationID = "0b5d7a4e-1f2c-4e3a-8d6b-7c9e0f1a2b3c"
        other.socketChannels = base.socketChannels.map { SocketChannel(name: $0.name, path: "/elsewhere/" + ($0.path.split(separator: "/").last ?? "")) }
        #expect(other.shapeXML == base.shapeXML)
        // Every restore presents a generation ID of its own; whether there is one is the machine's.
        #expect(other.render().contains("<genid>0b5d7a4e-1f2c-4e3a-8d6b-7c9e0f1a2b3c</genid>"))
        var withoutGenerationID = base
        withoutGenerationID.generationID = nil
        #expect(withoutGenerationID.shapeXML != base.shapeXML)
        var bigger = base
        bigger.memoryMiB = 4096
        #expect(bigger.shapeXML != base.shapeXML)
        var moreArguments = base
        moreArguments.kernelArguments += ["quiet"]
        #expect(moreArguments.shapeXML != base.shapeXML)
    }

    @Test func x86KVMUsesTheHostCPU() {
        let xml = Self.spec(.x86_64, .kvm).render()
        #expect(xml.hasPrefix("<domain type='kvm'"))
        #expect(xml.contains("<cpu mode='host-passthrough'/>"))
    }

    @Test func aarch64PassesCredentialsThroughFirmwareConfig() throws {
        try Golden.check(Self.spec(.aarch64, .tcg).render(), "domain-aarch64-tcg.xml")
    }

    @Test func secretCredentialsAreFilesNeverValues() {
        let xml = Self.spec(.x86_64, .tcg).render()
        #expect(xml.contains("<sysinfo type='fwcfg'>"))
        #expect(xml.contains("file='/var/lib/podman-bootc/vms/3f2a/credentials/podman-bootc.ssh-host-key'"))
        #expect(!xml.contains("PRIVATE"))
    }

    @Test func sshForwardBindsLoopbackOnly() {
        #expect(Self.spec(.x86_64, .tcg).render().contains("hostfwd=tcp:127.0.0.1:40022-:22"))
    }

    @Test func valuesAreEscaped() {
        var spec = Self.spec(.x86_64, .tcg)
        spec.metadata = [("image", "evil'/><x a=\"&\">")]
        spec.kernelArguments = ["a<b"]
        let xml = spec.render()
        #expect(xml.contains("evil&apos;/&gt;&lt;x a=&quot;&amp;&quot;&gt;"))
        #expect(xml.contains("<cmdline>a&lt;b</cmdline>"))
        spec.firmwareCredentials = [FirmwareCredentialFile(name: "x'y", file: "/a&b")]
        #expect(spec.render().contains("<entry name='opt/io.systemd.credentials/x&apos;y' file='/a&amp;b'/>"))
    }

    @Test func uriDefaults() {
        #expect(LibvirtConnection.resolveURI(explicit: "test:///default", environment: ["LIBVIRT_DEFAULT_URI": "x"], isRoot: true) == "test:///default")
        #expect(LibvirtConnection.resolveURI(explicit: nil, environment: ["LIBVIRT_DEFAULT_URI": "qemu+ssh://h/system"], isRoot: true) == "qemu+ssh://h/system")
        #expect(LibvirtConnection.resolveURI(explicit: nil, environment: [:], isRoot: true) == "qemu:///system")
        #expect(LibvirtConnection.resolveURI(explicit: nil, environment: [:], isRoot: false) == "qemu:///session")
    }
}

/// The C wrapper against libvirt's `test:///default` driver: real libvirt, no daemon.
@Suite struct LibvirtConnectionTests {
    static let xml = """
        <domain type='test'>
          <name>podman-bootc-unit</name>
          <memory unit='MiB'>128</memory>
          <os><type>hvm</type></os>
          <metadata><podman-bootc:vm xmlns:podman-bootc='\(DomainSpec.metadataNamespace)'><podman-bootc:id>abc</podman-bootc:id></podman-bootc:vm></metadata>
        </domain>
        """

    @Test func lifecycle() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        let domain = try connection.define(xml: Self.xml)
        #expect(try domain.state() == .stopped)
        try domain.start()
        #expect(try domain.state() == .running)
        #expect(domain.isActive)
        #expect(domain.podmanBootcMetadata()?.contains("<id>abc</id>") == true)
        #expect(try connection.allDomains().contains { $0.name == "podman-bootc-unit" })
        try domain.remove()
        #expect(try connection.domain(named: "podman-bootc-unit") == nil)
    }

    @Test func transientDomainsVanishWhenDestroyed() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        let domain = try connection.createTransient(xml: Self.xml.replacingOccurrences(of: "podman-bootc-unit", with: "podman-bootc-transient"), autoDestroy: false)
        #expect(!domain.isPersistent)
        try domain.remove()
        #expect(try connection.domain(named: "podman-bootc-transient") == nil)
    }

    @Test func errorsCarryLibvirtsMessage() throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        #expect(throws: LibvirtError.self) { try connection.define(xml: "<domain type='test'><name>x</name>") }
        #expect(throws: LibvirtConnectionError.self) { try LibvirtConnection(uri: "qemu+unix:///system?socket=/nonexistent/sock") }
    }
}

/// Storage pool and volume XML, and the sparse sections a disk upload sends.
@Suite struct StorageXMLTests {
    @Test func anOverlayVolumeNamesItsBackingVolumeEscaped() {
        let spec = StorageVolumeSpec(name: "vm-1.overlay.qcow2", capacityBytes: 10 << 30, format: "qcow2",
                                     backingPath: "/pool/disk-<k>&'.raw", backingFormat: "raw")
        #expect(spec.render() == """
            <volume>
              <name>vm-1.overlay.qcow2</name>
              <capacity unit='bytes'>10737418240</capacity>
              <target>
                <format type='qcow2'/>
                <permissions>
                  <mode>600</mode>
                </permissions>
              </target>
              <backingStore>
                <path>/pool/disk-&lt;k&gt;&amp;&apos;.raw</path>
                <format type='raw'/>
              </backingStore>
            </volume>

            """)
    }

    @Test func aRawVolumeStartsUnallocatedAndAPoolIsPrivate() {
        #expect(StorageVolumeSpec(name: "d", capacityBytes: 1, format: "raw").render().contains("<allocation unit='bytes'>0</allocation>"))
        let pool = StorageVolumeSpec.directoryPoolXML(name: "podman-bootc", path: "/home/a b/<x>")
        #expect(pool.contains("<path>/home/a b/&lt;x&gt;</path>") && pool.contains("<mode>0711</mode>"))
    }

    @Test func sparseSectionsFollowTheFilesDataAndHoles() throws {
        let path = "/var/tmp/podman-bootc-sparse-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        // 1 MiB data, 8 MiB hole, 1 MiB data, hole to 16 MiB.
        let chunk = [UInt8](repeating: 7, count: 1 << 20)
        #expect(pwrite(fd, chunk, chunk.count, 0) == chunk.count)
        #expect(pwrite(fd, chunk, chunk.count, 9 << 20) == chunk.count)
        #expect(ftruncate(fd, 16 << 20) == 0)
        var sections: [(Bool, Int64)] = []
        lseek(fd, 0, SEEK_SET)
        while lseek(fd, 0, SEEK_CUR) < 16 << 20 {
            var inData: Int32 = 0
            var length: Int64 = 0
            #expect(SparseFile.section(fd, inData: &inData, length: &length) == 0)
            guard length > 0 else { break }
            sections.append((inData == 1, length))
            lseek(fd, off_t(length), SEEK_CUR)
        }
        #expect(sections.map(\.0) == [true, false, true, false], "\(sections)")
        #expect(sections.map(\.1).reduce(0, +) == 16 << 20)
        #expect(sections[0].1 >= 1 << 20 && sections[2].1 >= 1 << 20)
    }
}

@Suite struct NetworkModeXMLTests {
    @Test func isolatedRestrictsTheUserNetworkAndKeepsTheForwards() {
        var spec = DomainXMLTests.spec(.x86_64, .tcg)
        spec.network = .isolated
        spec.forwards = [PortForward(parsing: "8080:80")!]
        let xml = spec.render()
        #expect(xml.contains("user,id=podman-bootc-net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:8080-:80"), "\(xml)")
        #expect(spec.shapeXML != DomainXMLTests.spec(.x86_64, .tcg).shapeXML, "a warm state of one network is not another's")
    }

    @Test func noneHasNoCardAndTheGuestAgentChannel() {
        var spec = DomainXMLTests.spec(.x86_64, .tcg)
        spec.network = .none
        spec.qemuGuestAgent = true
        let xml = spec.render()
        #expect(!xml.contains("-netdev") && !xml.contains("virtio-net"), "\(xml)")
        #expect(xml.contains("<target type='virtio' name='org.qemu.guest_agent.0'/>"))
    }
}

@Suite struct SharedFolderXMLTests {
    @Test func virtiofsFoldersShareTheGuestsMemoryAndEscapeTheirPaths() {
        var spec = DomainXMLTests.spec(.x86_64, .tcg)
        spec.sharedFolders = [SharedFolder(hostPath: "/srv/a&b'<c>", guestPath: "/mnt/a", readOnly: false)]
        let xml = spec.render()
        #expect(xml.contains("<memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>"))
        #expect(xml.contains("<driver type='virtiofs'/>\n      <source dir='/srv/a&amp;b&apos;&lt;c&gt;'/>\n      <target dir='podman-bootc-0'/>"), "\(xml)")
        #expect(!DomainXMLTests.spec(.x86_64, .tcg).render().contains("memoryBacking"))
    }

    /// A user's VM: podman-bootc's own daemons, attached by QEMU options instead of libvirt's.
    @Test func ownDaemonsAreAttachedThroughVhostUserSockets() {
        var spec = DomainXMLTests.spec(.x86_64, .tcg)
        spec.sharedFolders = [SharedFolder(hostPath: "/srv/a", guestPath: "/mnt/a", readOnly: false),
                              SharedFolder(hostPath: "/srv/b", guestPath: "/mnt/b", readOnly: true)]
        spec.sharedFolderSockets = ["/home/u/vms/1/fs0.sock", "/home/u,x/vms/1/fs1.sock"]
        let xml = spec.render()
        #expect(!xml.contains("<filesystem"))
        #expect(xml.contains("<access mode='shared'/>"), "the daemons map the guest's memory")
        #expect(spec.qemuArguments.suffix(8) == [
            "-chardev", "socket,id=podman-bootc-fs0,path=/home/u/vms/1/fs0.sock",
            "-device", "vhost-user-fs-pci,chardev=podman-bootc-fs0,tag=podman-bootc-0,addr=0x1d",
            "-chardev", "socket,id=podman-bootc-fs1,path=/home/u,,x/vms/1/fs1.sock",
            "-device", "vhost-user-fs-pci,chardev=podman-bootc-fs1,tag=podman-bootc-1,addr=0x1c",
        ])
    }
}
