// `podman-bootc stop` and `podman-bootc start`.

import ArgumentParser
import BootcCore
import Foundation
import Host
import Installer
import Libvirt

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Shut a VM down (ACPI, then power off after --timeout; --force powers off at once).",
        discussion: """
            The VM and its disk stay; `podman-bootc start` boots it again.

            Examples:
              podman-bootc stop web
              podman-bootc stop --force -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: .shortAndLong, help: "Power off at once.") var force = false
    @Option(help: "How long to wait for a clean shutdown before powering off.") var timeout: String = "60s"

    func validate() throws {
        if DurationParser.parse(timeout) == nil { throw ValidationError("--timeout \(timeout.debugDescription) is not a duration (e.g. 60s)") }
    }

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: false)
        let record = try selection.record(in: context.vms)
        let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
        guard let domain = runtime.domain else { throw VMStateError.domainMissing(name: record.name) }
        guard domain.isActive else { return }
        if !force {
            try await Blocking.run { try domain.shutdown() }
            let deadline = ContinuousClock.now + DurationParser.parse(timeout)!
            while domain.isActive && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            if domain.isActive { context.progress.notice("VM \(record.name) did not shut down within \(timeout); powering it off") }
        }
        if domain.isActive { try await Blocking.run { try domain.destroy() } }
        print(record.name)
    }
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Boot a stopped VM again, with its own disk, and wait for SSH (unless -B).",
        discussion: """
            Examples:
              podman-bootc start web && podman-bootc ssh web
              podman-bootc start -B -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: [.customShort("B"), .long], help: "Return once the VM starts; do not wait for SSH.") var background = false
    @Flag(name: .shortAndLong, help: "Print no progress.") var quiet = false
    @Option(help: "How long to wait for SSH.") var sshTimeout: String = "5m"

    func validate() throws {
        if DurationParser.parse(sshTimeout) == nil { throw ValidationError("--ssh-timeout \(sshTimeout.debugDescription) is not a duration") }
    }

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: quiet)
        var record = try selection.record(in: context.vms)
        let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
        guard let domain = runtime.domain else { throw VMStateError.domainMissing(name: record.name) }
        if !domain.isActive {
            if record.transientDisk == true, let key = record.diskKey,
               let cached = DiskCache(directory: context.locations.diskCache).lookup(key) {
                try await VMLauncher(context: context).createOverlay(for: record, backingDisk: cached.artifacts.disk)
            }
            context.warnIfKVMDeviceUnusable(libvirtURI: global.libvirtURI ?? record.libvirtURI)
            context.progress.stage("Starting VM \(record.name)")
            record = try await startOnFreePort(record, domain: domain, connection: runtime.connection, store: context.vms)
        }
        if background { print(record.name); return }
        let vm = LaunchedVM(record: record, domain: runtime.connection.domainOrSame(record.domainName, domain),
                            privateKey: context.vms.privateKey(record.id), consoleLog: context.vms.consoleLog(record.id))
        _ = try await VMLauncher(context: context).waitForSSH(vm, timeout: DurationParser.parse(sshTimeout)!)
        print(record.name)
    }

    /// Starts the domain; when its SSH port was taken meanwhile, moves the forward to a free
    /// port (in the domain and the record) and starts again.
    private func startOnFreePort(_ record: VMRecord, domain: LibvirtDomain, connection: LibvirtConnection,
                                 store: VMStore) async throws -> VMRecord {
        do {
            try await Blocking.run { try domain.start() }
            return record
        } catch let error as LibvirtError where error.message.contains("host forwarding") {
            var moved = record
            moved.sshPort = try FreePort.loopback()
            let oldPort = record.sshPort, newPort = moved.sshPort
            try await Blocking.run {
                let xml = try domain.xmlDescription()
                    .replacingOccurrences(of: "hostfwd=tcp:127.0.0.1:\(oldPort)-:22", with: "hostfwd=tcp:127.0.0.1:\(newPort)-:22")
                    .replacingOccurrences(of: ">\(oldPort)</podman-bootc:ssh-port>", with: ">\(newPort)</podman-bootc:ssh-port>")
                let redefined = try connection.define(xml: xml)
                try redefined.start()
            }
            try store.save(moved)
            return moved
        }
    }
}

extension LibvirtConnection {
    /// The domain's handle after a redefinition, or the old handle.
    func domainOrSame(_ name: String, _ domain: LibvirtDomain) -> LibvirtDomain {
        (try? self.domain(named: name)) ?? domain
    }
}
