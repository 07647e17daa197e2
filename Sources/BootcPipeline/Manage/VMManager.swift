// The VM commands' work: list, inspect, stop, start, remove, and reaching a running VM
// (ssh, console, logs). The CLI parses and renders; this does.

import BootcCore
import Foundation
import Host
import Installer

/// One VM as `list` shows it.
package struct VMView: Codable, Sendable, Equatable {
    package var id: String
    package var name: String
    package var image: String
    package var status: VMStatus
    package var ssh: String
    package var architecture: Architecture
    package var network: NetworkMode
    /// -v folders (host path, guest path, read-only).
    package var sharedFolders: [SharedFolder]?
    package var cpus: Int
    package var memoryMiB: Int
    package var diskBytes: UInt64
    package var created: Date
    /// Set when `dev` changed the VM live: the image ID it now matches (its disk was
    /// installed from `image`'s earlier build).
    package var liveImageID: String?
    /// How `dev` made the VM's read-only /usr writable: its live changes there vanish when
    /// the guest reboots.
    package var liveUsr: String?
}

/// Everything about one VM (`inspect`).
package struct VMInspection: Codable, Sendable {
    package var record: VMRecord
    package var status: VMStatus
    package var sshPort: Int
    package var privateKey: String
    package var overlay: String
    package var consoleLog: String
    package var domainMetadata: String?
}

/// The result of removing one of the VMs `rm` names.
package struct VMRemovalOutcome: Sendable {
    package var query: String
    /// The VM's name when removed, else the error.
    package var result: Result<String, any Error>
}

