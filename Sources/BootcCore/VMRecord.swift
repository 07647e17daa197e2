// What podman-bootc remembers about a VM in its state directory, and what it boots from.

import Foundation

/// How an installed disk boots.
public enum BootMethod: String, Codable, Sendable, Equatable {
    /// QEMU loads the kernel and initramfs copied out of the image (direct installer).
    case directKernel
    /// UEFI firmware boots the disk's own bootloader (bootc-installed disks).
    case uefi
}

/// The files an installed disk is made of: the root disk and, for direct kernel boot, the
/// kernel and its arguments.
public struct BootArtifacts: Codable, Sendable, Equatable {
    public var method: BootMethod
    public var disk: String
    public var kernel: String?
    public var initrd: String?
    public var kernelArguments: [String]
    /// The image's own systemd-boot EFI binary, copied out by the direct installer: `export`
    /// makes the disk bootable with it (the guest's architecture, whatever the host's).
    public var bootloader: String?
    /// The image's own signed boot chain for Secure Boot (x86-64: Microsoft-signed shim and the
    /// distribution's signed GRUB), copied out by the direct installer when the image ships it.
    public var signedShim: String?
    public var signedGrub: String?
    /// The SELinux mode the image's configuration turns on ("enforcing", "permissive"), when
    /// the direct installer labelled the disk for it.
    public var selinux: String?

    public init(method: BootMethod, disk: String, kernel: String?, initrd: String?, kernelArguments: [String], bootloader: String? = nil,
                signedShim: String? = nil, signedGrub: String? = nil, selinux: String? = nil) {
        self.method = method
        self.disk = disk
        self.kernel = kernel
        self.initrd = initrd
        self.kernelArguments = kernelArguments
        self.bootloader = bootloader
        self.signedShim = signedShim
        self.signedGrub = signedGrub
        self.selinux = selinux
    }
}

/// Which installer writes the disk.
public enum InstallerChoice: String, Codable, Sendable, CaseIterable {
    /// bootc when the image ships it, else direct.
    case auto
    /// `bootc install to-disk` in a privileged podman container.
    case bootc
    /// podman-bootc's own installer: ext4 root from the image tree, direct kernel boot.
    case direct
}

/// The VM's spec: everything chosen when it was created. Its running state comes from libvirt.
public struct VMRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var domainName: String
    public var image: String
    public var imageID: String
    /// The disk cache entry the VM's overlay is backed by.
    public var diskKey: String?
    /// The libvirt connection the VM's domain lives on.
    public var libvirtURI: String?
    public var architecture: Architecture
    public var accelerator: Accelerator
    public var cpus: Int
    public var memoryMiB: Int
    public var sshPort: Int
    public var forwards: [PortForward]?
    /// nil: `.user` (records written before there was a choice).
    public var network: NetworkMode?
    /// Host folders shared into the guest (virtiofs), in tag order.
    public var sharedFolders: [SharedFolder]?
    public var sshUser: String
    /// Discard the VM's disk changes whenever it stops (`run --transient`).
    public var transientDisk: Bool?
    /// The VM boots with a cloud-init NoCloud seed (cidata.iso in its folder).
    public var cloudInitSeed: Bool?
    /// The libvirt domain's UUID when podman-bootc chose it (restored VMs).
    public var uuid: String?
    /// The warm state the VM was restored from; its disk backs the VM's overlay.
    public var warmState: String?
    /// `dev` changed the running VM live: the image it now matches (`imageID` stays the one
    /// its disk was installed from), and when.
    public var liveImageID: String?
    public var liveUpdated: Date?
    /// How `dev` made a read-only /usr writable for its live changes ("bootc usr-overlay",
    /// "ostree admin unlock", "transient overlay"): they vanish when the guest reboots.
    public var liveUsr: String?
    /// Booted with UEFI Secure Boot enforced (`--secure-boot`); with an emulated TPM (`--tpm`).
    public var secureBoot: Bool?
    public var tpm: Bool?
    /// The image's SELinux mode, as its disk was labelled for it (errors then say what an
    /// enforcing policy may block).
    public var selinux: String?
    /// Remove the VM when the process that created it ends (`run --rm`).
    public var removeOnExit: Bool
    /// The process that owns a `--rm` VM; a dead owner means the VM's state is garbage.
    public var ownerPID: Int32?
    public var created: Date

    public init(
        id: String, name: String, domainName: String, image: String, imageID: String, diskKey: String? = nil,
        architecture: Architecture, accelerator: Accelerator, cpus: Int, memoryMiB: Int,
        sshPort: Int, sshUser: String, removeOnExit: Bool, ownerPID: Int32?, created: Date
    ) {
        self.id = id
        self.name = name
        self.domainName = domainName
        self.image = image
        self.imageID = imageID
        self.diskKey = diskKey
        self.architecture = architecture
        self.accelerator = accelerator
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.sshPort = sshPort
        self.sshUser = sshUser
        self.removeOnExit = removeOnExit
        self.ownerPID = ownerPID
        self.created = created
    }
}

extension VMRecord {
    /// Whether every value is one podman-bootc could have written: records are files a
    /// local admin (or a bug) may have edited, and their values reach XML, argv and sockets.
    public var isSane: Bool {
        let nameCharacters = { (text: String) in
            !text.isEmpty && text.utf8.count <= 64 && text.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
            }
        }
        return nameCharacters(id) && nameCharacters(name) && nameCharacters(domainName)
            && (0...65535).contains(sshPort) && (1...1024).contains(cpus) && (1...(1 << 30)).contains(memoryMiB)
            && (forwards ?? []).allSatisfy(\.isValid) && !sshUser.isEmpty && !sshUser.contains("\0")
            && !image.contains("\0") && !imageID.contains("\0") && !(liveImageID ?? "").contains("\0")
    }
}
