// Warm start: the first VM of a (disk, VM shape) pair that answers SSH has its running state
// saved (WarmSave); later VMs of that pair restore it instead of booting (WarmRestore), each
// on its own copy-on-write overlay of the template's disk, and get their own identity
// (CloneIdentity). This is the component's front: the inputs a state depends on, the
// warm-or-cold plan, and discarding states.

import BootcCore
import Foundation
import Host
import Installer
import Libvirt

struct WarmStartError: ToolError {
    var reason: String
    var description: String { reason }
}

/// What the save step needs besides the VM: the template's own domain values, repeated by
/// every restored VM so QEMU loads the state into the very same machine, and the two
/// identities (the throwaway one the template booted with, the VM's own for after the save).
package struct PendingWarmSave: Sendable {
    var inputs: WarmStateInputs
    var kernelArguments: [String]
    var oemStrings: [String]
    var hasNVRAM: Bool
    var template: TemplateLogin
    var identity: VMIdentity
}

/// The throwaway keys a template boots with: the saved state holds these, never a kept VM's.
/// Its files go once the template has its own identity.
struct TemplateLogin: Sendable {
    var folder: URL
    var credentialFiles: [URL] = []
    var privateKey: URL { folder.appendingPathComponent("id_ed25519") }
    var pinnedHostKey: URL { folder.appendingPathComponent("host_key") }

    func login(for record: VMRecord) -> GuestLogin {
        GuestLogin(port: record.sshPort, user: "root", privateKey: privateKey, pinnedHostKey: pinnedHostKey, vmName: record.name)
    }
}

struct WarmStart: Sendable {
    let context: PipelineContext

    var store: WarmStateStore { WarmStateStore(cache: DiskCache(directory: context.locations.diskCache)) }

    func inputs(for record: VMRecord, diskKey: String, user: GuestUser, coldSpec: DomainSpec,
                connection: any HypervisorConnection) async throws -> WarmStateInputs {
        let versions = try await connection.versions()
        return WarmStateInputs(
            diskKey: diskKey, user: user.name, cpus: record.cpus, memoryMiB: record.memoryMiB,
            architecture: record.architecture, accelerator: record.accelerator, domainShapeXML: coldSpec.shapeXML,
            qemuVersion: versions.hypervisor, libvirtVersion: versions.library,
            // The saved guest runs this build's agent and identity script: others mean another state.
            toolVersion: ToolVersion.current + "+agent." + WarmStateInputs.digest(GuestAgent.startCommand + GuestAgent.script))
    }

    /// The facts of the cache for `inputs`: a stale state is removed here (a new one replaces
    /// it after this boot) and shows as one that existed.
    func cacheFacts(for inputs: WarmStateInputs, into facts: inout WarmStartFacts) {
        switch store.lookup(inputs) {
        case .ready(let state):
            facts.state = state
        case .none:
            break
        case .stale(let state, let reason):
            context.progress.notice("warm state \(state.key.prefix(12)) is stale (\(reason)); booting cold")
            discard(state)
            facts.stateExisted = true
        }
        facts.bootedBefore = store.hasColdBoot(inputs)
    }

    /// Removes a state, unless another process holds it (it is saving it anew). Its disk stays
    /// while VMs restored from it exist (`cache prune` removes it after them).
    func discard(_ state: WarmStateManifest) {
        guard let lock = try? store.lockIfAvailable(state.key, diskKey: state.inputs.diskKey) else { return }
        if context.vms.all().contains(where: { $0.warmState == state.key }) {
            try? store.retire(state)
        } else {
            try? store.remove(state)
        }
        withExtendedLifetime(lock) {}
    }

    /// The throwaway identity a template boots with: keys in a private folder of the VM's,
    /// credentials in files beside the VM's own.
    func makeTemplate(for record: VMRecord, user: GuestUser, domains: DomainStarter) throws -> (TemplateLogin, CredentialDelivery) {
        var template = TemplateLogin(folder: context.vms.folder(record.id).appendingPathComponent("template-ssh"))
        try FileManager.default.createDirectory(at: template.folder, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let throwaway = try VMIdentity.make(name: record.name, user: user, privateKey: template.privateKey,
                                            pinnedHostKey: template.pinnedHostKey, comment: "podman-bootc-template")
        let delivery = try domains.deliver(throwaway.credentials, for: record, filePrefix: "template.")
        template.credentialFiles = delivery.files.map { URL(fileURLWithPath: $0.file) }
        return (template, delivery)
    }

    static func copy(_ source: URL, to target: URL, mode: mode_t) throws {
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: source, to: target)
        chmod(target.path, mode)
    }

    /// The `<genid>` of a domain's live XML.
    static func generationID(inLiveXML xml: String) -> String? {
        guard let start = xml.range(of: "<genid>"), let end = xml.range(of: "</genid>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound]).lowercased()
    }
}
