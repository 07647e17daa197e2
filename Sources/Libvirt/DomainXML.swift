// Renders the libvirt domain XML of a podman-bootc VM from a value (golden-tested).

import BootcCore

/// Everything a VM's domain definition says. Paths are absolute host paths.
public struct DomainSpec: Sendable, Equatable {
    public var name: String
    public var uuid: String?
    public var architecture: Architecture
    public var accelerator: Accelerator
    public var cpus: Int
    public var memoryMiB: Int
    /// Direct kernel boot when set; otherwise UEFI firmware boots the disk's bootloader.
    public var kernel: String?
    public var initrd: String?
    public var kernelArguments: [String]
    /// UEFI variable store (per VM); used when `kernel` is nil.
    public var nvram: String?
    public var disk: String
    public var diskFormat: String
    public var consoleLog: String
    public var sshPort: Int
    /// Further ports published with -p.
    public var forwards: [PortForward]
    public var network: NetworkMode = .user
    /// SMBIOS type 11 OEM strings (systemd credentials); x86_64 only.
    public var oemStrings: [String]
    /// systemd credentials as QEMU fw_cfg entries read from files: only the path is in the
    /// XML (libvirt gives QEMU's user access to the file while the VM runs).
    public var firmwareCredentials: [FirmwareCredentialFile]
    /// Our own facts about the VM, kept in the domain under `DomainSpec.metadataNamespace`.
    public var metadata: [(key: String, value: String)]
    /// Path of the QEMU binary; nil lets libvirt pick its default for the architecture.
    public var emulator: String?
    /// A read-only CD-ROM image (the cloud-init NoCloud seed).
    public var cdrom: String?
    /// QEMU starts waiting for a saved machine state (`loadMachineState`) instead of booting.
    public var incomingMigration = false
    /// Keep what the console log holds (a restored VM's log starts with its template's boot).
    public var appendConsoleLog = false
    /// virtio-serial ports whose host ends are Unix sockets libvirt binds (the warm-start
    /// agent's). Our own short paths: libvirt's default one, under the user's home for
    /// qemu:///session, can pass the 107 bytes a socket path may have.
    public var socketChannels: [SocketChannel] = []
    /// The VM generation ID (x86-64: QEMU's vmgenid device, ACPI). A guest kernel (Linux 5.18+)
    /// reseeds its random number generator when it changes, so each VM restored from one saved
    /// state gets its own.
    public var generationID: String?
    /// The QEMU guest agent's channel (org.qemu.guest_agent.0; libvirt picks its socket): how
    /// commands reach a guest without a network card.
    public var qemuGuestAgent = false
    /// Host folders shared over virtiofs (libvirt runs virtiofsd); tag N is the Nth.
    public var sharedFolders: [SharedFolder] = []
    /// The vhost-user sockets of virtiofsd daemons podman-bootc started itself (one per
    /// shared folder, for qemu:///session, where libvirt starts none); empty: libvirt's own.
    public var sharedFolderSockets: [String] = []
    /// The program libvirt runs as each folder's virtiofsd (nil: libvirt's own choice).
    public var virtiofsdBinary: String?
    /// UEFI firmware with Secure Boot enforced and Microsoft's keys enrolled (libvirt picks it
    /// from QEMU's firmware descriptors; it needs SMM); for firmware boots only.
    public var secureBoot = false
    /// An emulated TPM 2.0 (libvirt runs swtpm for it).
    public var tpm = false

    public static let metadataNamespace = "https://podman-bootc.dev/xmlns/vm/1"
    public static let metadataPrefix = "podman-bootc"

