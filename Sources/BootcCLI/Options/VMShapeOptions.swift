// The VM's shape, shared by `run` and `cache warm` (a warm state belongs to one shape).

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

struct VMShapeOptions: ParsableArguments {
    @Option(help: "Virtual CPUs (1-256; default: 2).", transform: ArgumentValue.cpus)
    var cpus: Int = 2

    @Option(help: "Memory, e.g. 2G or 4096M (at least 256M; default: 2G).", transform: ArgumentValue.size(atLeast: .mebibytes(256), example: "2G, 4096M"))
    var memory: ByteSize = .mebibytes(2048)

    @Option(name: .shortAndLong, help: ArgumentHelp("Log in as this user: the VM's key is installed for it (and root); the guest creates it when the image lacks it.", valueName: "user"),
            transform: ArgumentValue.user)
    var user: GuestUser = .root

    @Option(help: ArgumentHelp("Acceleration: auto, kvm or tcg (also $PODMAN_BOOTC_ACCEL).", valueName: "mode"))
    var accel: AccelerationMode?

    @Option(help: ArgumentHelp("The VM's network: user (NAT to the host and the outside; default), isolated (nothing out, only SSH and -p ports in) or none (no network card; commands go through the guest agent).", valueName: "mode"))
    var network: NetworkMode = .user

    @Option(help: "How long to wait for the VM's SSH server, e.g. 300s or 5m (default: 5m).", transform: ArgumentValue.duration(example: "300s, 5m"))
    var sshTimeout: Duration = .seconds(300)

    @Flag(help: "Boot with UEFI Secure Boot enforced (Microsoft's keys enrolled): a direct-installed disk boots through the image's signed shim and GRUB.")
    var secureBoot = false

    @Flag(help: "Give the VM an emulated TPM 2.0 (swtpm; no warm start).")
    var tpm = false

    func validate() throws {
        _ = try AccelerationMode.resolve(accel)
    }

    /// The VM options these give, with the disk options and the libvirt URI.
    func vmOptions(disk: DiskChoices, libvirtURI: String?, removeOnExit: Bool) throws -> VMOptions {
        var options = VMOptions(cpus: cpus, memoryMiB: Int(memory.mebibytes), disk: disk, accelerator: try AccelerationMode.resolve(accel),
                                user: user, removeOnExit: removeOnExit, libvirtURI: libvirtURI, sshTimeout: sshTimeout)
        options.network = network
        options.secureBoot = secureBoot
        options.tpm = tpm
        return options
    }
}

extension NetworkMode: ExpressibleByArgument {}
