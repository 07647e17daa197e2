// The images in rootful podman storage that podman-bootc can boot (`images`).

import BootcCore
import Foundation
import Installer

package struct BootableImage: Codable, Sendable, Equatable {
    package var names: [String]
    package var id: String
    /// "bootc" (labelled containers.bootc=1) or "kernel" (has a kernel podman-bootc can boot).
    package var kind: String
    package var kernel: String?
    package var size: UInt64
    package var created: Date
}

package struct ImageCatalog: Sendable {
    package let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    package func bootableImages() async throws -> [BootableImage] {
        try context.requireRoot()
        var rows: [BootableImage] = []
        let mounts = MountLedger(folder: context.locations.diskCache.appendingPathComponent(".mounts"), podman: context.podman)
        for image in try await context.podman.images() {
            // Looking inside costs a mount (~0.05 s); unnamed intermediate images are skipped.
            guard let names = image.names, !names.isEmpty else { continue }
            let kernel = try? await mounts.withMountedImage(image.id) { root in KernelLocator.locate(in: root)?.version }
            guard image.isBootc || kernel != nil else { continue }
            rows.append(BootableImage(names: names, id: String(image.id.prefix(12)), kind: image.isBootc ? "bootc" : "kernel",
                                      kernel: kernel ?? nil, size: image.size ?? 0,
                                      created: Date(timeIntervalSince1970: TimeInterval(image.created ?? 0))))
        }
        return rows
    }
}