    public init(name: String, uuid: String? = nil, architecture: Architecture, accelerator: Accelerator, cpus: Int,
                memoryMiB: Int, kernel: String?, initrd: String?, kernelArguments: [String], nvram: String? = nil, disk: String,
                diskFormat: String = "qcow2", consoleLog: String, sshPort: Int, forwards: [PortForward] = [], oemStrings: [String],
                firmwareCredentials: [FirmwareCredentialFile] = [], cdrom: String? = nil,
                metadata: [(key: String, value: String)] = [], emulator: String? = nil) {
        self.name = name
        self.uuid = uuid
        self.architecture = architecture
        self.accelerator = accelerator
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.kernel = kernel
        self.initrd = initrd
        self.kernelArguments = kernelArguments
        self.nvram = nvram
        self.disk = disk
        self.diskFormat = diskFormat
        self.consoleLog = consoleLog
        self.sshPort = sshPort
        self.forwards = forwards
        self.oemStrings = oemStrings
        self.firmwareCredentials = firmwareCredentials
        self.cdrom = cdrom
        self.metadata = metadata
        self.emulator = emulator
    }

    public static func == (lhs: DomainSpec, rhs: DomainSpec) -> Bool {
        lhs.render() == rhs.render()
    }
}

extension DomainSpec {
    /// The domain XML. Networking goes through <qemu:commandline> because libvirt 9.0
    /// ignores <portForward> on user-mode interfaces; the forward binds 127.0.0.1 only.
    public func render() -> String {
        let e = XMLText.escaped
        var x = "<domain type='\(accelerator == .kvm ? "kvm" : "qemu")' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        x += "  <name>\(e(name))</name>\n"
        if let uuid { x += "  <uuid>\(e(uuid))</uuid>\n" }
        if let generationID, architecture == .x86_64 { x += "  <genid>\(e(generationID))</genid>\n" }
        if !metadata.isEmpty {
            x += "  <metadata>\n"
            x += "    <\(Self.metadataPrefix):vm xmlns:\(Self.metadataPrefix)='\(Self.metadataNamespace)'>\n"
            for (key, value) in metadata {
                x += "      <\(Self.metadataPrefix):\(key)>\(e(value))</\(Self.metadataPrefix):\(key)>\n"
            }
            x += "    </\(Self.metadataPrefix):vm>\n"
            x += "  </metadata>\n"
        }
        x += "  <memory unit='MiB'>\(memoryMiB)</memory>\n"
        x += "  <vcpu>\(cpus)</vcpu>\n"
        if !sharedFolders.isEmpty {
            // virtiofsd maps the guest's memory: it must be shared.
            x += "  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>\n"
        }
        if !oemStrings.isEmpty && architecture == .x86_64 {
            x += "  <sysinfo type='smbios'>\n    <oemStrings>\n"
            for entry in oemStrings { x += "      <entry>\(e(entry))</entry>\n" }
            x += "    </oemStrings>\n  </sysinfo>\n"
        }
        if !firmwareCredentials.isEmpty {
            x += "  <sysinfo type='fwcfg'>\n"
            for credential in firmwareCredentials {
                x += "    <entry name='opt/io.systemd.credentials/\(e(credential.name))' file='\(e(credential.file))'/>\n"
            }
            x += "  </sysinfo>\n"
        }
        if let kernel {
            x += "  <os>\n"
            x += "    <type arch='\(architecture.rawValue)' machine='\(architecture.machineType)'>hvm</type>\n"
            x += "    <kernel>\(e(kernel))</kernel>\n"
            if let initrd { x += "    <initrd>\(e(initrd))</initrd>\n" }
            x += "    <cmdline>\(e(kernelArguments.joined(separator: " ")))</cmdline>\n"
        } else {
            // libvirt picks the firmware from QEMU's descriptors. Without Secure Boot any boot
            // loader (systemd-boot, GRUB, unsigned) starts; with it, only a signed one.
            x += "  <os firmware='efi'>\n"
            x += "    <type arch='\(architecture.rawValue)' machine='\(architecture.firmwareMachineType)'>hvm</type>\n"
            if secureBoot {
                x += "    <firmware>\n      <feature enabled='yes' name='secure-boot'/>\n      <feature enabled='yes' name='enrolled-keys'/>\n    </firmware>\n"
                x += "    <loader secure='yes'/>\n"
            } else {
                x += "    <firmware>\n      <feature enabled='no' name='secure-boot'/>\n    </firmware>\n"
            }
            if let nvram { x += "    <nvram>\(e(nvram))</nvram>\n" }
            x += "    <boot dev='hd'/>\n"
        }
        if !oemStrings.isEmpty && architecture == .x86_64 { x += "    <smbios mode='sysinfo'/>\n" }
        x += "  </os>\n"
        x += "  <features>\n"
        // On the virt machine ACPI tables come from UEFI; a directly booted kernel reads the device tree.
        if architecture == .x86_64 || kernel == nil { x += "    <acpi/>\n" }
        if architecture == .aarch64 { x += "    <gic version='3'/>\n" }
        // Secure Boot's variable store is writable only from SMM (x86-64).
        if secureBoot && kernel == nil && architecture == .x86_64 { x += "    <smm state='on'/>\n" }
        x += "  </features>\n"
        if accelerator == .kvm {
            x += "  <cpu mode='host-passthrough'/>\n"
        } else {
            // Every feature QEMU can emulate: RHEL 9/10-based images need x86-64-v2/v3. (qemu64
            // boots the demo image ~15% faster under TCG, a Haswell model ~30% slower; measured.)
            x += "  <cpu mode='maximum'/>\n"
        }
        x += "  <clock offset='utc'/>\n"
        x += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n"
        x += "  <devices>\n"
        if let emulator { x += "    <emulator>\(e(emulator))</emulator>\n" }
        x += "    <disk type='file' device='disk'>\n"
        x += "      <driver name='qemu' type='\(e(diskFormat))' discard='unmap'/>\n"
        x += "      <source file='\(e(disk))'/>\n"
        x += "      <target dev='vda' bus='virtio'/>\n"
        x += "    </disk>\n"
        if let cdrom {
            // i440FX has IDE, q35 SATA; the virt machine gets a SCSI controller from libvirt.
            let bus = architecture != .x86_64 ? "scsi" : kernel == nil ? "sata" : "ide"
            x += "    <disk type='file' device='cdrom'>\n"
            x += "      <driver name='qemu' type='raw'/>\n"
            x += "      <source file='\(e(cdrom))'/>\n"
            x += "      <target dev='\(bus == "ide" ? "hdc" : "sda")' bus='\(bus)'/>\n"
            x += "      <readonly/>\n"
            x += "    </disk>\n"
        }
        x += "    <serial type='pty'>\n"
        x += "      <log file='\(e(consoleLog))' append='\(appendConsoleLog ? "on" : "off")'/>\n"
        x += "      <target port='0'/>\n"
        x += "    </serial>\n"
        x += "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n"
        x += "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n"
        for channel in socketChannels {
            x += "    <channel type='unix'>\n      <source mode='bind' path='\(e(channel.path))'/>\n"
            x += "      <target type='virtio' name='\(e(channel.name))'/>\n    </channel>\n"
        }
        for (index, folder) in sharedFolders.enumerated() where sharedFolderSockets.isEmpty {
            x += "    <filesystem type='mount' accessmode='passthrough'>\n      <driver type='virtiofs'/>\n"
            if let virtiofsdBinary { x += "      <binary path='\(e(virtiofsdBinary))'/>\n" }
            x += "      <source dir='\(e(folder.hostPath))'/>\n      <target dir='\(SharedFolder.tag(index))'/>\n    </filesystem>\n"
        }
        if qemuGuestAgent {
            x += "    <channel type='unix'>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>\n"
        }
        if tpm {
            // The state lives where libvirt keeps swtpm's (libvirt 9 has no per-domain path):
            // removed when a transient domain stops or a defined one is undefined.
            x += "    <tpm model='\(architecture == .x86_64 ? "tpm-crb" : "tpm-tis-device")'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>\n"
        }
        // No USB controller: nothing uses it, and probing it costs the guest boot time.
        x += "    <controller type='usb' model='none'/>\n"
        x += "    <memballoon model='none'/>\n"
        x += "  </devices>\n"
        x += "  <qemu:commandline>\n"
        for arg in qemuArguments { x += "    <qemu:arg value='\(e(arg))'/>\n" }
        x += "  </qemu:commandline>\n"
        x += "</domain>\n"
        return x
    }

