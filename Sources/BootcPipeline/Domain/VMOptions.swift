// What a VM launch is asked for, and what it hands back.

import BootcCore
import Foundation
import Host
import Libvirt

/// The VM a launch creates, whatever image it boots.
package struct VMOptions: Sendable {
    package var name: String?
    package var cpus: Int
    package var memoryMiB: Int
    package var disk: DiskChoices
    package var accelerator: Accelerator?
    package var forwards: [PortForward] = []
    package var network: NetworkMode = .user
    /// -v: host folders shared into the guest.
    package var sharedFolders: [SharedFolder] = []
    package var transientDisk = false
    /// Who the key is installed for (root always; a user the guest creates when missing).
    package var user: GuestUser = .root
    /// A folder with cloud-init user-data (meta-data, network-config): a NoCloud seed CD-ROM.
    package var cloudInit: URL?
    /// How the VM gets its login key, host key and hostname.
    package var identity: IdentityDelivery = .credentials
    package var removeOnExit: Bool
    package var libvirtURI: String?
    package var sshTimeout: Duration
    package var warmStart: WarmMode = .auto
    /// Nothing logs in over SSH at first (a `--rm` run of one command): a restored VM gets
    /// its login keys in the background while the guest agent runs the command.
    package var agentOnlyAtFirst = false
    /// UEFI Secure Boot enforced, Microsoft's keys enrolled (a direct-installed disk boots
    /// through the image's signed shim and GRUB).
    package var secureBoot = false
    /// An emulated TPM 2.0 (swtpm, through libvirt).
    package var tpm = false

    package init(name: String? = nil, cpus: Int = 2, memoryMiB: Int = 2048, disk: DiskChoices = DiskChoices(),
                 accelerator: Accelerator? = nil, forwards: [PortForward] = [], transientDisk: Bool = false,
                 user: GuestUser = .root, cloudInit: URL? = nil, removeOnExit: Bool, libvirtURI: String? = nil,
                 sshTimeout: Duration = .seconds(300), warmStart: WarmMode = .auto) {
        self.name = name
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.disk = disk
        self.accelerator = accelerator
        self.forwards = forwards
        self.transientDisk = transientDisk
        self.user = user
        self.cloudInit = cloudInit
        self.removeOnExit = removeOnExit
        self.libvirtURI = libvirtURI
        self.sshTimeout = sshTimeout
        self.warmStart = warmStart
    }
}

package enum IdentityDelivery: String, Sendable, CaseIterable {
    /// systemd credentials through SMBIOS (x86_64) or fw_cfg: no guest software needed.
    case credentials
    /// A cloud-init NoCloud seed, as an exported disk gets it elsewhere (the image must run
    /// cloud-init): tests the portable path on this host.
    case cloudInit = "cloud-init"
}

package enum WarmMode: Sendable {
    /// Restore a saved running state when there is one, else boot, and (a `--rm` VM only) save
    /// one when this disk and VM shape booted before (a second boot predicts a third), or at
    /// once for another architecture's emulated guest.
    case auto
    /// Restore a saved running state when there is one; never save (`dev`: its rebuilt disks
    /// are booted once).
    case restoreOnly
    /// Boot for real; save nothing.
    case off
    /// Boot and save a state unless one is ready (`cache warm`).
    case saveOnly
}

/// How a VM's systemd credentials reach it.
struct CredentialDelivery: Sendable {
    var oemStrings: [String] = []
    var files: [FirmwareCredentialFile] = []
}

/// A VM that was created and started, with the handles needed to reach and remove it.
package struct LaunchedVM: Sendable {
    package var record: VMRecord
    var domain: any VirtualMachineDomain
    var privateKey: URL
    var consoleLog: URL
    /// A restored VM's verified root session, open already (the identity step's).
    var rootSession: (any GuestSession)?
    /// The pool of a VM on a remote host: its volumes go with it.
    var remoteStorage: (any HostStoragePool)?
}
