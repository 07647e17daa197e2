// A VM booted for real from its cached disk. A warm-start template (always a `--rm` VM) boots
// with other, throwaway, credentials.

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

    /// Boots the VM with its own credentials, or with `bootCredentials` (a template's).
    func start(bootingWith bootCredentials: CredentialDelivery? = nil) async throws -> LaunchedVM {
        var record = self.record
        let coldSpec = self.coldSpec
        let booted = bootCredentials ?? credentials
        context.stages?.begin("boot")
        if remotePool == nil { try await domains.createOverlay(for: record, backingDisk: manifest.artifacts.disk) }
        context.progress.stage("Booting VM \(record.name) (\(record.accelerator == .kvm ? "KVM" : "software emulation"), \(record.cpus) CPUs, \(record.memoryMiB) MiB)")
        let domain = try await domains.start(&record) { coldSpec($0, booted) }
        let vms = context.vms
        return LaunchedVM(record: record, domain: domain, privateKey: vms.privateKey(record.id), consoleLog: vms.consoleLog(record.id),
                          remoteStorage: remotePool)
    }
}
