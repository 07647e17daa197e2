// `podman-bootc dev`: keep a running VM in step with an image's build inputs.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

struct DevCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Boot an image you are editing and apply every edit to the running VM.",
        discussion: """
            Builds TARGET (a folder with a Containerfile, a quadlet .build unit, an images.yml
            image, or a reference whose NAME.build unit is installed), boots it (restored from a
            warm state when one is saved) and keeps the VM. Then it watches the build's inputs:
            each save rebuilds the image and compares the new build with the old one. Files
            that can change in a running system are written into the VM over SFTP, systemd is
            reloaded and the units whose unit files or programs changed are restarted. A change
            that only a boot applies (kernel, initramfs, modules, kernel arguments, fstab,
            generators, early-boot units, systemd itself, --reboot-on) reboots the VM into a
            fresh install of the new image instead. `dev --explain` lists the rules.

            Ctrl-C stops watching; the VM keeps running (with --rm it is removed). `run` never
            applies edits live: it always boots what it tests.

            Examples:
              podman-bootc dev ./my-image                      # a Containerfile folder
              podman-bootc dev --restart my-app.service ./my-image
              podman-bootc dev --reboot-on '/etc/my-app/boot.conf' ./my-image
              podman-bootc dev --explain
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print which changes apply live and which reboot, and exit.")
    var explain = false

    @Flag(help: "Remove the VM when dev stops.")
    var rm = false

    @Flag(name: .shortAndLong, help: "Print no progress, only one line per edit and errors.")
    var quiet = false

    @Flag(help: "Boot for real: do not restore a saved running state.")
    var cold = false

    @Option(name: .customLong("restart"), help: ArgumentHelp("Restart this unit after every live update (repeatable).", valueName: "unit"),
            transform: DevCommand.unitName)
    var restartUnits: [String] = []

    @Option(name: .customLong("reboot-on"), help: ArgumentHelp("Reboot into a fresh install when a changed path matches this glob (repeatable; * crosses /, a trailing /** takes a folder).", valueName: "glob"),
            transform: DevCommand.glob)
    var rebootGlobs: [String] = []

    @Option(help: "Name of the VM (default: image name and a short ID).", transform: ArgumentValue.vmName)
    var name: String?

    @OptionGroup var shape: VMShapeOptions

    @OptionGroup var disk: DiskOptions

    @Option(name: [.customShort("p"), .long], help: ArgumentHelp("Publish a guest port: [HOST_IP:]HOST_PORT:GUEST_PORT[/udp] (repeatable).", valueName: "port"),
            transform: ArgumentValue.port)
    var publish: [PortForward] = []

    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for TARGET given as an image name there (default: ./images.yml).", valueName: "file"))
    var config: String?

    @Argument(help: "What to build and watch: a Containerfile folder, a .build unit, an images.yml image, or a reference with an installed .build unit.")
    var target: String?

    func validate() throws {
        if !explain && target == nil { throw ValidationError("dev needs a TARGET to build and watch (or --explain)") }
        if shape.network == .none { throw ValidationError("dev updates the VM over SSH, and --network none gives it no network card; use --network isolated") }
    }

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    var rules: LiveUpdateRules { LiveUpdateRules(restartUnits: restartUnits, rebootGlobs: rebootGlobs) }

    func run(_ context: PipelineContext) async throws {
        if explain {
            context.output.line(rules.explanation)
            return
        }
        guard let target else { return }
        var vm = try shape.vmOptions(disk: disk.choices, libvirtURI: global.libvirtURI, removeOnExit: rm)
        vm.name = name
        vm.forwards = publish
        vm.warmStart = cold ? .off : .auto
        try await DevLoop(context: context).run(DevRequest(target: target, config: config, vm: vm, rules: rules))
    }

    static func unitName(_ text: String) throws -> String {
        guard LiveUpdateRules.isUnitName(text) else {
            throw ValidationError("expected a systemd unit name such as my-app.service")
        }
        return text
    }

    static func glob(_ text: String) throws -> String {
        guard text.hasPrefix("/"), !text.contains("\0"), text.utf8.count <= 4096 else {
            throw ValidationError("expected an absolute path glob in the guest, e.g. /etc/my-app/** or /usr/bin/my-*")
        }
        return text
    }
}