    /// Networking, the emulated CPU's tuning and, for a restore, the deferred incoming state.
    /// The NIC sits at PCI slot 0x1e of the root bus: libvirt fills slots from 1 upward with
    /// its own devices and does not know about this one.
    var qemuArguments: [String] {
        var arguments: [String] = []
        if network.hasNetworkCard {
            let published = forwards.map { ",hostfwd=\($0.hostfwd)" }.joined()
            // restrict=on: the guest's packets go nowhere (not to the host, not out); the
            // forwards still come in.
            let restrict = network == .isolated ? ",restrict=on" : ""
            arguments += ["-netdev", "user,id=podman-bootc-net0\(restrict),hostfwd=tcp:127.0.0.1:\(sshPort)-:22\(published)",
                          "-device", "virtio-net-pci,netdev=podman-bootc-net0,addr=0x1e"]
        }
        for (index, socket) in sharedFolderSockets.enumerated() {
            // Slots from 0x1d down, beside the NIC's 0x1e (libvirt fills slots from 1 up);
            // QEMU's option syntax doubles a comma inside a value.
            let chardev = "podman-bootc-fs\(index)"
            arguments += ["-chardev", "socket,id=\(chardev),path=\(socket.replacingOccurrences(of: ",", with: ",,"))",
                          "-device", "vhost-user-fs-pci,chardev=\(chardev),tag=\(SharedFolder.tag(index)),addr=0x\(String(0x1d - index, radix: 16))"]
        }
        if architecture == .aarch64 && accelerator == .tcg {
            // The emulated `max` CPU signs pointers with QARMA, costly in software; QEMU's own
            // algorithm (as QEMU's docs advise for TCG) took the Debian arm64 test image from
            // 83 s to 31 s to SSH here.
            arguments += ["-global", "max-arm-cpu.pauth-impdef=on"]
        }
        if incomingMigration { arguments += ["-incoming", "defer"] }
        return arguments
    }

}

