// `podman-bootc export`: the image's cached disk as a file, a KubeVirt containerDisk or a
// KubeVirt VM, bootable where it goes.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

extension ExportFormat: ExpressibleByArgument {}

struct ExportCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export an image's disk: raw, qcow2, a KubeVirt containerDisk, or a KubeVirt VM.",
        discussion: """
            The disk is the one `run` boots, from the same cache (built and installed first
            when needed). It boots under any UEFI firmware: disks from the direct installer
            get systemd-boot on an added EFI system partition, since they otherwise rely on
            QEMU being given the kernel. Our VMs get their identity as systemd credentials,
            which do not travel; --identity writes a cloud-init NoCloud seed instead (the
            image must run cloud-init) with a new key pair, the guest's host key and the
            known_hosts line that pins it.

            Formats:
              raw, qcow2     a disk file (-o, default ./NAME.raw or ./NAME.qcow2)
              containerdisk  a KubeVirt containerDisk in podman storage (-t, default
                             localhost/NAME-containerdisk:latest): /disk/NAME.qcow2, 107:107, read-only
              kubevirt       the containerDisk plus, in the folder -o (default ./NAME-kubevirt),
                             a VirtualMachine, a Secret with its cloud-init user-data, and the identity

            Examples:
              podman-bootc export localhost/podman-bootc-test:debian --format qcow2 -o test.qcow2 --identity test-identity
              podman-bootc export quay.io/fedora/fedora-bootc:42 --format containerdisk -t quay.io/me/fedora-disk:42
              podman-bootc export ./images/cloud-init --format kubevirt --name demo -t quay.io/me/demo-disk:1 -o demo-kubevirt
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var disk: DiskOptions
    @Option(help: ArgumentHelp("raw, qcow2, containerdisk or kubevirt.", valueName: "format")) var format: ExportFormat
    @Option(name: .shortAndLong, help: ArgumentHelp("The disk file (raw, qcow2) or the manifest folder (kubevirt); never overwritten.", valueName: "path")) var output: String?
    @Option(name: .customShort("t"), help: ArgumentHelp("The containerDisk image's reference (containerdisk, kubevirt).", valueName: "reference")) var tag: String?
    @Option(help: ArgumentHelp("Write a cloud-init identity (NoCloud seed cidata.iso, keys, known_hosts) into this new folder (raw, qcow2, containerdisk).", valueName: "folder")) var identity: String?
    @Option(help: ArgumentHelp("The VM's hostname and file/Kubernetes name (default: from the image name).", valueName: "name")) var name: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("The user the identity's key logs in as (default: root).", valueName: "user"), transform: ArgumentValue.user)
    var user: GuestUser = .root
    @Option(help: "Virtual CPUs in the KubeVirt VM (default: 2).", transform: ArgumentValue.cpus) var cpus: Int = 2
    @Option(help: "Memory of the KubeVirt VM, e.g. 2G (default: 2G).", transform: ArgumentValue.size(atLeast: .mebibytes(256), example: "2G, 4096M"))
    var memory: ByteSize = .mebibytes(2048)
    @Flag(name: .shortAndLong, help: "Print no progress, only errors.") var quiet = false
    @Flag(help: "Make a direct-installed disk boot with UEFI Secure Boot enforced: through the image's signed shim and GRUB instead of systemd-boot.")
    var secureBoot = false
    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there.", valueName: "file")) var config: String?
    @Argument(help: "The image, as `run` takes it: a reference, an images.yml image, a folder with a Containerfile, a .build unit, or a root filesystem folder.") var image: String

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    func run(_ context: PipelineContext) async throws {
        var request = ExportRequest(target: image, config: config, format: format, output: output, tag: tag, identity: identity,
                                    name: name, user: user, disk: disk.choices, cpus: cpus, memoryMiB: Int(memory.mebibytes))
        request.secureBoot = secureBoot
        let result = try await ExportSequence(context: context).export(request)
        for line in ExportSummary.lines(result, format: format, user: user) { context.output.line(line) }
    }
}

/// What `export` prints: where things went and how to boot and reach them.
enum ExportSummary {
    static func lines(_ result: ExportResult, format: ExportFormat, user: GuestUser) -> [String] {
        var lines: [String] = []
        if let disk = result.disk { lines.append("disk: \(disk)") }
        if let image = result.image { lines.append("containerDisk: \(image) (push it with: podman push \(image))") }
        lines.append("cache key: \(result.cacheKey)")
        lines.append("boot loader: \(result.bootloader)")
        guard let folder = result.identityFolder else { return lines }
        let ssh = "ssh -i \(folder)/id_ed25519 -o UserKnownHostsFile=\(folder)/known_hosts -o HostKeyAlias=\(result.name)"
        lines.append("identity: \(folder) (id_ed25519, known_hosts, user-data, meta-data, cidata.iso)")
        switch format {
        case .raw, .qcow2:
            lines.append("boot it, e.g.: qemu-system-x86_64 -machine q35 -m 2G -bios /usr/share/ovmf/OVMF.fd "
                + "-drive file=\(result.disk ?? "DISK"),format=\(format.rawValue),if=virtio -drive file=\(folder)/cidata.iso,format=raw,if=virtio,readonly=on "
                + "-nic user,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-rng-pci -nographic")
            lines.append("then: \(ssh) -p 2222 \(user.name)@127.0.0.1")
        case .containerdisk:
            lines.append("attach \(folder)/cidata.iso (or its user-data as cloudInitNoCloud) to the VM that boots the containerDisk")
        case .kubevirt:
            lines.append("manifests: \(result.manifests.joined(separator: " "))")
            lines.append("apply: kubectl apply -f \(result.manifests.joined(separator: " -f "))")
            lines.append("reach it: virtctl ssh --identity-file=\(folder)/id_ed25519 --local-ssh-opts=\"-o UserKnownHostsFile=\(folder)/known_hosts\" "
                + "--local-ssh-opts=\"-o HostKeyAlias=\(result.name)\" \(user.name)@vm/\(result.name)")
            lines.append("or: virtctl port-forward vm/\(result.name) 2222:22, then \(ssh) -p 2222 \(user.name)@127.0.0.1")
        }
        return lines
    }
}