package struct VMManager: Sendable {
    package let context: PipelineContext
    /// --connect: used instead of each VM's own libvirt URI.
    package let libvirtURI: String?

    package init(context: PipelineContext, libvirtURI: String?) {
        self.context = context
        self.libvirtURI = libvirtURI
    }

    private func runtime(_ selector: VMSelector) async throws -> VMRuntime {
        let record = try VMResolver(store: context.vms).record(selector)
        return try await VMRuntime.load(record, uri: libvirtURI, hypervisor: context.hypervisor)
    }

    package func list(all: Bool) async throws -> [VMView] {
        var views: [VMView] = []
        for record in context.vms.all() {
            let remote = try? RemoteHost.of(record.libvirtURI)
            let status: VMStatus
            if remote != nil {
                // An unreachable host must not hide this machine's VMs from the list.
                status = await (try? VMRuntime.load(record, uri: libvirtURI, hypervisor: context.hypervisor))?.status() ?? .missing
            } else {
                status = await (try VMRuntime.load(record, uri: libvirtURI, hypervisor: context.hypervisor)).status()
            }
            guard all || status == .running else { continue }
            var info = stat()
            let disk = stat(context.vms.overlay(record.id).path, &info) == 0 ? UInt64(info.st_blocks) * 512 : 0
            let ssh = remote.map { "127.0.0.1:\(record.sshPort)@\($0.jump.host)" } ?? "127.0.0.1:\(record.sshPort)"
            views.append(VMView(id: record.id, name: record.name, image: record.image, status: status,
                                ssh: record.network == NetworkMode.none ? "-" : ssh, architecture: record.architecture,
                                network: record.network ?? .user, sharedFolders: record.sharedFolders,
                                cpus: record.cpus, memoryMiB: record.memoryMiB,
                                diskBytes: disk, created: record.created, liveImageID: record.liveImageID, liveUsr: record.liveUsr))
        }
        return views
    }

    package func inspect(_ selector: VMSelector) async throws -> VMInspection {
        let runtime = try await runtime(selector)
        let record = runtime.record
        var overlay = context.vms.overlay(record.id).path
        var consoleLog = context.vms.consoleLog(record.id).path
        if let remote = try RemoteHost.of(record.libvirtURI) {
            // Paths on the VM's host, in our pool there.
            let folder = try await remote.pool(on: runtime.connection, shell: context.guestShell).folder
            overlay = folder + "/" + RemoteVolumes.overlay(record.id)
            consoleLog = folder + "/" + RemoteVolumes.consoleLog(record.id)
        }
        return VMInspection(
            record: record, status: await runtime.status(), sshPort: record.sshPort,
            privateKey: context.vms.privateKey(record.id).path, overlay: overlay,
            consoleLog: consoleLog, domainMetadata: await runtime.domain?.metadata())
    }

    /// ACPI shutdown, then power off after `timeout` (at once with `force`); returns the VM's name.
    package func stop(_ selector: VMSelector, force: Bool, timeout: Duration) async throws -> String {
        let runtime = try await runtime(selector)
        let domain = try runtime.requireDomain()
        let name = runtime.record.name
        guard await domain.isActive() else { return name }
        if !force {
            try await domain.shutdown()
            let clock = context.clock
            let deadline = clock.now + timeout
            while await domain.isActive(), clock.now < deadline {
                try await clock.sleep(for: .milliseconds(200))
            }
            if await domain.isActive() { context.progress.notice("VM \(name) did not shut down within \(timeout.wholeSeconds)s; powering it off") }
        }
        if await domain.isActive() { try await domain.destroy() }
        return name
    }

    /// Boots a stopped VM (a transient-disk VM on a fresh overlay); waits for SSH unless
    /// `sshTimeout` is nil. Returns the VM's name.
    package func start(_ selector: VMSelector, sshTimeout: Duration?) async throws -> String {
        let runtime = try await runtime(selector)
        var record = runtime.record
        var domain = try runtime.requireDomain()
        if await !domain.isActive() {
            let starter = DomainStarter(context: context, connection: runtime.connection)
            if record.transientDisk == true, let key = record.diskKey, let cached = context.disks.cached(key) {
                if let remote = try RemoteHost.of(record.libvirtURI) {
                    let pool = try await remote.pool(on: runtime.connection, shell: context.guestShell)
                    let base = try await pool.ensureDisk(cached, progress: context.progress)
                    let size = (try? FileManager.default.attributesOfItem(atPath: cached.artifacts.disk)[.size] as? NSNumber)?.uint64Value ?? 0
                    _ = try await pool.createOverlay(RemoteVolumes.overlay(record.id), backing: base.disk, capacityBytes: size)
                } else {
                    // A --secure-boot VM of a direct-installed disk boots the copy with the signed chain.
                    let backing = record.secureBoot == true ? try await SecureBootDisk(context: context).prepare(cached) : cached
                    try await starter.createOverlay(for: record, backingDisk: backing.artifacts.disk)
                }
            }
            try starter.prepareVirtiofsd(for: record)
            if let confined = starter.confinedDefinition(try await domain.xmlDescription(), for: record) {
                domain = try await runtime.connection.define(xml: confined)
            }
            context.warnIfKVMDeviceUnusable(libvirtURI: libvirtURI ?? record.libvirtURI)
            context.progress.stage("Starting VM \(record.name)")
            (record, domain) = try await startOnFreePort(record, domain: domain, connection: runtime.connection)
            if record.liveUsr != nil {
                // A fresh boot: what dev wrote into the transient /usr is gone.
                record.liveUsr = nil
                try context.vms.save(record)
            }
        }
        guard let sshTimeout else { return record.name }
        let vm = LaunchedVM(record: record, domain: domain, privateKey: context.vms.privateKey(record.id),
                            consoleLog: context.vms.consoleLog(record.id))
        let session: any GuestSession = record.network == NetworkMode.none
            ? try await QemuGuestAgentWaiter(context: context).wait(vm, timeout: sshTimeout)
            : try await SSHWaiter(context: context).waitForSSH(vm, timeout: sshTimeout)
        // A reboot unmounted the -v folders (older guests do not mount them at boot).
        try await SharedFolderMounts.mount(for: record, over: session, context: context)
        await session.disconnect()
        return record.name
    }

    /// Starts the domain; when its SSH port was taken meanwhile, moves the forward to a free
    /// port (in the domain and the record) and starts again.
    private func startOnFreePort(_ record: VMRecord, domain: any VirtualMachineDomain,
                                 connection: any HypervisorConnection) async throws -> (VMRecord, any VirtualMachineDomain) {
        // A user's shared folders: their daemons first, again before a retry (a QEMU that
        // failed took them with it), stopped when the start fails.
        let folderDaemons = SharedFolderDaemons.needed(for: record, uri: connection.uri) ? SharedFolderDaemons(context: context) : nil
        do {
            do {
                try await folderDaemons?.start(for: record)
                try await domain.start()
                return (record, domain)
            } catch is HostPortTaken {
                try await folderDaemons?.start(for: record)
                var moved = record
                moved.sshPort = try RemoteHost.of(record.libvirtURI) == nil ? FreePort.loopback() : Int.random(in: 20_000..<60_000)
                let xml = try await domain.xmlDescription()
                    .replacingOccurrences(of: "hostfwd=tcp:127.0.0.1:\(record.sshPort)-:22", with: "hostfwd=tcp:127.0.0.1:\(moved.sshPort)-:22")
                    .replacingOccurrences(of: ">\(record.sshPort)</podman-bootc:ssh-port>", with: ">\(moved.sshPort)</podman-bootc:ssh-port>")
                let redefined = try await connection.define(xml: xml)
                try await redefined.start()
                try context.vms.save(moved)
                return (moved, redefined)
            }
        } catch {
            folderDaemons?.stop(for: record)
            throw error
        }
    }

    /// Removes VMs (domain, overlay, keys, logs; never the cached disk), each on its own: one
    /// failure does not stop the others. `queries` empty with `all`: every VM.
    package func remove(_ queries: [String], all: Bool, force: Bool) async -> [VMRemovalOutcome] {
        let store = context.vms
        let resolver = VMResolver(store: store)
        let targets: [(String, Result<VMRecord, any Error>)] = all
            ? store.all().map { ($0.name, .success($0)) }
            : queries.map { query in (query, Result { try resolver.resolve(query) }) }
        var outcomes: [VMRemovalOutcome] = []
        for (query, target) in targets {
            do {
                let record = try target.get()
                let runtime = try await VMRuntime.load(record, uri: libvirtURI, hypervisor: context.hypervisor)
                // Not even the record goes: it names the domain the user may still need to sort out.
                if runtime.foreignDomain { _ = try runtime.requireDomain() }
                if await runtime.status() == .running && !force { throw VMStateError.running(name: record.name) }
                try await runtime.domain?.remove()
                if let remote = try RemoteHost.of(record.libvirtURI) {
                    await (try remote.pool(on: runtime.connection, shell: context.guestShell)).removeVolumes(ofVM: record.id)
                }
                store.remove(record.id)
                outcomes.append(VMRemovalOutcome(query: query, result: .success(record.name)))
            } catch {
                outcomes.append(VMRemovalOutcome(query: query, result: .failure(error)))
            }
        }
        return outcomes
    }

    /// A shell (no command) or one command in a running VM; returns its exit status.
    package func ssh(_ selector: VMSelector, user: String?, command: [String]) async throws -> Int32 {
        let runtime = try await runtime(selector)
        _ = try await runtime.requireRunning()
        let record = runtime.record
        let session: any GuestSession
        if record.network == NetworkMode.none {
            guard user == nil || user == "root" else { throw VMError.needsNetwork("-u \(user ?? "")") }
            session = QemuGuestAgentSession(domain: try runtime.requireDomain(), vmName: record.name, clock: context.clock)
        } else {
            session = try await context.guestShell.connect(try context.guestLogin(for: record, user: user), timeout: .seconds(15))
        }
        if command.isEmpty { return try await session.interactiveShell(term: context.environment["TERM"] ?? "xterm-256color") }
        return try await session.execute(RemoteCommand.commandLine(for: command))
    }

    /// The serial console on this terminal until Ctrl-] (`escape`), the input ends, or the
    /// console closes (an error: the VM stopped or another client took it).
    package func console(_ selector: VMSelector, escape: UInt8, force: Bool) async throws {
        let runtime = try await runtime(selector)
        let domain = try await runtime.requireRunning()
        let name = runtime.record.name
        let interactive = isatty(STDIN_FILENO) == 1
        if interactive {
            FileHandle.standardError.write(Data("Connected to the console of \(name); detach with Ctrl-]\r\n".utf8))
        }
        let terminal = RawTerminal(fd: STDIN_FILENO)
        let end: ConsoleOutcome
        do {
            end = try await domain.attachConsole(input: STDIN_FILENO, output: STDOUT_FILENO, escape: escape, force: force)
        } catch {
            terminal?.restore()
            throw error
        }
        terminal?.restore()
        switch end {
        case .detached, .inputClosed:
            if interactive { FileHandle.standardError.write(Data("\nDetached from \(name) (still running)\n".utf8)) }
        case .closed:
            throw VMStateError.consoleClosed(name: name)
        }
    }

    /// Writes the VM's serial console log to stdout; with `follow`, keeps writing what the
    /// console adds until interrupted.
    package func logs(_ selector: VMSelector, follow: Bool) async throws {
        let record = try VMResolver(store: context.vms).record(selector)
        if let remote = try RemoteHost.of(record.libvirtURI) {
            return try await remoteLogs(record, on: remote, follow: follow)
        }
        let path = context.vms.consoleLog(record.id).path
        guard let log = try? FileDescriptorHandle.openRegularFile(path) else {
            throw VMStateError.noConsoleLog(name: record.name, path: path)
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var console = ConsoleOutput(context.output)
        while true {
            guard let count = try? log.read(into: &buffer) else { throw VMStateError.noConsoleLog(name: record.name, path: path) }
            if count > 0 {
                console.write(buffer[..<count])
                continue
            }
            guard follow else { return console.finish() }
            // The log is a plain file written by virtlogd: poll its growth.
            try await context.clock.sleep(for: .milliseconds(250))
        }
    }

    /// A remote VM's console log, read from its volume on the host (virtlogd writes it there).
    private func remoteLogs(_ record: VMRecord, on remote: RemoteHost, follow: Bool) async throws {
        let connection = try await context.hypervisor.connect(uri: libvirtURI ?? record.libvirtURI)
        let pool = try await remote.pool(on: connection, shell: context.guestShell)
        let name = RemoteVolumes.consoleLog(record.id)
        var offset: UInt64 = 0
        var console = ConsoleOutput(context.output)
        while true {
            guard let chunk = try await pool.read(name, from: offset, limit: 1 << 20) else {
                throw VMStateError.noConsoleLog(name: record.name, path: pool.folder + "/" + name)
            }
            if !chunk.isEmpty {
                console.write(chunk)
                offset += UInt64(chunk.count)
                continue
            }
            guard follow else { return console.finish() }
            try await context.clock.sleep(for: .milliseconds(500))
        }
    }
}

/// A console log on its way to the user: its bytes as they are into a pipe or a file (for
/// tools that read it), made printable on a terminal (a guest's escape sequences stay text).
private struct ConsoleOutput {
    let output: StandardOutput
    var filter: TerminalStreamFilter?

    init(_ output: StandardOutput) {
        self.output = output
        filter = output.isTerminal ? TerminalStreamFilter() : nil
    }

    mutating func write(_ bytes: some Collection<UInt8>) {
        if filter != nil { output.write(filter!.filter(bytes)) } else { output.write(Data(bytes)) }
    }

    mutating func finish() {
        if filter != nil { output.write(filter!.finish()) }
    }
}
