// --secure-boot for a direct-installed disk, which QEMU boots by loading its kernel (firmware
// never sees a boot loader): a copy of the cached disk with an EFI system partition holding the
// image's own Microsoft-signed shim, its signed GRUB and its signed kernel, made once and kept
// in the cache entry beside the disk. A bootc-installed disk carries its boot loader already.

import BootcCore
import Export
import Foundation
import Installer

struct SecureBootDisk: Sendable {
    let context: PipelineContext

    static let fileName = "secure-boot.raw"

    /// `manifest` as a firmware-booted disk with the signed chain (unchanged for a disk that
    /// boots through firmware already).
    func prepare(_ manifest: CacheManifest) async throws -> CacheManifest {
        let artifacts = manifest.artifacts
        guard artifacts.method == .directKernel else { return manifest }
        guard artifacts.signedShim != nil, artifacts.signedGrub != nil else {
            throw ExportError.noSignedBootChain(architecture: manifest.inputs.architecture)
        }
        let entry = URL(fileURLWithPath: artifacts.disk).deletingLastPathComponent()
        let disk = entry.appendingPathComponent(Self.fileName)
        if !FileManager.default.fileExists(atPath: disk.path) {
            context.progress.stage("Adding a Secure Boot boot loader chain (the image's signed shim and GRUB) to the disk")
            // Made aside and linked in: a run interrupted meanwhile leaves no half-made disk.
            let scratch = entry.appendingPathComponent(".secure-boot-\(getpid())")
            try? FileManager.default.removeItem(at: scratch)
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: scratch) }
            let made = scratch.appendingPathComponent(Self.fileName)
            try await BootableDiskWriter(runner: context.runner).writeRaw(
                from: artifacts, architecture: manifest.inputs.architecture, title: "podman-bootc", to: made, scratch: scratch, secureBoot: true)
            // Never replaces one another run made meanwhile (a VM may back onto it already).
            guard link(made.path, disk.path) == 0 || errno == EEXIST else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: disk.path])
            }
        }
        var secured = manifest
        secured.artifacts = BootArtifacts(method: .uefi, disk: disk.path, kernel: nil, initrd: nil, kernelArguments: artifacts.kernelArguments,
                                          selinux: artifacts.selinux)
        return secured
    }
}
