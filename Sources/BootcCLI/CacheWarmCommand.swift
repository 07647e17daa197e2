// `podman-bootc cache warm`: boot an image once and save its running state, so that later
// `run`s of the same image and VM shape restore it in seconds instead of booting.

import ArgumentParser
import BootcCore
import Foundation
import Installer

struct CacheWarm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warm",
        abstract: "Boot an image once and save its running state for warm starts; prints the state's key.",
        discussion: """
            `run` saves this state itself after the first boot of an image with a given VM
            shape (CPUs, memory, user); `cache warm` does it ahead of time, e.g. in a CI
            preparation step. The state belongs to the installed disk and the exact options:
            use the same --cpus, --memory, -u and disk options as the runs that should use it.
            Nothing is booted when a usable state exists already.

            Examples:
              podman-bootc cache warm localhost/podman-bootc-test:debian
              podman-bootc cache warm --cpus 4 --memory 4G -u dev ./images/debian
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var disk: DiskOptions
    @Flag(name: .shortAndLong, help: "Print no progress, only errors.") var quiet = false
    @Option(help: "Virtual CPUs.") var cpus: Int = 2
    @Option(help: "Memory, e.g. 2G or 4096M.") var memory: String = "2G"
    @Option(name: .shortAndLong, help: ArgumentHelp("The login user the runs will use.", valueName: "user")) var user: String = "root"
    @Option(help: ArgumentHelp("Acceleration: auto, kvm or tcg (also $PODMAN_BOOTC_ACCEL).", valueName: "mode")) var accel: String?
    @Option(help: "How long to wait for the VM's SSH server, e.g. 300s or 5m.") var sshTimeout: String = "5m"
    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there.", valueName: "file")) var config: String?
    @Argument(help: "The image, as `run` takes it.") var image: String

    func validate() throws {
        guard cpus >= 1 && cpus <= 256 else { throw ValidationError("--cpus must be between 1 and 256") }
        guard let size = ByteSize(parsing: memory), size >= .mebibytes(256) else {
            throw ValidationError("--memory \(memory.debugDescription) is not a size of at least 256M (e.g. 2G, 4096M)")
        }
        if GuestUser(user) == nil { throw ValidationError(GuestUser.invalidNameMessage(user)) }
        if DurationParser.parse(sshTimeout) == nil { throw ValidationError("--ssh-timeout \(sshTimeout.debugDescription) is not a duration (e.g. 300s, 5m)") }
        _ = try Accelerator.override(accel)
    }

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: quiet)
        InterruptCleanup.shared.install()
        context.warnIfKVMDeviceUnusable(libvirtURI: global.libvirtURI)
        let source = ImageSource.resolve(image, config: config)
        let reference = try await ImageBuilder(context: context).prepare(source)
        var options = LaunchOptions(
            image: reference, name: nil, cpus: cpus, memoryMiB: Int(ByteSize(parsing: memory)!.mebibytes),
            disk: disk.choices, accelerator: try Accelerator.override(accel), user: GuestUser(user)!,
            removeOnExit: true, libvirtURI: global.libvirtURI, sshTimeout: DurationParser.parse(sshTimeout)!,
            warmStart: .saveOnly)
        if case .rootFilesystem(let folder) = source { options.rootFilesystem = folder }
        let launcher = VMLauncher(context: context)
        let vm: LaunchedVM
        do {
            vm = try await launcher.launch(options)
        } catch let warm as AlreadyWarm {
            context.progress.stage("A warm state is ready already")
            print(warm.key)
            return
        }
        let store = context.vms
        let cleanup = InterruptCleanup.shared.register { VMLauncher.remove(vm.record, domain: vm.domain, store: store) }
        defer { InterruptCleanup.shared.run(cleanup) }
        let session = try await launcher.waitForSSH(vm, timeout: options.sshTimeout)
        session.disconnect()
        guard let pending = vm.pendingWarmSave else { throw WarmStartError(reason: "this VM cannot be warm-started") }
        guard await WarmStart(context: context).save(vm, pending) else {
            throw WarmStartError(reason: "the running state of \(reference) was not saved (see the warning above)")
        }
        print(pending.inputs.key)
    }
}

extension GuestUser {
    static func invalidNameMessage(_ name: String) -> String {
        "--user \(name.debugDescription) is not a user name: lower-case letters, digits, _ and -, starting with a letter or _, at most 32 characters"
    }
}

extension Accelerator {
    /// --accel (or $PODMAN_BOOTC_ACCEL): nil for auto.
    static func override(_ option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Accelerator? {
        let value = option ?? environment["PODMAN_BOOTC_ACCEL"] ?? "auto"
        if value == "auto" || value.isEmpty { return nil }
        guard let accelerator = Accelerator(rawValue: value) else {
            throw ValidationError("acceleration \(value.debugDescription) is not one of auto, kvm, tcg")
        }
        return accelerator
    }
}
