// A VM booted for real from its cached disk. When a warm state is to be saved, the VM boots
// as a template with a throwaway identity (the state will hold that one, never the VM's own);
// a kept VM's libvirt definition names its own credentials from the start.

import BootcCore
import Foundation
import Installer
import Libvirt

struct ColdBoot: Sendable {
    let context: PipelineContext
    let domains: DomainStarter
    let manifest: CacheManifest
    let record: VMRecord
    let identity: VMIdentity
    let credentials: CredentialDelivery
    let remotePool: (any HostStoragePool)?
    let coldSpec: @Sendable (VMRecord, CredentialDelivery) -> DomainSpec

    func start(plan: WarmStartPlan, inputs: WarmStateInputs?) async throws -> LaunchedVM {
        if case .cold(let notice?) = plan { context.progress.notice(notice) }
        if let inputs { WarmStart(context: context).store.noteColdBoot(inputs) }
        var record = self.record
        let credentials = self.credentials
        let coldSpec = self.coldSpec
        var bootSpec: @Sendable (VMRecord) -> DomainSpec = { coldSpec($0, credentials) }
        var persistentSpec: (@Sendable (VMRecord) -> DomainSpec)?
        var pending: PendingWarmSave?
        if case .coldThenSave = plan, let inputs {
            let (template, templateCredentials) = try makeTemplate()
            bootSpec = { coldSpec($0, templateCredentials) }
            if !record.removeOnExit { persistentSpec = { coldSpec($0, credentials) } }
            let spec = bootSpec(record)
            pending = PendingWarmSave(inputs: inputs, kernelArguments: spec.kernelArguments, oemStrings: spec.oemStrings,
                                      hasNVRAM: spec.nvram != nil && spec.kernel == nil, template: template, identity: identity)
        }
        context.stages?.begin("boot")
        if remotePool == nil { try await domains.createOverlay(for: record, backingDisk: manifest.artifacts.disk) }
        context.progress.stage("Booting VM \(record.name) (\(record.accelerator == .kvm ? "KVM" : "software emulation"), \(record.cpus) CPUs, \(record.memoryMiB) MiB)")
        let domain = try await domains.start(&record, persistentSpec: persistentSpec, spec: bootSpec)
        let vms = context.vms
        return LaunchedVM(record: record, domain: domain, privateKey: vms.privateKey(record.id), consoleLog: vms.consoleLog(record.id),
                          pendingWarmSave: pending, remoteStorage: remotePool)
    }

    /// The throwaway identity a template boots with: keys in a private folder of the VM's,
    /// credentials in files beside the VM's own.
    private func makeTemplate() throws -> (TemplateLogin, CredentialDelivery) {
        var template = TemplateLogin(folder: context.vms.folder(record.id).appendingPathComponent("template-ssh"))
        try FileManager.default.createDirectory(at: template.folder, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let throwaway = try VMIdentity.make(name: record.name, user: identity.user, privateKey: template.privateKey,
                                            pinnedHostKey: template.pinnedHostKey, comment: "podman-bootc-template")
        let delivery = try domains.deliver(throwaway.credentials, for: record, filePrefix: "template.")
        template.credentialFiles = delivery.files.map { URL(fileURLWithPath: $0.file) }
        return (template, delivery)
    }
}