/// A virtio-serial port named `name` in the guest, a Unix socket at `path` on the host.
public struct SocketChannel: Sendable, Equatable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

/// A systemd credential QEMU reads from a file into fw_cfg (opt/io.systemd.credentials/NAME);
/// systemd 252+ imports it at boot like an SMBIOS one.
public struct FirmwareCredentialFile: Sendable, Equatable {
    public var name: String
    public var file: String

    public init(name: String, file: String) {
        self.name = name
        self.file = file
    }
}

extension DomainSpec {
    /// The XML with every per-VM value left out (name, paths, ports, credential contents,
    /// hostname): what a saved machine state of this VM depends on.
    public var shapeXML: String {
        var shape = self
        shape.name = "vm"
        shape.uuid = nil
        shape.metadata = []
        shape.disk = "/disk"
        shape.consoleLog = "/console.log"
        shape.nvram = nvram == nil ? nil : "/efivars.fd"
        shape.sshPort = 22
        shape.forwards = []
        shape.oemStrings = oemStrings.map { _ in "-" }
        shape.firmwareCredentials = firmwareCredentials.map { FirmwareCredentialFile(name: $0.name, file: "/credentials/\($0.name)") }
        shape.kernelArguments = kernelArguments.filter { !$0.hasPrefix("systemd.hostname=") }
        shape.cdrom = cdrom == nil ? nil : "/cdrom"
        shape.incomingMigration = false
        shape.appendConsoleLog = false
        shape.socketChannels = socketChannels.map { SocketChannel(name: $0.name, path: "/vm/" + ($0.path.split(separator: "/").last.map(String.init) ?? "")) }
        // Whether there is one belongs to the machine; its value to each VM.
        shape.generationID = generationID == nil ? nil : "00000000-0000-0000-0000-000000000000"
        return shape.render()
    }
}
