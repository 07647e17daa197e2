// A VM's domain: its credentials, its copy-on-write disk, its XML, and starting it on a free
// loopback port.

import BootcCore
import Foundation
import Host
import Installer
import Libvirt

struct DomainStarter: Sendable {
    let context: PipelineContext
    let connection: any HypervisorConnection
    /// The host port the guest's SSH is forwarded from.
    var choosePort: @Sendable () throws -> Int = { try FreePort.loopback() }

    /// How many ports a start tries before giving up.
    static let portAttempts = 3

    /// Public credentials go into SMBIOS OEM strings (x86_64); secret ones, and all of them
    /// where there is no SMBIOS (aarch64 direct kernel boot), into fw_cfg files in the VM folder
    /// (named with `filePrefix`: a warm-start template's throwaway ones sit beside the VM's own).
    func deliver(_ credentials: [SystemdCredential], for record: VMRecord, filePrefix: String = "") throws -> CredentialDelivery {
        var delivery = CredentialDelivery()
        for credential in credentials {
            if credential.isSecret || record.architecture != .x86_64 {
                let file = filePrefix + credential.name
                try context.vms.writeCredential(record.id, name: file, value: credential.value)
                delivery.files.append(FirmwareCredentialFile(
                    name: credential.name, file: context.vms.credentialFile(record.id, name: file).path))
            } else {
                delivery.oemStrings.append(credential.oemString)
            }
        }
        return delivery
    }

    /// The VM's copy-on-write disk over the cached disk, which VMs never write. The host key
    /// survives a new overlay: the guest gets it from its credential at every boot.
    func createOverlay(for record: VMRecord, backingDisk: String, backingFormat: String = "raw") async throws {
        let overlay = context.vms.overlay(record.id).path
        try? FileManager.default.removeItem(atPath: overlay)
        try await context.runner.check(["qemu-img", "create", "-q", "-f", "qcow2", "-F", backingFormat, "-b", backingDisk, overlay])
    }

    /// Where libvirt finds the confining virtiofsd wrapper (VirtiofsdConfinement's copy of podman-bootc).
    var virtiofsdLink: URL {
        context.locations.root.appendingPathComponent("bin").appendingPathComponent(VirtiofsdConfinement.linkName)
    }

    /// Whether libvirt starts this VM's virtiofsd (root's VMs with folders, on this machine).
    func libvirtRunsVirtiofsd(for record: VMRecord) -> Bool {
        !(record.sharedFolders ?? []).isEmpty && SharedFolderDaemons.LocalDaemon(uri: connection.uri) == .system
    }

    /// Installs (or refreshes) the wrapper libvirt runs as virtiofsd, before a start of a VM that
    /// needs it. A URI that names neither local daemon for sure is refused: libvirt would run
    /// its own virtiofsd there, unconfined.
    func prepareVirtiofsd(for record: VMRecord) throws {
        guard !(record.sharedFolders ?? []).isEmpty else { return }
        // Another machine's libvirt runs its own virtiofsd, on its own folders.
        let remote: RemoteHost? = (try? RemoteHost.of(connection.uri)) ?? nil
        if remote != nil { return }
        guard let daemon = SharedFolderDaemons.LocalDaemon(uri: connection.uri) else {
            throw SharedFolderDaemonError.unknownDaemon(uri: connection.uri)
        }
        guard daemon == .system else { return }
        _ = try VirtiofsdConfinement.installWrapper(in: virtiofsdLink.deletingLastPathComponent())
    }

