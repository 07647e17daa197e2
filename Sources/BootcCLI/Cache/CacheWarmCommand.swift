// `podman-bootc cache warm`: boot an image once and save its running state, so that later
// `run`s of the same image and VM shape restore it in seconds instead of booting.

import ArgumentParser
import BootcPipeline

struct CacheWarm: PipelineCommand {
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
    @OptionGroup var shape: VMShapeOptions
    @Flag(name: .shortAndLong, help: "Print no progress, only errors.") var quiet = false
    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there.", valueName: "file")) var config: String?
    @Argument(help: "The image, as `run` takes it.") var image: String

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    func validate() throws {
        if shape.tpm { throw ValidationError("a VM with --tpm is never warm-started (every clone of a saved state would share the TPM's identity and what it sealed); leave out --tpm") }
        if shape.network == .none { throw ValidationError("a warm state's guest agent is started over SSH, and --network none gives the VM no network card; warm --network user or isolated") }
    }

    func run(_ context: PipelineContext) async throws {
        context.warnIfKVMDeviceUnusable(libvirtURI: global.libvirtURI)
        let options = try shape.vmOptions(disk: disk.choices, libvirtURI: global.libvirtURI, removeOnExit: true)
        context.output.line(try await RunSequence(context: context).warm(image, config: config, options: options))
    }
}