    /// A kept VM's stored definition, made to run its virtiofsd confined (it may date from a
    /// version without the confinement); nil when it does already, or has no folders.
    func confinedDefinition(_ xml: String, for record: VMRecord) -> String? {
        let binary = "<binary path='\(XMLText.escaped(virtiofsdLink.path))'/>"
        guard libvirtRunsVirtiofsd(for: record), xml.contains("type='virtiofs'"), !xml.contains(binary) else { return nil }
        var text = xml.replacingOccurrences(of: #"<binary\b[^>]*/>"#, with: "", options: .regularExpression)
        text = text.replacingOccurrences(of: #"(<driver type='virtiofs'[^>]*/>)"#, with: "$1\n      " + binary, options: .regularExpression)
        return text == xml ? nil : text
    }

    /// Starts the domain `spec` describes on a free loopback port; retries with another port
    /// when one was taken between choosing it and QEMU binding it. With `persistentSpec` (a
    /// restore), a kept VM's definition is the cold one: its next `start` boots its own disk.
    func start(_ record: inout VMRecord, persistentSpec: ((VMRecord) -> DomainSpec)? = nil,
               spec: (VMRecord) -> DomainSpec) async throws -> any VirtualMachineDomain {
        var attempt = 0
        let folderDaemons = SharedFolderDaemons.needed(for: record, uri: connection.uri) ? SharedFolderDaemons(context: context) : nil
        try prepareVirtiofsd(for: record)
        while true {
            attempt += 1
            record.sshPort = try choosePort()
            try context.vms.save(record)
            let xml = spec(record).render()
            context.logger.debug("domain XML", metadata: ["xml": "\(xml)"])
            // Before every attempt: a QEMU that failed to start took its daemons with it.
            try await folderDaemons?.start(for: record)
            do {
                return try await startOnce(xml: xml, persistentXML: persistentSpec?(record).render(), transient: record.removeOnExit)
            } catch let taken as HostPortTaken where attempt < Self.portAttempts {
                context.logger.debug("port \(record.sshPort) was taken; trying another", metadata: ["error": "\(taken)"])
                continue
            } catch {
                folderDaemons?.stop(for: record)
                throw error
            }
        }
    }

    private func startOnce(xml: String, persistentXML: String?, transient: Bool) async throws -> any VirtualMachineDomain {
        if transient { return try await connection.createTransient(xml: xml, autoDestroy: true) }
        if let persistentXML {
            let domain = try await connection.createTransient(xml: xml, autoDestroy: false)
            do { _ = try await connection.define(xml: persistentXML) } catch {
                try? await domain.remove()
                throw error
            }
            return domain
        }
        let domain = try await connection.define(xml: xml)
        do { try await domain.start() } catch {
            try? await domain.remove()
            throw error
        }
        return domain
    }

    func spec(_ record: VMRecord, manifest: CacheManifest, credentials: CredentialDelivery) -> DomainSpec {
        let vms = context.vms
        var spec = DomainSpec(
            name: record.domainName, uuid: record.uuid, architecture: record.architecture, accelerator: record.accelerator,
            cpus: record.cpus, memoryMiB: record.memoryMiB,
            kernel: manifest.artifacts.kernel, initrd: manifest.artifacts.initrd,
            // Each VM gets its name as hostname, so shells and logs say which VM they are.
            // `quiet`: every console byte is an emulated UART write, slow under TCG; warnings,
            // errors and failed units still reach the console log.
            kernelArguments: manifest.artifacts.kernelArguments + ["quiet", "systemd.hostname=\(record.name)"],
            nvram: vms.folder(record.id).appendingPathComponent("efivars.fd").path,
            disk: vms.overlay(record.id).path, consoleLog: vms.consoleLog(record.id).path,
            sshPort: record.sshPort, forwards: record.forwards ?? [], oemStrings: credentials.oemStrings,
            firmwareCredentials: credentials.files,
            cdrom: record.cloudInitSeed == true ? vms.cloudInitSeed(record.id).path : nil,
            metadata: [("id", record.id), ("image", record.image), ("image-id", record.imageID),
                       ("ssh-port", String(record.sshPort)), ("ssh-user", record.sshUser),
                       ("created", ISO8601DateFormatter().string(from: record.created))])
        spec.network = record.network ?? .user
        spec.secureBoot = record.secureBoot == true
        spec.tpm = record.tpm == true
        spec.qemuGuestAgent = spec.network == .none
        spec.sharedFolders = record.sharedFolders ?? []
        if SharedFolderDaemons.needed(for: record, uri: connection.uri) {
            spec.sharedFolderSockets = SharedFolderDaemons(context: context).sockets(for: record)
        } else if libvirtRunsVirtiofsd(for: record) {
            // libvirt's virtiofsd, confined as podman-bootc's own ones are (the wrapper is
            // installed before every start: `prepareVirtiofsd`).
            spec.virtiofsdBinary = virtiofsdLink.path
        }
        // libvirt creates the sockets (and hands them to QEMU); a path must fit a socket address.
        // A new one for every domain started: restores of one state must not share it.
        spec.generationID = UUID().uuidString.lowercased()
        return spec
    }
}
